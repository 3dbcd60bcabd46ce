"""Chaos: concurrent writers at different clearances, readers that drop and resume, and a
channel layer of capacity 1 that drops doorbells. Each client's delivered list must equal
the database's visible list for it: same order, no gaps, no duplicates."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from messaging.models import Event
from networks.access import filter_visible
from networks.clearance import TLP
from tests.messaging.conftest import Socket, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SEED = int(os.environ.get("CHAOS_SEED", "20261129"))
POSTS_PER_WRITER = 12
CLEARANCE = {"open": 0, "restricted": 1, "confidential": 2, "secret": 3, "moderator": 3}


@pytest.fixture
def chaos_settings(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                    "CONFIG": {"capacity": 1}}
    }
    settings.MESSAGING_FRAME_BURST = 1000
    settings.MESSAGING_FRAME_RATE_PER_SECOND = 1000
    settings.MESSAGING_USER_WRITES_PER_MINUTE = 10_000
    settings.MESSAGING_POLL_SECONDS = 0.5
    return settings


class Reader:
    """One logical client: a socket that may drop and come back, resuming from what it got."""

    def __init__(self, who: str, user: Any, cookie: bytes, space_id: int) -> None:
        self.who, self.user, self.cookie, self.space_id = who, user, cookie, space_id
        self.delivered: list[int] = []
        self.sock: Socket | None = None
        self.reconnects = 0

    def _take(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            assert frame["type"] != "resync", frame
            if frame["type"] == "event" and frame["space_id"] == self.space_id:
                self.delivered.append(frame["seq"])

    async def connect(self) -> None:
        self.sock = Socket(self.cookie)
        assert await self.sock.connect()
        resume = {self.space_id: self.delivered[-1]} if self.delivered else {self.space_id: 0}
        before = len(self.sock.frames)
        await self.sock.hello(resume)
        self._take(self.sock.frames[before:])

    async def pump(self, seconds: float) -> None:
        assert self.sock is not None
        self._take(await _collect(self.sock, seconds))

    async def drop(self) -> None:
        assert self.sock is not None
        await self.sock.close()
        self.sock = None
        self.reconnects += 1

    async def finish(self) -> None:
        if self.sock is None:
            await self.connect()
        assert self.sock is not None
        before = len(self.sock.frames)
        await self.sock.request({"type": "sync"}, timeout=10)
        self._take(self.sock.frames[before:])
        self._take(await self.sock.drain(0.3))
        await self.sock.close()


async def _collect(sock: Socket, seconds: float) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    got = []
    while (remaining := deadline - loop.time()) > 0:
        frame = await sock.recv(remaining)
        if frame is not None:
            got.append(frame)
    return got


async def _writer(sock: Socket, room: dict, who: str, rng: random.Random) -> int:
    users = room["users"]
    acked = 0
    for i in range(POSTS_PER_WRITER):
        level = rng.randint(0, CLEARANCE[who])
        tlp = rng.choice([TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED])
        recipients = []
        if tlp == TLP.RED:
            cleared = [u for w, u in users.items() if w in CLEARANCE and w != who
                       and CLEARANCE[w] >= level]
            recipients = [u.pk for u in rng.sample(cleared, k=min(2, len(cleared)))]
        reply = await sock.request({
            "type": "post", "client_id": str(uuid.uuid4()), "space_id": room["space"].pk,
            "topic_id": room["topic"].pk, "body": f"{who} {i} L{level} {tlp}",
            "level": level, "tlp": tlp, "recipient_ids": recipients,
        }, timeout=10)
        assert reply["type"] == "ack", reply
        acked += 1
        await asyncio.sleep(rng.uniform(0, 0.03))
    return acked


def _visible_seqs(user: Any, space_id: int) -> list[int]:
    return list(
        filter_visible(Event.objects.filter(space_id=space_id), user)
        .order_by("seq").values_list("seq", flat=True)
    )


async def test_every_client_gets_exactly_its_visible_events_in_order(room, chaos_settings):
    rng = random.Random(SEED)
    users = room["users"]
    space_id = room["space"].pk
    cookies = {who: await database_sync_to_async(session_cookie)(users[who])
               for who in CLEARANCE}
    # Two logical readers per clearance; the writers are separate sockets of the same users.
    readers = [Reader(who, users[who], cookies[who], space_id)
               for who in CLEARANCE for _ in range(2)]
    for reader in readers:
        await reader.connect()
    writers = {}
    for who in ("open", "restricted", "confidential", "secret"):
        sock = Socket(cookies[who])
        assert await sock.connect()
        await sock.hello()
        writers[who] = sock

    writing = [asyncio.ensure_future(_writer(sock, room, who, random.Random(rng.random())))
               for who, sock in writers.items()]

    async def churn(reader: Reader, chaos: random.Random) -> None:
        while not all(task.done() for task in writing):
            await reader.pump(chaos.uniform(0.05, 0.4))
            if chaos.random() < 0.35:
                await reader.drop()
                await asyncio.sleep(chaos.uniform(0, 0.2))
                await reader.connect()

    await asyncio.gather(*(churn(r, random.Random(rng.random())) for r in readers))
    assert sum(task.result() for task in writing) == POSTS_PER_WRITER * len(writers)
    for reader in readers:
        await reader.finish()
    for sock in writers.values():
        await sock.close()

    assert sum(r.reconnects for r in readers) > 0
    for reader in readers:
        expected = await database_sync_to_async(_visible_seqs)(reader.user, space_id)
        assert reader.delivered == expected, (reader.who, SEED)
    # the clearances really differ: the secret reader saw strictly more than the open one
    by_who = {r.who: r.delivered for r in readers}
    assert len(by_who["open"]) < len(by_who["secret"])
