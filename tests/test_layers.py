"""workspace.layers.SweepingInMemoryChannelLayer: Channels' in-memory layer, whose
expiry sweep runs at most once per interval instead of on every receive."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings

from workspace.layers import SweepingInMemoryChannelLayer


async def _receive_or_none(layer, channel, timeout: float = 0.05):
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout)
    except TimeoutError:
        return None


@pytest.mark.asyncio
async def test_expired_messages_go_at_the_next_sweep_not_at_every_receive():
    # expiry=0: every message has expired as soon as it is queued.
    layer = SweepingInMemoryChannelLayer(expiry=0, sweep_seconds=0.3)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.send(channel, {"type": "a"})
    assert await _receive_or_none(layer, channel) is None  # the first sweep drops it
    assert channel not in layer.groups.get("g", {})  # and takes the channel out of "g"
    await layer.group_add("g", channel)
    await layer.send(channel, {"type": "b"})
    assert await _receive_or_none(layer, channel) == {"type": "b"}  # no sweep yet
    await asyncio.sleep(0.35)
    await layer.send(channel, {"type": "c"})
    assert await _receive_or_none(layer, channel) is None  # the interval passed: swept
    assert channel not in layer.groups.get("g", {})


@pytest.mark.asyncio
async def test_group_messages_arrive_as_with_channels_own_layer():
    layer = SweepingInMemoryChannelLayer()
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("space.1", channel)
    await layer.group_send("space.1", {"type": "space.event", "seq": 7})
    for channel in channels:
        assert await _receive_or_none(layer, channel) == {"type": "space.event", "seq": 7}
    await layer.group_discard("space.1", channels[0])
    await layer.group_send("space.1", {"type": "space.event", "seq": 8})
    assert await _receive_or_none(layer, channels[0]) is None
    assert await _receive_or_none(layer, channels[1]) == {"type": "space.event", "seq": 8}


def test_it_is_the_single_process_default():
    """Without REDIS_URL (one process) this layer; with it, channels_redis's pub/sub layer."""
    expected = (
        "workspace.layers.PubSubChannelLayer"
        if settings.REDIS_URL
        else "workspace.layers.SweepingInMemoryChannelLayer"
    )
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == expected


# --- workspace.layers.PubSubChannelLayer, on the real Redis at REDIS_URL ------------------


def _pubsub_layer():
    import os

    from workspace.layers import PubSubChannelLayer

    return PubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix="test-layers")


@pytest.mark.redis
@pytest.mark.asyncio
async def test_a_group_message_reaches_each_member_once_across_processes():
    """Two layers stand for two processes: each subscribes once per group and hands the
    message to its own channels."""
    here, there = _pubsub_layer(), _pubsub_layer()
    try:
        a = await here.new_channel()
        b, c = await there.new_channel(), await there.new_channel()
        for layer, channel in ((here, a), (there, b), (there, c)):
            await layer.group_add("space.9", channel)
        await here.group_send("space.9", {"type": "space.event", "seq": 1})
        assert await _receive_or_none(here, a, 2) == {"type": "space.event", "seq": 1}
        assert await _receive_or_none(there, b, 2) == {"type": "space.event", "seq": 1}
        assert await _receive_or_none(there, c, 2) == {"type": "space.event", "seq": 1}
        assert await _receive_or_none(there, b, 0.2) is None  # once, not once per member
        await there.group_discard("space.9", b)
        await there.group_send("space.9", {"type": "space.event", "seq": 2})
        assert await _receive_or_none(there, b, 0.3) is None
        assert await _receive_or_none(there, c, 2) == {"type": "space.event", "seq": 2}
        assert await _receive_or_none(here, a, 2) == {"type": "space.event", "seq": 2}
    finally:
        await here.flush()
        await there.flush()


@pytest.mark.redis
@pytest.mark.asyncio
async def test_publishing_and_rejoining_a_group_do_not_wait_for_the_shard_lock():
    """channels_redis's shard lock serialised every PUBLISH and every join; only a first
    subscription takes it now (and a join returns once Redis has confirmed it)."""
    layer = _pubsub_layer()
    try:
        first, second = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("space.7", first)
        shard = layer._get_layer()._shards[0]
        async with shard._lock:  # as if a slow SUBSCRIBE held it
            await asyncio.wait_for(layer.group_add("space.7", second), 1)
            await asyncio.wait_for(layer.group_send("space.7", {"type": "x", "n": 1}), 1)
            new_group = asyncio.ensure_future(layer.group_add("space.8", second))
            await asyncio.sleep(0.2)
            assert not new_group.done()  # a first subscription still waits its turn
        await asyncio.wait_for(new_group, 2)
        assert await _receive_or_none(layer, first, 2) == {"type": "x", "n": 1}
        assert await _receive_or_none(layer, second, 2) == {"type": "x", "n": 1}
    finally:
        await layer.flush()


@pytest.mark.redis
@pytest.mark.asyncio
async def test_first_subscriptions_asked_together_go_out_as_one_subscribe():
    """Sockets joining new groups while a SUBSCRIBE holds the lock share the next one; each
    join returns only once its channel is subscribed, and every group then gets its
    messages."""
    layer = _pubsub_layer()
    try:
        channels = [await layer.new_channel() for _ in range(30)]
        shard = layer._get_layer()._shards[0]
        sent: list[tuple[str, ...]] = []
        subscribe = shard._pubsub.subscribe

        async def counting(*names):  # the real call, counted
            sent.append(names)
            return await subscribe(*names)

        shard._pubsub.subscribe = counting
        async with shard._lock:  # as if a slow SUBSCRIBE held it
            joins = [
                asyncio.ensure_future(layer.group_add(f"space.{100 + i}", channel))
                for i, channel in enumerate(channels)
            ]
            await asyncio.sleep(0.1)
            assert not any(join.done() for join in joins)
        await asyncio.wait_for(asyncio.gather(*joins), 5)
        assert len(sent) == 1 and len(sent[0]) == 30
        for i in range(len(channels)):
            await layer.group_send(f"space.{100 + i}", {"type": "x", "n": i})
        for i, channel in enumerate(channels):
            assert await _receive_or_none(layer, channel, 2) == {"type": "x", "n": i}
    finally:
        await layer.flush()


@pytest.mark.redis
@pytest.mark.asyncio
async def test_a_join_abandoned_before_its_subscribe_leaves_no_subscription():
    """A socket that joins and leaves while its SUBSCRIBE waits: nothing is subscribed for
    it, and a cancelled waiter does not cancel the others' join."""
    import os

    import redis.asyncio as aioredis

    layer = _pubsub_layer()
    probe = aioredis.from_url(os.environ["REDIS_URL"])
    try:
        gone, staying = await layer.new_channel(), await layer.new_channel()
        shard = layer._get_layer()._shards[0]
        async with shard._lock:
            left = asyncio.ensure_future(layer.group_add("space.201", gone))
            cancelled = asyncio.ensure_future(layer.group_add("space.202", gone))
            kept = asyncio.ensure_future(layer.group_add("space.203", staying))
            await asyncio.sleep(0.05)
            # Leaves at once (its UNSUBSCRIBE, if any, would wait for the lock).
            discard = asyncio.ensure_future(layer.group_discard("space.201", gone))
            await asyncio.sleep(0.05)
            cancelled.cancel()
        await asyncio.wait_for(asyncio.gather(left, kept, discard), 5)
        names = {n.decode() for n in await probe.pubsub_channels("test-layers__group__*")}
        assert "test-layers__group__space.201" not in names
        assert "test-layers__group__space.203" in names
        await layer.group_send("space.203", {"type": "x"})
        assert await _receive_or_none(layer, staying, 2) == {"type": "x"}
    finally:
        await layer.flush()
        await probe.aclose()


@pytest.mark.redis
@pytest.mark.asyncio
async def test_a_failed_subscribe_fails_every_join_of_its_batch_and_the_next_one_retries():
    layer = _pubsub_layer()
    try:
        first, second = await layer.new_channel(), await layer.new_channel()
        shard = layer._get_layer()._shards[0]
        subscribe = shard._pubsub.subscribe

        async def refused(*names):  # Redis going away mid-command
            raise ConnectionError("Connection closed by server.")

        shard._pubsub.subscribe = refused
        async with shard._lock:
            joins = [
                asyncio.ensure_future(layer.group_add("space.301", first)),
                asyncio.ensure_future(layer.group_add("space.302", second)),
            ]
            await asyncio.sleep(0.05)
        results = await asyncio.wait_for(asyncio.gather(*joins, return_exceptions=True), 5)
        assert all(isinstance(r, ConnectionError) for r in results), results
        shard._pubsub.subscribe = subscribe
        await asyncio.wait_for(layer.group_add("space.301", first), 5)  # not remembered
        await layer.group_send("space.301", {"type": "x"})
        assert await _receive_or_none(layer, first, 2) == {"type": "x"}
    finally:
        await layer.flush()
