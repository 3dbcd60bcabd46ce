"""TOTP helpers for the demo: set up an authenticator and compute the current code."""

from __future__ import annotations

import time

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)

from workspace.accounts.models import User


def totp_activate(*, user: User, secret: str | None = None) -> str:
    """Give `user` a TOTP authenticator (and recovery codes); returns the secret."""
    secret = secret or generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def totp_current_code(*, user: User, at: float | None = None) -> str:
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    secret = get_adapter().decrypt(authenticator.data["secret"])
    return totp_code_from_secret(secret, at=at)


def totp_code_from_secret(secret: str, *, at: float | None = None) -> str:
    counter = int(at if at is not None else time.time()) // mfa_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))
