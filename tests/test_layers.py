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
        "channels_redis.pubsub.RedisPubSubChannelLayer"
        if settings.REDIS_URL
        else "workspace.layers.SweepingInMemoryChannelLayer"
    )
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == expected
