"""The device cookie: a browser that completed MFA for an account keeps, for that account,
its own allowance of failed logins and MFA codes.

Without it, five failures from anyone lock an account's login and its MFA step for
everyone: a stranger who knows an address could keep its owner out. Clients without a
valid cookie for the account still share the per-account limit (allauth's
`login_failed`); a browser with one counts its failures under a key of its own
(`login_failed_device` in ACCOUNT_RATE_LIMITS), still limited, so a stolen cookie buys
no more guesses than the owner has.

The cookie is signed (salted, with its time of issue), HttpOnly, SameSite=Lax and Secure
where the session cookie is; it names a random device id and the accounts (at most
`MAX_ACCOUNTS`, most recent first) that completed MFA in this browser.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from allauth.core import ratelimit
from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.http import HttpRequest, HttpResponse

DEVICE_COOKIE_SALT = "workspace.accounts.devices.v1"
DEVICE_RATE_ACTION = "login_failed_device"
MAX_ACCOUNTS = 8
# A cookie is issued again (its age starts over) at most once this often.
REISSUE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Device:
    device_id: str
    user_ids: tuple[str, ...]
    issued_at: int


def device_of(request: HttpRequest) -> Device | None:
    """The browser's device cookie, if it holds a valid one."""
    value = request.COOKIES.get(settings.WORKSPACE_DEVICE_COOKIE_NAME)
    if not value:
        return None
    try:
        payload = signing.loads(
            value, salt=DEVICE_COOKIE_SALT, max_age=settings.WORKSPACE_DEVICE_COOKIE_AGE
        )
    except signing.BadSignature:  # tampered, expired, or signed with another key
        return None
    if not isinstance(payload, Mapping):
        return None
    device_id, user_ids, issued_at = payload.get("d"), payload.get("u"), payload.get("t")
    if (
        not isinstance(device_id, str)
        or not isinstance(user_ids, list)
        or not all(isinstance(u, str) for u in user_ids)
        or not isinstance(issued_at, int)
    ):
        return None
    return Device(device_id=device_id, user_ids=tuple(user_ids), issued_at=issued_at)


def device_rate_key(request: HttpRequest, *, user_id: Any) -> str | None:
    """The rate-limit key of this browser's own allowance for the account `user_id`, or
    None when it holds no valid device cookie for it (it then shares the account's)."""
    device = device_of(request)
    if device is None or str(user_id) not in device.user_ids:
        return None
    return f"device/{user_id}/{device.device_id}"


def device_rate_key_for_login(request: HttpRequest, *, email: str | None) -> str | None:
    """`device_rate_key` for the account a login form names by its email address. Only
    the cookie's own accounts are looked up: it says nothing about any other address."""
    device = device_of(request)
    if device is None or not email:
        return None
    from workspace.accounts.models import User

    user_id = (
        User.objects.filter(pk__in=[int(u) for u in device.user_ids if u.isdigit()])
        .filter(Q(email__iexact=email) | Q(emailaddress__email__iexact=email))
        .values_list("pk", flat=True)
        .first()
    )
    return None if user_id is None else device_rate_key(request, user_id=user_id)


def device_attempt(request: HttpRequest, *, key: str) -> bool:
    """Count one attempt against this browser's own allowance; False once it is spent."""
    return ratelimit.consume(request, action=DEVICE_RATE_ACTION, key=key)


def device_succeeded(request: HttpRequest, *, key: str) -> None:
    """The attempt was right: the browser's allowance starts over. Safe to wipe, unlike
    the shared or per-IP counts: only the holder of the cookie and the secret does it."""
    ratelimit.clear(request, action=DEVICE_RATE_ACTION, key=key)


def device_remember(request: HttpRequest, response: HttpResponse, *, user_id: Any) -> None:
    """Give the browser (or renew) its device cookie naming the account `user_id`."""
    device = device_of(request)
    now = int(time.time())
    if (
        device is not None
        and str(user_id) in device.user_ids
        and now - device.issued_at < REISSUE_SECONDS
    ):
        return
    device_id = device.device_id if device is not None else secrets.token_urlsafe(16)
    others = [u for u in (device.user_ids if device is not None else ()) if u != str(user_id)]
    payload = {"d": device_id, "u": [str(user_id), *others][:MAX_ACCOUNTS], "t": now}
    response.set_cookie(
        settings.WORKSPACE_DEVICE_COOKIE_NAME,
        signing.dumps(payload, salt=DEVICE_COOKIE_SALT),
        max_age=settings.WORKSPACE_DEVICE_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
