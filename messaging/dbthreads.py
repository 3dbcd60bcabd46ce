"""Where the sockets' database work runs.

`channels.db.database_sync_to_async` runs every call on one thread per process (Django's
"thread-sensitive" mode), so all sockets of a process queue behind each other's database
round trips: the load test found posts timing out at 500 users while the process used
under half a core. The sockets' work runs on a small pool of threads instead
(`MESSAGING_DB_THREADS`; by default 4 on PostgreSQL, so round trips overlap, and 1 on
SQLite, which allows one writer at a time), each with its own persistent connection,
kept between calls (requests do not keep theirs: see workspace/settings.py). Reconnecting
at every call cost SQLite about a third of a 10-member fan-out (bench/bench_fanout.py:
p50 78 -> 54 ms). The watcher's access refresh for all of a process's sockets has one
thread of its own (`in_db_thread(fn, own="ws-refresh")`): its answer is good for one
second, and queued behind the sockets' read batches it arrived too late to be used.
Nothing shares a transaction across calls, and ordering never depended
on the thread: seqs are assigned under a row lock in the database and each socket
delivers under its own asyncio lock.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import connection, connections

from workspace import runtime_metrics
from workspace.realtime import DOORBELL_LOOP

_lock = threading.Lock()
# {(name, size): pool}: the sockets' threads ("ws-db"), and the watcher's own thread
# ("ws-refresh"), so its access refresh never queues behind the sockets' batches.
_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}


def db_threads() -> int:
    configured = int(getattr(settings, "MESSAGING_DB_THREADS", 0) or 0)
    if configured > 0:
        return configured
    return 4 if connection.vendor == "postgresql" else 1


def _executor(size: int, name: str = "ws-db") -> ThreadPoolExecutor:
    with _lock:
        if (name, size) not in _pools:
            _pools[name, size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        return _pools[name, size]


def close_connections() -> None:
    """Close the connection each socket database thread keeps; each thread closes its own
    (a connection belongs to the thread that opened it). For test teardown: PostgreSQL
    will not drop the test database while they are open."""
    with _lock:
        pools = list(_pools.items())
    for (_name, size), pool in pools:
        # One task per thread: each waits at the barrier until all `size` are running.
        barrier = threading.Barrier(size)
        futures = [pool.submit(_close_own, barrier) for _ in range(size)]
        for future in futures:
            future.result(timeout=30)


def _close_own(barrier: threading.Barrier) -> None:
    barrier.wait(timeout=20)
    connections.close_all()


def _timed(
    pool: str, name: str, fn: Callable[..., Any], queued: float, *args: Any, **kwargs: Any
) -> Any:
    started = time.perf_counter()
    try:
        return _on_own_connection(fn, *args, **kwargs)
    finally:
        runtime_metrics.db_thread_call(pool, name, queued, started, time.perf_counter())


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


def in_db_thread(
    fn: Callable[..., Any], *, own: str | None = None
) -> Callable[..., Awaitable[Any]]:
    """Like `database_sync_to_async(fn)`, on the sockets' own threads; `own`: on a
    thread of that name of its own instead (one, with its own connection)."""
    call = SyncToAsync(
        functools.partial(_timed, own or "ws-db", getattr(fn, "__name__", "?"), fn),
        thread_sensitive=False,
        executor=_executor(db_threads()) if own is None else _executor(1, own),
    )

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        # Doorbells that `fn` sends after a commit go to this loop without waiting
        # (workspace.realtime.group_send_many). SyncToAsync runs `fn` in a copy of
        # this context.
        token = DOORBELL_LOOP.set(asyncio.get_running_loop())
        try:
            return await call(time.perf_counter(), *args, **kwargs)
        finally:
            DOORBELL_LOOP.reset(token)

    return run
