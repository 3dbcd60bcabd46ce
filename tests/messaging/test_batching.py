"""messaging/batching.py: how long a batch of the sockets' reads waits, per channel layer."""

import asyncio

import pytest

from messaging import batching
from messaging.app_settings import messaging_settings


@pytest.mark.parametrize(
    ("backend", "window"),
    [
        ("workspace.layers.SweepingInMemoryChannelLayer", 0.0),
        ("channels.layers.InMemoryChannelLayer", 0.0),
        ("channels_redis.core.RedisChannelLayer", 0.002),
        ("channels_redis.pubsub.RedisPubSubChannelLayer", 0.0),
        ("workspace.layers.PubSubChannelLayer", 0.0),
    ],
)
def test_the_window_follows_the_layer(settings, backend, window):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend}}
    assert messaging_settings().batch_window_seconds == window


def test_a_configured_window_wins(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.MESSAGING_BATCH_WINDOW_SECONDS = 0.01
    assert messaging_settings().batch_window_seconds == 0.01


@pytest.mark.django_db(transaction=True)
def test_calls_of_one_turn_share_a_batch_and_a_later_one_waits_for_the_next(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    batches: list[list[int]] = []

    def grouped(_key, items):
        batches.append(list(items))
        return [item * 10 for item in items]

    async def scenario():
        first = await asyncio.gather(*(batching.batched_group(grouped, "k", i) for i in range(5)))
        later = await batching.batched_group(grouped, "k", 9)
        return first, later

    first, later = asyncio.run(scenario())
    assert first == [0, 10, 20, 30, 40] and later == 90
    assert batches == [[0, 1, 2, 3, 4], [9]]
