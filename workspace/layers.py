"""Channel layers: the single-process default, and the pub/sub layer on Redis.

The single process's layer (the laptop default; production uses Redis):

Channels' `InMemoryChannelLayer` sweeps for expired messages and group memberships on
every `receive` and `group_send`, walking every channel's queue and every membership of
every group. Each socket receives after every message, so a doorbell to N sockets costs
N full sweeps: py-spy put the sweep at about 40 % of the event loop in the 500-member
fan-out bench (bench/bench_fanout.py), where each socket is in two groups (its space's
and its user's).

This layer sweeps at most once per `sweep_seconds` (default 1 s). Nothing else changes:
a message still expires after `expiry`, at most `sweep_seconds` later than it would
have, and a channel with an expired message still leaves its groups at that sweep.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, sweep_seconds: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sweep_seconds = float(sweep_seconds)
        self._swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.sweep_seconds:
            return
        self._swept_at = now
        super()._clean_expired()


class _Shard(RedisSingleShardConnection):
    """channels_redis's connection to one Redis, without its lock where it is not needed.

    Its one asyncio lock covered every PUBLISH as well as every SUBSCRIBE: a process's
    doorbells, presence frames and count rings went out one round trip after another,
    and a socket's hello (joining groups the process had long joined) queued behind
    them. A PUBLISH goes through redis-py's connection pool, which gives concurrent
    commands their own connections; joining a group this process has joined already
    needs no Redis call. A first subscription still takes the lock, and returns once
    its SUBSCRIBE is sent, as before: a hello joins its groups before it reads the heads,
    and a doorbell that still slips between the two is caught by the 5-s poll.

    Subscriptions asked for while one SUBSCRIBE waits for the lock go out together, as one
    SUBSCRIBE with all their channels. Taken one at a time, each needed its own turn of the
    event loop under the lock, and a loaded loop turns slowly: in the load test's ramp a
    new socket's two subscriptions (its own channel and its user's group) queued for
    seconds, and its hello with them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch: list[str] = []  # channels waiting for the next SUBSCRIBE
        self._batch_sent: asyncio.Future[None] | None = None
        self._batcher: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: bytes) -> None:
        self._ensure_redis()
        await self._redis.publish(channel, message)

    async def subscribe(self, channel: str) -> None:
        if channel in self._subscribed_to:
            return
        if self._batch_sent is None:
            loop = asyncio.get_running_loop()
            self._batch_sent = loop.create_future()
            self._batcher = loop.create_task(self._subscribe_batch())
        self._batch.append(channel)
        # Shielded: a socket that goes away while waiting does not cancel the others' join.
        await asyncio.shield(self._batch_sent)

    async def _subscribe_batch(self) -> None:
        async with self._lock:
            batch, sent = self._batch, self._batch_sent
            self._batch, self._batch_sent, self._batcher = [], None, None
            assert sent is not None
            # Only what is still wanted: a socket that left meanwhile has been taken out
            # of `channels` and `groups`, and its unsubscribe found nothing to undo.
            layer = self.channel_layer
            wanted = [
                c
                for c in dict.fromkeys(batch)
                if c not in self._subscribed_to and (c in layer.channels or c in layer.groups)
            ]
            try:
                if wanted:
                    self._ensure_redis()
                    self._ensure_receiver()
                    await self._pubsub.subscribe(*wanted)
                    self._subscribed_to.update(wanted)
            except BaseException as exc:
                if not sent.done():
                    sent.set_exception(exc if isinstance(exc, Exception) else ConnectionError())
                    sent.exception()  # retrieved here too: its waiters may all be gone
                if not isinstance(exc, Exception):
                    raise  # cancelled (a flush): this task ends as cancelled
                return  # the waiting joins have the error; nobody awaits this task
            if not sent.done():
                sent.set_result(None)

    async def flush(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
        if self._batch_sent is not None and not self._batch_sent.done():
            self._batch_sent.set_exception(ConnectionError("the channel layer was flushed"))
            self._batch_sent.exception()
        self._batch, self._batch_sent, self._batcher = [], None, None
        await super().flush()


class _PubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]


class PubSubChannelLayer(RedisPubSubChannelLayer):
    """channels_redis's pub/sub layer (one subscription per group and process; a message
    reaches all of a group's sockets in the process in one turn of the event loop),
    with the shard connection above. `workspace/settings.py` uses it with REDIS_URL."""

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _PubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)  # flushed when the loop closes, as channels_redis does
        return layer
