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
    """

    async def publish(self, channel: str, message: bytes) -> None:
        self._ensure_redis()
        await self._redis.publish(channel, message)

    async def subscribe(self, channel: str) -> None:
        if channel in self._subscribed_to:
            return
        await super().subscribe(channel)


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
