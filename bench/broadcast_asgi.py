"""The Redis fan-out baseline: a bare Channels broadcast consumer on channels_redis.

    BROADCAST_REDIS_URL=redis://127.0.0.1:6379/1 \\
        daphne -b 127.0.0.1 -p 8101 bench.broadcast_asgi:application

Every WebSocket joins one group on connect; each text frame it receives is sent to that
group (`group_send`), so every connected socket, in every daphne process sharing the
Redis, gets it once. No auth, no sessions, no database.

`floor_application` is the same consumer plus the one thing a stored-before-sent event
cannot skip: a durable write to PostgreSQL (`BROADCAST_FLOOR_DATABASE_URL`), one row
inserted and committed before the broadcast, on one asyncio connection per process
(no thread hop, one round trip). What the workspace adds beyond this is its own cost.

`post_floor_application` adds the two things the design requires of every post on top of
that row, each done the cheapest way it can be: a read before the write (the frame's
session and access check, at least one indexed read of its own round trip, since the
answer decides whether to write) and the event's seq taken under its space row's lock
in the same statement and commit as the event row. Two round trips, no ORM, no thread
hop: the least any implementation of the design could pay for a post on this database.

The channel layer is configured like the workspace's (`workspace/settings.py`: the same
layer, socket_timeout 15); `BROADCAST_REDIS_URL=memory` gives the workspace's in-memory
layer instead, for one process. bench/bench_fanout_redis.py runs it behind
deploy/nginx.conf on two daphne processes (`--layer memory`: one).
"""

from __future__ import annotations

import os
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

GROUP = "bench.broadcast"


class BroadcastConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.channel_layer.group_send(GROUP, {"type": "broadcast", "text": text_data})

    async def broadcast(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["text"])

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)


class FloorConsumer(BroadcastConsumer):
    """The broadcast, after `write` has stored the frame."""

    @staticmethod
    async def write(text: str) -> None:
        await _durable_write(text)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.write(text_data)
            await self.channel_layer.group_send(GROUP, {"type": "broadcast", "text": text_data})


class PostFloorConsumer(FloorConsumer):
    @staticmethod
    async def write(text: str) -> None:
        await _checked_sequenced_write(text)


_floor: dict[str, Any] = {}


async def _connection(*setup: str) -> Any:
    """The process's one autocommit connection to BROADCAST_FLOOR_DATABASE_URL, made on
    first use with the `setup` statements (two sockets may ask at once: one makes it)."""
    import asyncio

    import psycopg

    if "lock" not in _floor:
        _floor["lock"] = asyncio.Lock()
    async with _floor["lock"]:
        if "conn" not in _floor:
            conn = await psycopg.AsyncConnection.connect(
                os.environ["BROADCAST_FLOOR_DATABASE_URL"], autocommit=True
            )
            for statement in setup:
                await conn.execute(statement)
            _floor["conn"] = conn
    return _floor["conn"]


async def _durable_write(text: str) -> None:
    """INSERT one row and commit it (autocommit: one round trip, with its WAL flush)."""
    conn = await _connection(
        "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, body text)")
    async with _floor["lock"]:  # one connection per process: one statement at a time
        await conn.execute("INSERT INTO bench_floor (body) VALUES (%s)", [text])


# The seq row's space, and the statement that numbers and stores an event under its lock.
_SPACE = 1
_SEQUENCED_INSERT = (
    "WITH s AS (UPDATE bench_floor_seq SET last_seq = last_seq + 1 WHERE space_id = %s"
    " RETURNING last_seq) INSERT INTO bench_floor_event (seq, body) SELECT last_seq, %s FROM s"
)


async def _checked_sequenced_write(text: str) -> None:
    """One indexed read, then the seq increment and the event row in one committed
    statement (autocommit: the UPDATE's row lock is held until that commit)."""
    conn = await _connection(
        "CREATE TABLE IF NOT EXISTS bench_floor_seq (space_id int PRIMARY KEY, last_seq bigint)",
        "INSERT INTO bench_floor_seq VALUES (1, 0) ON CONFLICT DO NOTHING",  # _SPACE
        "CREATE TABLE IF NOT EXISTS bench_floor_event"
        " (id bigserial PRIMARY KEY, seq bigint NOT NULL, body text)",
    )
    async with _floor["lock"]:
        cursor = await conn.execute(
            "SELECT last_seq FROM bench_floor_seq WHERE space_id = %s", [_SPACE])
        if await cursor.fetchone() is None:
            raise RuntimeError("bench_floor_seq has no row: the check refuses")
        await conn.execute(_SEQUENCED_INSERT, [_SPACE, text])


async def plain_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _configure() -> None:
    from django.conf import settings

    if settings.configured:
        return
    url = os.environ.get("BROADCAST_REDIS_URL", "")
    if url == "memory":
        # One process on the in-memory layer, as the workspace runs without REDIS_URL.
        layer = {"BACKEND": "workspace.layers.SweepingInMemoryChannelLayer"}
    elif url:
        layer = {
            "BACKEND": {
                "pubsub": "workspace.layers.PubSubChannelLayer",
                "lists": "channels_redis.core.RedisChannelLayer",
            }[os.environ.get("WORKSPACE_CHANNEL_LAYER", "pubsub")],
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15}]},
        }
    else:
        raise RuntimeError(
            "bench.broadcast_asgi needs BROADCAST_REDIS_URL (redis://host:port/db, or memory)"
        )
    settings.configure(
        ALLOWED_HOSTS=["*"], INSTALLED_APPS=[], SECRET_KEY="broadcast",  # noqa: S106 - no signing here
        CHANNEL_LAYERS={"default": layer},
    )


_configure()

def _application(consumer: type[BroadcastConsumer]) -> ProtocolTypeRouter:
    return ProtocolTypeRouter({
        "http": plain_http,
        "websocket": URLRouter([re_path(r"^.*$", consumer.as_asgi())]),
    })


application = _application(BroadcastConsumer)
floor_application = _application(FloorConsumer)
post_floor_application = _application(PostFloorConsumer)
