"""Cross-cutting real-time doorbells: tell a user's open sockets that their rights changed.

`networks` calls this after a membership change; the messaging consumers (which join
the per-user group) close or re-subscribe. networks never imports messaging.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    name = f"user.{int(user_id)}"
    assert re.fullmatch(r"[a-zA-Z0-9._-]+", name)
    return name


# The server's event loop, in code it runs on a thread: a socket's database thread
# (messaging.dbthreads) or a request's view (`DoorbellLoopMiddleware`). Doorbells sent
# from there are handed to that loop without waiting for them.
DOORBELL_LOOP: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "doorbell_loop", default=None
)
_in_flight: set[concurrent.futures.Future[None]] = set()
SEND_CONCURRENCY = 8  # sends of one batch in flight at once


def group_send_many(messages: Iterable[tuple[str, dict[str, Any]]], *, layer: Any = None) -> None:
    """Send channel-layer doorbells from synchronous code: in one batch, concurrently.

    A failed send is logged, never raised: the write it announces has committed, and
    sockets also poll the database. From a thread the server's loop runs code on
    (`DOORBELL_LOOP`: a socket's database thread, a request's view) the batch is handed
    to that loop and the thread goes on: the writer's ack does not wait for other users'
    doorbells, and a page does not wait for its unread-count rings (each waited for a
    turn of a loop busy with the process's sockets, holding the request's thread and its
    `ConcurrencyLimitMiddleware` slot). Anywhere else (a command, a test client) it is
    sent before returning. One `async_to_sync` per message cost a post in a 50-member
    space about 50 hops to the loop and 50 sequential Redis round trips (the unread
    count rings), all inside the writer's wait for its ack.
    """
    batch = list(messages)
    layer = layer if layer is not None else get_channel_layer()
    if layer is None or not batch:
        return

    async def send_all() -> None:
        # Concurrent, but not all at once: each send holds one of the layer's pooled
        # Redis connections, and the pool refuses (MaxConnectionsError) when it is empty.
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def send(group: str, message: dict[str, Any]) -> None:
            async with gate:
                await layer.group_send(group, message)

        results = await asyncio.gather(
            *(send(group, message) for group, message in batch), return_exceptions=True
        )
        failed = [group for (group, _), r in zip(batch, results, strict=True) if r is not None]
        if failed:
            logger.warning("doorbells not sent to %d group(s), e.g. %s", len(failed), failed[0])

    loop = DOORBELL_LOOP.get()
    if loop is not None and loop.is_running() and not _on_loop_thread(loop):
        future = asyncio.run_coroutine_threadsafe(send_all(), loop)
        _in_flight.add(future)
        future.add_done_callback(_in_flight.discard)
        return
    try:
        async_to_sync(send_all)()
    except Exception:  # noqa: BLE001 - a layer outage must never undo a committed write
        logger.warning("doorbells not sent to %d group(s)", len(batch), exc_info=True)


class DoorbellLoopMiddleware:
    """ASGI middleware: the request's code, views included (which Django runs on a thread
    in a copy of this context), hands its doorbells to this loop (`group_send_many`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        token = DOORBELL_LOOP.set(asyncio.get_running_loop())
        try:
            return await self.app(scope, receive, send)
        finally:
            DOORBELL_LOOP.reset(token)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def notify_user_on_commit(user_id: int, *, reason: str, space_id: int | None = None) -> None:
    """After the current transaction commits, send `access.changed` to the user's sockets.

    Like every doorbell, a failed send is logged, not raised: the change and its audit
    event have committed, and an outage of the channel layer must not turn that into an
    error page (sockets also re-check access on every frame)."""
    message: dict[str, Any] = {"type": "access.changed", "reason": reason, "space_id": space_id}
    transaction.on_commit(lambda: group_send_many([(user_group(user_id), message)]))
