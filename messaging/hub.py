"""One channel-layer subscription per space and process, shared by the process's sockets.

Before, every socket joined its spaces' groups itself, so a doorbell to a space with N
sockets in a process was N channel-layer messages to receive: on Redis one pop per
process but then N wake-ups of N `receive` calls, each re-entering channels_redis's
receive (two tasks and a wait) and channels' dispatch; in memory, N deep copies and N
queues. The hub holds one channel per process (per event loop), joins a space's group
when the first local socket follows the space and leaves it with the last, and hands
each message to the local sockets of its space:

  * a doorbell only to the sockets that need it (`RealtimeConsumer.doorbell_needed`: not
    yet delivered, within their clearance, a TLP:RED recipient), each as a task running
    the socket's own `_catch_up`, the same path as before; the sockets of one doorbell
    still share one database read (messaging/batching.py);
  * typing and presence to every local socket of the space.

The channel layer stays a doorbell: a dropped message is caught up by the poll
(`_HeadWatcher`), as before. Group memberships expire (channels' `group_expiry`) and a
Redis restart forgets them, so the watcher renews the hub's groups at each access
re-check (`refresh`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from messaging.events import DOORBELL, PRESENCE, TYPING, space_group

if TYPE_CHECKING:
    from messaging.consumers import RealtimeConsumer

logger = logging.getLogger(__name__)

# How long the receive loop waits after a channel-layer error (Redis down) before trying
# again; the poll delivers meanwhile.
RETRY_SECONDS = 0.5


class SpaceHub:
    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SpaceHub] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        # space id -> local sockets. Weak: a consumer cancelled without its disconnect
        # (a shutdown) drops out by itself, and `refresh` then leaves the group.
        self.sockets: dict[int, weakref.WeakSet[RealtimeConsumer]] = {}
        self.subscribed: set[int] = set()  # spaces whose group holds self.channel
        # Per space: its adds and discards, in order. Kept once made (one small lock per
        # space the process ever followed): dropping one while a join waits on it would
        # let a new lock run beside it.
        self.group_locks: dict[int, asyncio.Lock] = {}
        self.task: asyncio.Task[None] | None = None
        self.running: set[asyncio.Task[Any]] = set()

    @classmethod
    def for_loop(cls, layer: Any) -> SpaceHub:
        loop = asyncio.get_running_loop()
        hub = cls._by_loop.get(loop)
        if hub is None or hub.layer is not layer:
            hub = cls._by_loop[loop] = cls(layer)
        return hub

    # --- membership -----------------------------------------------------------------

    async def join(self, space_id: int, socket: RealtimeConsumer) -> None:
        """Follow the space; when this returns, the process's channel is in its group.

        Only the first local socket of a space joins the group. Renewing it at every join
        (one Redis round trip each, in turn under the space's lock) queued a ramp's hellos
        for seconds in the load test; a Redis restart is noticed by the receive loop
        instead, which joins every group again (`_receive_loop`, `refresh`)."""
        self.sockets.setdefault(space_id, weakref.WeakSet()).add(socket)
        if self.channel is None:
            self.channel = await self.layer.new_channel()
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._receive_loop())
        await self._reconcile(space_id)

    async def leave(self, space_id: int, socket: RealtimeConsumer) -> None:
        members = self.sockets.get(space_id)
        if members is not None:
            members.discard(socket)
            if not members:
                del self.sockets[space_id]
        await self._reconcile(space_id)
        if not self.sockets and self.task is not None:
            self.task.cancel()  # nothing to receive for; the next join starts it again
            self.task = None

    async def leave_all(self, socket: RealtimeConsumer) -> None:
        """The socket is closing: leave every space it follows here (also one it joined
        in a hello that the close cut short, before its own list of spaces was set)."""
        for space_id in [sid for sid, members in self.sockets.items() if socket in members]:
            await self.leave(space_id, socket)

    async def _reconcile(self, space_id: int, *, renew: bool = False) -> None:
        """Make the group match whether a local socket follows the space. Under the
        space's own lock, so an add and a discard of one group never overtake each other
        (different spaces' calls run side by side: one lock for all of them queued a
        ramp's hellos behind each other's Redis round trips)."""
        lock = self.group_locks.setdefault(space_id, asyncio.Lock())
        async with lock:
            wanted = bool(self.sockets.get(space_id))
            if wanted and (renew or space_id not in self.subscribed) and self.channel:
                await self.layer.group_add(space_group(space_id), self.channel)
                self.subscribed.add(space_id)
            elif not wanted and space_id in self.subscribed and self.channel:
                self.subscribed.discard(space_id)
                await self.layer.group_discard(space_group(space_id), self.channel)

    async def refresh(self) -> None:
        """Add the channel to each followed space's group again: renews the membership's
        expiry and restores groups a Redis restart forgot (group_add is idempotent)."""
        for space_id in sorted(set(self.sockets) | self.subscribed):
            members = self.sockets.get(space_id)
            if members is not None and not members:  # its consumers went away uncleanly
                del self.sockets[space_id]
            await self._reconcile(space_id, renew=True)  # joins, or leaves an unused group

    # --- receiving ------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        failed = False
        while True:
            try:
                assert self.channel is not None
                if failed:  # the layer may have lost our groups (a Redis restart)
                    await self.refresh()
                    failed = False
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("realtime hub: channel layer failed; retrying", exc_info=True)
                failed = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                self.dispatch(message)
            except Exception:
                logger.exception("realtime hub: dispatch failed")

    def dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        sockets = [s for s in list(self.sockets.get(message.get("space_id"), ())) if not s.closed]
        if kind == DOORBELL:
            space_id, seq = message["space_id"], message["seq"]
            for socket in sockets:
                if socket.doorbell_needed(message):
                    self._start(socket._catch_up(space_id, upto=seq))
        elif kind == TYPING:
            for socket in sockets:
                self._start(socket.space_typing(message))
        elif kind == PRESENCE:
            for socket in sockets:
                self._start(socket.space_presence(message))
        else:
            logger.warning("realtime hub: unknown message type %r", kind)

    def _start(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("realtime hub: a socket's handler failed", exc_info=task.exception())
