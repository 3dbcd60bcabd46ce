"""The session's MFA mark: this session passed an MFA step for the user it names.

Having an authenticator is not having used it: a session that came in by password alone
(through any route that skipped allauth's MFA stage) has no mark and sees no content
(workspace.middleware.RequireMFAMiddleware, networks.access, the socket's handshake).
The mark is set from allauth's own signals: an MFA step of a login or reauthentication
(TOTP, WebAuthn, recovery code), and the first enrolment right after a password login,
where the user has just proved the new TOTP code or security key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from allauth.account.signals import authentication_step_completed
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added
from django.dispatch import receiver

SESSION_MFA_KEY = "workspace_mfa"

# On a user object that acts for a session (a request's, a socket's): whether that
# session holds the mark. A user object without it acts for no session (a service's or
# a command's, judging another user) and is judged by its authenticators alone.
SESSION_MFA_ATTR = "_workspace_session_mfa"

# The authenticators whose use or enrolment marks the session (recovery codes are used
# at login, never enrolled on their own).
_ENROLMENT_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def session_mark_mfa(session: Any, *, user_id: Any, how: str) -> None:
    """Mark `session` as having passed an MFA step for `user_id`."""
    session[SESSION_MFA_KEY] = {"user_id": str(user_id), "how": how, "at": int(time.time())}


def session_passed_mfa(data: Mapping[str, Any], user_id: Any) -> bool:
    """The session data (a session, or its decoded data) holds the mark for `user_id`."""
    mark = data.get(SESSION_MFA_KEY)
    return isinstance(mark, Mapping) and mark.get("user_id") == str(user_id)


def user_session_passed_mfa(user: Any) -> bool:
    """For a user object that acts for a session: its session holds the mark; True for a
    user object that acts for none (see `SESSION_MFA_ATTR`)."""
    return bool(getattr(user, SESSION_MFA_ATTR, True))


@receiver(authentication_step_completed)
def on_authentication_step(sender: Any, request: Any, method: str, user: Any, **kw: Any) -> None:
    # allauth sends this once the step has passed: during login the user is not logged
    # in yet, and Django's login keeps the session data (it only cycles the key).
    if method == "mfa" and request is not None and hasattr(request, "session"):
        session_mark_mfa(request.session, user_id=user.pk, how=str(kw.get("type") or "mfa"))


@receiver(authenticator_added)
def on_authenticator_added(
    sender: Any, request: Any, user: Any, authenticator: Any, **kw: Any
) -> None:
    # allauth records no authentication step for an enrolment, yet the user has just
    # proved the new factor in this session. A session without the mark whose user
    # already has an authenticator never gets here: the middleware ends it first.
    current = getattr(request, "user", None)
    if (
        authenticator.type in _ENROLMENT_TYPES
        and current is not None
        and current.is_authenticated
        and current.pk == user.pk
        and hasattr(request, "session")
    ):
        session_mark_mfa(request.session, user_id=user.pk, how=f"enrolment:{authenticator.type}")
