"""The WebSocket handshake's session and user lookup, on the sockets' database threads.

Channels' `AuthMiddlewareStack` resolves `scope["user"]` with `database_sync_to_async`.
Outside a request that runs on one shared thread per process, and it closes the database
connection after every call, so every handshake opened a new PostgreSQL connection, one
handshake at a time. In the load test's ramp (hundreds of sockets connecting at once)
handshakes queued for seconds, past the clients' timeouts. This stack does the same
lookup, with Channels' own function (session, backend, session-hash check, flush on a
mismatch), on `messaging.dbthreads` threads, which keep their connections.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware

from messaging.dbthreads import in_db_thread

# Channels' get_user without its database_sync_to_async wrapper.
_resolve_user = get_user.func


class SocketAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        scope["user"]._wrapped = await in_db_thread(_resolve_user)(scope)


def SocketAuthMiddlewareStack(inner: Any) -> Any:  # noqa: N802 - as Channels names its stack
    return CookieMiddleware(SessionMiddleware(SocketAuthMiddleware(inner)))
