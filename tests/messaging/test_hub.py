"""The process's space hub (messaging/hub.py): one channel-layer subscription per space
and process, handed out to the process's sockets, on the real layer of the run (in
memory, or Redis when REDIS_URL is set)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from messaging.events import space_group
from messaging.hub import SpaceHub
from tests.messaging.conftest import open_socket, post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _hub() -> SpaceHub:
    return SpaceHub._by_loop[asyncio.get_running_loop()]


async def _members(layer, group: str) -> set[str]:
    """The channels in `group`, read from the layer's own storage."""
    if hasattr(layer, "groups"):  # in memory
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))  # channels_redis
    return {m.decode() for m in await connection.zrange(layer._group_key(group), 0, -1)}


async def _forget(layer, group: str) -> None:
    """What a Redis restart does to a group: it is gone."""
    if hasattr(layer, "groups"):
        layer.groups.pop(group, None)
    else:
        await layer.connection(layer.consistent_hash(group)).delete(layer._group_key(group))


async def test_a_process_joins_a_space_group_once_whatever_its_sockets(room):
    layer = get_channel_layer()
    group = space_group(room["space"].pk)
    names = ["open", "restricted", "secret", "moderator"]
    sockets = [await open_socket(room["users"][who]) for who in names]
    hub = _hub()
    assert await _members(layer, group) == {hub.channel}  # one member, not four
    message = await database_sync_to_async(post)(room, "moderator", "to all", level=0)
    for sock in sockets:
        frame = await sock.until(lambda f: f["type"] == "event")
        assert frame["data"]["message"]["id"] == message.pk
    for sock in sockets[:-1]:
        await sock.close()
    await asyncio.sleep(0.05)
    assert await _members(layer, group) == {hub.channel}  # one socket still follows it
    await sockets[-1].close()
    await asyncio.sleep(0.05)
    assert hub.channel not in await _members(layer, group)  # the last one left: group left
    assert hub.task is None and hub.sockets == {}


async def test_a_doorbell_wakes_only_the_sockets_that_may_see_it(room, monkeypatch):
    """A level-2 event: the restricted member's socket (clearance 1) is not even woken;
    the others read it in one shared batch."""
    from messaging import consumers

    woken = []
    real = consumers.RealtimeConsumer._catch_up

    async def counting(self, space_id, upto=None):
        woken.append(self.user_id)
        return await real(self, space_id, upto)

    monkeypatch.setattr(consumers.RealtimeConsumer, "_catch_up", counting)
    users = room["users"]
    low = await open_socket(users["restricted"])
    high = await open_socket(users["secret"])
    await database_sync_to_async(post)(room, "moderator", "confidential", level=2)
    frame = await high.until(lambda f: f["type"] == "event")
    assert frame["level"] == 2
    assert not [f for f in await low.drain(0.3) if f["type"] == "event"]
    assert users["restricted"].pk not in woken and users["secret"].pk in woken
    await low.close()
    await high.close()


async def test_a_forgotten_group_is_restored_by_refresh(room):
    """Group memberships expire, and a Redis restart forgets them: the watcher's periodic
    refresh joins them again."""
    layer = get_channel_layer()
    group = space_group(room["space"].pk)
    first = await open_socket(room["users"]["open"])
    second = await open_socket(room["users"]["secret"])
    hub = _hub()
    await _forget(layer, group)
    assert await _members(layer, group) == set()
    await hub.refresh()
    assert await _members(layer, group) == {hub.channel}
    message = await database_sync_to_async(post)(room, "moderator", "after", level=0)
    for sock in (first, second):
        frame = await sock.until(lambda f: f["type"] == "event", timeout=1)
        assert frame["data"]["message"]["id"] == message.pk
    await first.close()
    await second.close()


async def test_after_a_layer_failure_the_hub_rejoins_its_groups(room, monkeypatch):
    """The receive fails (Redis went away) and the groups are gone when it comes back:
    the hub joins them again before receiving, and doorbells flow without the poll."""
    layer = get_channel_layer()
    group = space_group(room["space"].pk)
    sock = await open_socket(room["users"]["open"])
    hub = _hub()
    real_receive = layer.receive
    failures = []

    async def failing_once(channel):
        if not failures:
            failures.append(channel)
            await _forget(layer, group)
            raise ConnectionError("redis went away")
        return await real_receive(channel)

    monkeypatch.setattr(layer, "receive", failing_once)
    hub.task.cancel()  # restart the loop so that its next receive is the failing one
    hub.task = asyncio.ensure_future(hub._receive_loop())
    for _ in range(40):
        await asyncio.sleep(0.05)
        if failures and hub.channel in await _members(layer, group):
            break
    assert failures and await _members(layer, group) == {hub.channel}
    message = await database_sync_to_async(post)(room, "moderator", "back", level=0)
    frame = await sock.until(lambda f: f["type"] == "event", timeout=1)
    assert frame["data"]["message"]["id"] == message.pk
    await sock.close()


async def test_a_doorbell_during_ones_own_write_is_caught_up_right_after_it(
    room, settings, monkeypatch
):
    """While the author's write frame is still running, another member's post commits
    and rings. The author's socket holds that doorbell back, like its own (so its own
    event goes out straight from the write), and catches it up as soon as the write is
    done, not at the next poll."""
    from messaging import handlers

    settings.MESSAGING_POLL_SECONDS = 60  # no poll within the test
    real_post = handlers.post
    others = []

    def post_then_another(user, frame):
        result = real_post(user, frame)
        others.append(post(room, "secret", "meanwhile", level=0))
        return result

    monkeypatch.setattr(handlers, "post", post_then_another)
    sock = await open_socket(room["users"]["open"])
    reply = await sock.request({
        "type": "post", "client_id": str(uuid.uuid4()), "space_id": room["space"].pk,
        "topic_id": room["topic"].pk, "body": "mine", "level": 0, "tlp": "GREEN"})
    assert reply["type"] == "ack"
    await sock.drain(0.3)
    bodies = [(e["seq"], e["data"]["message"]["body"]) for e in sock.events()]
    assert bodies == [(reply["seq"], "mine"), (others[0].seq, "meanwhile")]
    await sock.close()


async def test_a_consumer_gone_without_its_disconnect_leaves_the_group_at_refresh(room):
    """A consumer cancelled before its disconnect ran (a shutdown) does not keep the
    process in the space's group: the hub holds sockets weakly and refresh leaves it."""
    import gc

    layer = get_channel_layer()
    group = space_group(room["space"].pk)
    sock = await open_socket(room["users"]["open"])
    hub = _hub()
    assert await _members(layer, group) == {hub.channel}
    sock.communicator.future.cancel()  # the app task dies; its disconnect never runs
    await asyncio.sleep(0.05)
    del sock
    gc.collect()
    await hub.refresh()
    assert hub.channel not in await _members(layer, group)
    assert room["space"].pk not in hub.sockets
