"""allauth adapters: invitation-only signup, and TOTP secrets encrypted at rest."""

from __future__ import annotations

import base64
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django import forms
from django.db.models import Exists
from django.http import HttpRequest
from django.utils.translation import gettext as _

from workspace.keys import get_key_provider
from workspace.realtime import notify_user_on_commit

MFA_SECRET_CONTEXT = b"workspace/mfa-secret/v1"
ENCRYPTED_PREFIX = "enc1:"

INVITATION_SESSION_KEY = "workspace_invitation_token"


class LoginRateLimited(Exception):
    """Too many failed logins; LoginRateLimitMiddleware answers 429 and audits it."""


class AccountAdapter(DefaultAccountAdapter):
    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """The failed-login limits: a browser holding a device cookie for the account has
        its own allowance (workspace.accounts.devices); any other client shares the
        account's (allauth's `login_failed`, per account and per IP)."""
        from workspace.accounts.devices import device_attempt, device_rate_key_for_login

        key = device_rate_key_for_login(request, email=credentials.get("email"))
        self.device_rate_key = key
        if key is not None:
            if not device_attempt(request, key=key):
                raise LoginRateLimited
            return
        # allauth reports this limit as a form error; we answer 429 like every other limit.
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError as exc:
            if exc.code == "too_many_login_attempts":
                raise LoginRateLimited from exc
            raise

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        from workspace.accounts.devices import device_succeeded

        user = super().authenticate(request, **credentials)
        key = getattr(self, "device_rate_key", None)
        if user is not None and key is not None:
            device_succeeded(request, key=key)
        return user

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Signup is open only while the session holds a valid invitation token."""
        from networks.invitations import InvitationInvalid, invitation_from_token

        token = request.session.get(INVITATION_SESSION_KEY)
        if not token:
            return False
        try:
            invitation_from_token(token)
        except InvitationInvalid:
            return False
        return True

    def clean_email(self, email: str) -> str:
        """During an invited signup, the email must be the invited address."""
        from networks.invitations import InvitationInvalid, invitation_from_token

        email = super().clean_email(email)
        request = getattr(self, "request", None)
        token = request.session.get(INVITATION_SESSION_KEY) if request is not None else None
        if token and request is not None and request.path.endswith("/signup/"):
            try:
                invitation = invitation_from_token(token)
            except InvitationInvalid:
                raise forms.ValidationError(_("This invitation is no longer valid.")) from None
            if invitation.email.lower() != email.lower():
                raise forms.ValidationError(
                    _("Please sign up with the address the invitation was sent to.")
                )
        return email

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        from networks.invitations import invitation_accept_by_token

        user = super().save_user(request, user, form, commit=commit)
        token = request.session.pop(INVITATION_SESSION_KEY, None)
        if commit and token:
            # Consumes the invitation in the signup transaction: single use.
            invitation_accept_by_token(token=token, acting_user=user, request=request)
        return user

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """The first authenticator right after login needs no second password prompt.

        The forced setup follows a password login; asking again adds friction, not
        security. Every later MFA change (and every email or password change) still
        requires reauthentication.
        """
        request = context.request
        user = getattr(request, "user", None)
        if app == "allauth.mfa" and user is not None and user.is_authenticated:
            if not user_has_mfa(user) or _just_enrolled(user):
                return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def get_client_ip(self, request: HttpRequest) -> str:
        try:
            return super().get_client_ip(request)
        except Exception:  # noqa: BLE001 - an unparsable header must not break login
            return "unknown"


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        blob = get_key_provider().wrap(text.encode(), context=MFA_SECRET_CONTEXT)
        return ENCRYPTED_PREFIX + base64.b64encode(blob).decode()

    def decrypt(self, encrypted_text: str) -> str:
        if not encrypted_text.startswith(ENCRYPTED_PREFIX):
            raise ValueError("MFA secret is not encrypted; refusing to use it.")
        blob = base64.b64decode(encrypted_text[len(ENCRYPTED_PREFIX) :])
        return get_key_provider().unwrap(blob, context=MFA_SECRET_CONTEXT).decode()

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """The last authenticator (TOTP or WebAuthn) cannot be removed: MFA is required."""
        if authenticator.type == Authenticator.Type.RECOVERY_CODES:
            return True
        others = Authenticator.objects.filter(
            user_id=authenticator.user_id, type__in=MFA_TYPES
        ).exclude(pk=authenticator.pk)
        return others.exists()


def _just_enrolled(user: Any) -> bool:
    """The first authenticator was set up moments ago (the onboarding flow goes on to the
    recovery codes); any later MFA change asks for the password again."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    first = (
        Authenticator.objects.filter(user_id=user.pk, type__in=MFA_TYPES)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    window = timedelta(seconds=settings.ACCOUNT_REAUTHENTICATION_TIMEOUT)
    return first is not None and first > timezone.now() - window


MFA_CHECKED_ATTR = "_workspace_has_mfa"
# The authenticators that count as MFA (recovery codes alone do not).
MFA_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def mfa_exists(user_ref: Any) -> Exists:
    """EXISTS (an MFA authenticator of the user `user_ref` points at), for a query that
    reads users or their rows: the same test as `user_has_mfa`, without its own query."""
    return Exists(Authenticator.objects.filter(user_id=user_ref, type__in=MFA_TYPES))


def user_has_mfa(user: Any) -> bool:
    """The user has a TOTP or WebAuthn authenticator.

    RequireMFAMiddleware stores its answer on the request's own user object (a fresh one
    per request), so the access checks of that request do not ask the database again;
    any other user object is checked in the database every time. Whether a session
    passed its MFA step is the other half of "MFA complete"
    (networks.access.user_has_completed_mfa, workspace.accounts.mfa_session).
    """
    checked = getattr(user, MFA_CHECKED_ATTR, None)
    if checked is not None:
        return bool(checked)
    return Authenticator.objects.filter(user_id=user.pk, type__in=MFA_TYPES).exists()


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions: Any) -> None:
        from workspace.audit.services import audit_record

        request = context.request
        for session in sessions:
            session.end()
            audit_record(
                action="auth.session_ended",
                actor=getattr(request, "user", None),
                request=request,
                details={"session_user_id": session.user_id, "session_ip": session.ip},
            )
            notify_user_on_commit(session.user_id, reason="session.ended")
