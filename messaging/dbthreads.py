"""Where the sockets' database work runs.

`channels.db.database_sync_to_async` runs every call on one thread per process (Django's
"thread-sensitive" mode), so all sockets of a process queue behind each other's database
round trips: the load test found posts timing out at 500 users while the process used
under half a core. On PostgreSQL the sockets' work runs on a small pool of threads
instead (`MESSAGING_DB_THREADS`, default 4), each with its own persistent connection, so
round trips overlap, and keep their connections between calls (requests do not: see
workspace/settings.py). Nothing shares a transaction across calls, and ordering never
depended on the thread: seqs are assigned under a row lock in the database and each
socket delivers under its own asyncio lock. SQLite keeps the single thread (one writer
at a time is all it allows).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, connections

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def db_threads() -> int:
    configured = int(getattr(settings, "MESSAGING_DB_THREADS", 0) or 0)
    if configured > 0:
        return configured
    return 4 if connection.vendor == "postgresql" else 1


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="ws-db")
        return _pool


def _on_own_connection(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn` on this pool thread's long-lived connection.

    Requests close their connection at the end (no persistent connections under ASGI);
    these few threads keep theirs between calls, so a socket's read does not pay a
    reconnect. A connection that failed (a database restart) is dropped, and the next
    call opens a new one.
    """
    try:
        return fn(*args, **kwargs)
    finally:
        for conn in connections.all(initialized_only=True):
            if conn.connection is None or conn.in_atomic_block:
                continue
            if conn.errors_occurred:
                if conn.is_usable():
                    conn.errors_occurred = False
                else:
                    conn.close()


def in_db_thread(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Like `database_sync_to_async(fn)`, on the pool when there is one."""
    size = db_threads()
    if size <= 1:
        return database_sync_to_async(fn)
    return SyncToAsync(
        functools.partial(_on_own_connection, fn),
        thread_sensitive=False,
        executor=_executor(size),
    )
