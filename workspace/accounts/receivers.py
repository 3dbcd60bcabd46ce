"""Authentication events → audit log. Receivers only record; they change nothing."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import (
    email_added,
    email_changed,
    email_confirmed,
    email_removed,
    password_changed,
    password_reset,
    password_set,
    user_signed_up,
)
from allauth.mfa.signals import authentication_failed as mfa_failed
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from workspace.accounts.models import User
from workspace.audit.services import audit_record
from workspace.realtime import notify_user_on_commit

SESSION_LOGIN_AT = "workspace_login_at"


@receiver(user_logged_in)
def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_LOGIN_AT] = int(timezone.now().timestamp())
    audit_record(action="auth.login", actor=user, request=request)


@receiver(user_logged_out)
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.logout", actor=user, request=request)
    if user is not None:
        # Django flushes the session only after this signal: end it here, before the
        # notice, or a socket's re-check (the notice sets it off at once) may still find
        # it and stay open.
        session = getattr(request, "session", None)
        if session is not None and session.session_key:
            session.delete()
        # Each of the user's sockets re-checks its own session and closes if it has ended.
        notify_user_on_commit(user.pk, reason="session.ended")


@receiver(user_login_failed)
def on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # Django already masks password-like keys; keep only the identifier typed.
    identifier = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_record(action="auth.login_failed", request=request, details={"identifier": identifier})


@receiver(user_signed_up)
def on_signup(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.signup", actor=user, request=request)


@receiver(password_changed)
def on_password_changed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.password_changed", actor=user, request=request)
    notify_user_on_commit(user.pk, reason="session.ended")


@receiver(password_set)
def on_password_set(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.password_set", actor=user, request=request)


@receiver(password_reset)
def on_password_reset(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.password_reset", actor=user, request=request)
    notify_user_on_commit(user.pk, reason="session.ended")


@receiver(email_confirmed)
def on_email_confirmed(sender: Any, request: Any, email_address: Any, **kwargs: Any) -> None:
    audit_record(
        action="auth.email_confirmed",
        actor=email_address.user,
        request=request,
        details={"email": email_address.email},
    )


@receiver(email_added)
def on_email_added(sender: Any, request: Any, user: Any, email_address: Any, **kw: Any) -> None:
    audit_record(
        action="auth.email_added",
        actor=user,
        request=request,
        details={"email": email_address.email},
    )


@receiver(email_removed)
def on_email_removed(sender: Any, request: Any, user: Any, email_address: Any, **kw: Any) -> None:
    audit_record(
        action="auth.email_removed",
        actor=user,
        request=request,
        details={"email": email_address.email},
    )


@receiver(email_changed)
def on_email_changed(
    sender: Any,
    request: Any,
    user: Any,
    from_email_address: Any,
    to_email_address: Any,
    **kwargs: Any,
) -> None:
    audit_record(
        action="auth.email_changed",
        actor=user,
        request=request,
        details={
            "from": getattr(from_email_address, "email", None),
            "to": getattr(to_email_address, "email", None),
        },
    )


@receiver(authenticator_added)
def on_mfa_added(sender: Any, request: Any, user: Any, authenticator: Any, **kw: Any) -> None:
    audit_record(
        action="mfa.added", actor=user, request=request, details={"type": authenticator.type}
    )


@receiver(authenticator_removed)
def on_mfa_removed(sender: Any, request: Any, user: Any, authenticator: Any, **kw: Any) -> None:
    audit_record(
        action="mfa.removed", actor=user, request=request, details={"type": authenticator.type}
    )


@receiver(authenticator_reset)
def on_mfa_reset(sender: Any, request: Any, user: Any, authenticator: Any, **kw: Any) -> None:
    audit_record(
        action="mfa.reset", actor=user, request=request, details={"type": authenticator.type}
    )


@receiver(mfa_failed)
def on_mfa_failed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="mfa.failed", actor=user, request=request)


@receiver(post_save, sender=User)
def on_user_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        notify_user_on_commit(instance.pk, reason="account.disabled")
