"""Security middleware: extra headers, the absolute session timeout, and required MFA."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from workspace.accounts.receivers import SESSION_LOGIN_AT

GetResponse = Callable[[HttpRequest], HttpResponse]


class SecurityHeadersMiddleware:
    """Headers Django's SecurityMiddleware does not set (it sets nosniff, referrer, COOP)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.WORKSPACE_PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if request.user.is_authenticated if hasattr(request, "user") else False:
            # Pages behind login are private: never kept by shared or browser caches.
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class LoginRateLimitMiddleware:
    """Turns the failed-login limit into the same audited 429 as allauth's other limits."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from workspace.accounts.adapter import LoginRateLimited

        if isinstance(exception, LoginRateLimited):
            from workspace.views import too_many_requests

            return too_many_requests(request)
        return None


class SessionTimeoutMiddleware:
    """Ends a session older than WORKSPACE_SESSION_ABSOLUTE_TIMEOUT, however active.

    The idle timeout is Django's SESSION_COOKIE_AGE, pushed forward by activity
    (`SessionActivityMiddleware`).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            login_at = request.session.get(SESSION_LOGIN_AT)
            limit = settings.WORKSPACE_SESSION_ABSOLUTE_TIMEOUT
            if login_at is None or time.time() - login_at > limit:
                from workspace.audit.services import audit_record

                audit_record(
                    action="auth.session_expired",
                    actor=request.user,
                    request=request,
                    details={"reason": "absolute-timeout"},
                )
                logout(request)
                return redirect(reverse("account_login"))
        return self.get_response(request)


MFA_EXEMPT_URL_NAMES = (
    "account_logout",
    "account_reauthenticate",
    "mfa_index",
    "mfa_activate_totp",
    "mfa_reauthenticate",
    "mfa_authenticate",
    "mfa_add_webauthn",
    "mfa_signup_webauthn",
    "set_language",
)


class RequireMFAMiddleware:
    """A logged-in user without an authenticator can reach only MFA setup and logout; a
    session whose user has one but that never passed its MFA step is ended.

    Having an authenticator is not having used it: a session that came in by password
    alone, through whatever route skipped allauth's MFA stage, holds no MFA mark
    (workspace.accounts.mfa_session) and is logged out and sent to the login, on every
    path. The request's user object carries the session's answer for networks.access.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._exempt_paths: frozenset[str] | None = None

    def exempt_paths(self) -> frozenset[str]:
        if self._exempt_paths is None:
            from django.urls import NoReverseMatch

            paths = set()
            for name in MFA_EXEMPT_URL_NAMES:
                try:
                    paths.add(reverse(name))
                except NoReverseMatch:
                    continue
            self._exempt_paths = frozenset(paths)
        return self._exempt_paths

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not request.path.startswith(settings.STATIC_URL):
            refused = self._check(request)
            if refused is not None:
                return refused
        response = self.get_response(request)
        if not request.path.startswith(settings.STATIC_URL):
            _remember_device(request, response)
        return response

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        from networks.access import REQUEST_CACHE_ATTR
        from workspace.accounts.adapter import MFA_CHECKED_ATTR, user_has_mfa
        from workspace.accounts.mfa_session import SESSION_MFA_ATTR, session_passed_mfa

        user = request.user
        passed = session_passed_mfa(request.session, user.pk)
        setattr(user, SESSION_MFA_ATTR, passed)
        exempt = request.path_info in self.exempt_paths()
        if passed and exempt:
            return None  # MFA setup pages change the answer: nothing is kept there
        has_mfa = user_has_mfa(user)
        if has_mfa and not passed:
            from workspace.audit.services import audit_record

            audit_record(
                action="auth.mfa_missing",
                actor=user,
                request=request,
                details={"path": request.path[:200]},
            )
            logout(request)
            if request.headers.get("accept", "").startswith("application/json"):
                return HttpResponse(status=403)
            return redirect(reverse("account_login"))
        if exempt:
            return None
        if not has_mfa:
            if request.headers.get("accept", "").startswith("application/json"):
                return HttpResponse(status=403)
            return redirect(reverse("mfa_activate_totp"))
        # The authenticator and this session's MFA step, checked for this request.
        setattr(user, MFA_CHECKED_ATTR, True)
        # networks.access reads the user's memberships once for this request.
        setattr(user, REQUEST_CACHE_ATTR, {})
        return None


def _remember_device(request: HttpRequest, response: HttpResponse) -> None:
    """Once a session has passed MFA, its browser holds a device cookie for the account:
    its own allowance of failed logins (workspace.accounts.devices)."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or session is None or not user.is_authenticated:
        return
    from workspace.accounts.devices import device_remember
    from workspace.accounts.mfa_session import session_passed_mfa

    if session_passed_mfa(session, user.pk):
        device_remember(request, response, user_id=user.pk)


# The session key under which `SessionActivityMiddleware` keeps [when, client fingerprint].
SESSION_SEEN_KEY = "workspace_seen"


class SessionActivityMiddleware:
    """Activity keeps a session alive and is recorded for the user's session list; both
    at most once per `WORKSPACE_SESSION_ACTIVITY_SECONDS` for the same client.

    In place of allauth's `UserSessionsMiddleware` (which records every request) and
    Django's SESSION_SAVE_EVERY_REQUEST (which rewrites the session on every request):
    together they were two write transactions on every page, upload and history read. A
    request from another IP address or browser (user agent) than the last one recorded
    is recorded at once, so allauth's `session_client_changed` fires as before. The idle
    expiry then moves at most that many seconds late: a session ends that much sooner,
    never later. Sockets push it forward on their own (`messaging.handlers.session_touch`).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in and session is not None and session.session_key:
            self._seen(request, session, user)
        return self.get_response(request)

    def _seen(self, request: HttpRequest, session: Any, user: Any) -> None:
        from allauth.account.adapter import get_adapter
        from allauth.usersessions.internal import usersessionkit

        client = hashlib.sha256(
            "\0".join(
                [get_adapter().get_client_ip(request), request.META.get("HTTP_USER_AGENT", "")]
            ).encode()
        ).hexdigest()[:16]
        now = int(time.time())
        seen = session.get(SESSION_SEEN_KEY)
        if (
            isinstance(seen, list)
            and len(seen) == 2
            and seen[1] == client
            and 0 <= now - seen[0] < settings.WORKSPACE_SESSION_ACTIVITY_SECONDS
        ):
            return
        usersessionkit.track_activity(request, user=user, session=session)
        session[SESSION_SEEN_KEY] = [now, client]  # modified: saved, and its expiry moves
