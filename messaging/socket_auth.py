"""The WebSocket handshake's session and user lookup, batched on the sockets' database
threads.

Channels' `AuthMiddlewareStack` resolves `scope["user"]` with `database_sync_to_async`:
one shared thread per process, a new database connection per call, one handshake at a
time. The consumer then read the session and the user again, and the MFA check, in two
more trips. In the load test's ramp (hundreds of sockets connecting at once) handshakes
queued for seconds, past the clients' timeouts: py-spy found the socket database threads
spending 39 % of their time in `get_user` alone.

This stack reads, for all the handshakes that arrive within one batching window
(messaging/batching.py), the sessions in one query and the users with their MFA check in
another (`handlers.handshake_users`). It applies Channels' checks and the socket's own
session check (messaging/consumers.py `_session_valid`), so the consumer starts with a
checked session and knows the MFA answer: one database trip per batch instead of three
per socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser

from messaging import handlers
from messaging.batching import batched_group

# The scope key under which the handshake leaves its checks for the consumer:
# {"user": the user, "at": the event loop's time of the session check, "mfa": the MFA
# check: the user has an authenticator and this session passed its MFA step}.
HANDSHAKE_SCOPE_KEY = "workspace.handshake"


class SocketAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        session_key = scope["session"].session_key  # the cookie's value; nothing read yet
        user = None
        if session_key:
            user = await batched_group(handlers.handshake_users, None, session_key)
        if user is None:
            scope["user"]._wrapped = AnonymousUser()
            return
        mfa = bool(user.__dict__.pop(handlers.MFA_WITH_USER_ATTR, False))
        scope[HANDSHAKE_SCOPE_KEY] = {
            "user": user, "at": asyncio.get_running_loop().time(), "mfa": mfa
        }
        scope["user"]._wrapped = user


def SocketAuthMiddlewareStack(inner: Any) -> Any:  # noqa: N802 - as Channels names its stack
    return CookieMiddleware(SessionMiddleware(SocketAuthMiddleware(inner)))
