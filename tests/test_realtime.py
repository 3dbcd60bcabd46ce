"""workspace.realtime.group_send_many: doorbells in one batch; from a socket's database
thread they are handed to the socket's loop without the thread waiting; failures are
logged, never raised."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from channels.layers import get_channel_layer

from messaging.dbthreads import in_db_thread
from workspace.realtime import group_send_many


class _SlowLayer:
    """Records sends; each takes `delay` seconds on the event loop."""

    def __init__(self, delay: float = 0.0, fail: set[str] | None = None) -> None:
        self.delay, self.fail = delay, fail or set()
        self.sent: list[tuple[str, dict]] = []
        self.threads: set[int] = set()

    async def group_send(self, group: str, message: dict) -> None:
        self.threads.add(threading.get_ident())
        await asyncio.sleep(self.delay)
        if group in self.fail:
            raise ConnectionError("layer down")
        self.sent.append((group, message))


@pytest.mark.asyncio
async def test_from_a_socket_thread_the_sends_do_not_hold_the_thread():
    layer = _SlowLayer(delay=0.3)
    messages = [(f"user.{i}", {"type": "notification.count"}) for i in range(20)]

    def send() -> float:
        t0 = time.monotonic()
        group_send_many(messages, layer=layer)
        return time.monotonic() - t0

    took = await in_db_thread(send)()
    assert took < 0.15  # 20 sends of 0.3 s each: not waited for, not sequential
    for _ in range(50):
        if len(layer.sent) == 20:
            break
        await asyncio.sleep(0.05)
    assert sorted(g for g, _ in layer.sent) == sorted(g for g, _ in messages)
    assert layer.threads == {threading.get_ident()}  # run on the socket's own loop


@pytest.mark.asyncio
async def test_from_a_view_behind_the_doorbell_middleware_the_sends_do_not_hold_the_view():
    """Django runs a view with `sync_to_async(thread_sensitive=True)`, on the one thread
    every view of the process shares; waiting there for the server's loop held up every
    page behind it."""
    from asgiref.sync import sync_to_async

    from workspace.realtime import DoorbellLoopMiddleware

    layer = _SlowLayer(delay=0.3)
    messages = [(f"user.{i}", {"type": "notification.count"}) for i in range(20)]
    took: list[float] = []

    def view() -> None:
        t0 = time.monotonic()
        group_send_many(messages, layer=layer)
        took.append(time.monotonic() - t0)

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        await sync_to_async(view, thread_sensitive=True)()

    await DoorbellLoopMiddleware(app)({"type": "http"}, None, None)
    assert took[0] < 0.15
    for _ in range(50):
        if len(layer.sent) == 20:
            break
        await asyncio.sleep(0.05)
    assert sorted(g for g, _ in layer.sent) == sorted(g for g, _ in messages)


def test_the_http_app_hands_view_doorbells_to_the_loop():
    from workspace.asgi import application
    from workspace.realtime import DoorbellLoopMiddleware

    app, chain = application.application_mapping["http"], []
    while app is not None:
        chain.append(type(app).__name__)
        app = getattr(app, "app", None) or getattr(app, "inner", None)
    assert DoorbellLoopMiddleware.__name__ in chain, chain


def test_from_synchronous_code_the_sends_are_done_before_returning():
    layer = _SlowLayer(delay=0.05)
    messages = [(f"user.{i}", {"type": "notification.count"}) for i in range(10)]
    group_send_many(messages, layer=layer)
    assert len(layer.sent) == 10


@pytest.mark.asyncio
async def test_a_failed_send_is_logged_and_the_others_still_go(caplog):
    layer = _SlowLayer(fail={"user.2"})
    messages = [(f"user.{i}", {"type": "x"}) for i in range(4)]
    with caplog.at_level(logging.WARNING, logger="workspace.realtime"):
        await in_db_thread(lambda: group_send_many(messages, layer=layer))()
        for _ in range(50):
            if len(layer.sent) == 3 and caplog.records:
                break
            await asyncio.sleep(0.02)
    assert sorted(g for g, _ in layer.sent) == ["user.0", "user.1", "user.3"]
    assert "doorbells not sent to 1 group(s), e.g. user.2" in caplog.text


def test_a_layer_that_raises_outright_is_logged_not_raised(caplog):
    class Broken:
        def group_send(self, group, message):
            raise RuntimeError("no layer")

    with caplog.at_level(logging.WARNING, logger="workspace.realtime"):
        group_send_many([("user.1", {"type": "x"})], layer=Broken())
    assert "doorbells not sent" in caplog.text


@pytest.mark.asyncio
async def test_the_real_layer_delivers_the_batch():
    layer = get_channel_layer()
    channels = [await layer.new_channel() for _ in range(3)]
    for i, name in enumerate(channels):
        await layer.group_add(f"user.{9000 + i}", name)
    await in_db_thread(
        lambda: group_send_many(
            [(f"user.{9000 + i}", {"type": "notification.count", "i": i}) for i in range(3)]
        )
    )()
    received = [await asyncio.wait_for(layer.receive(name), 2) for name in channels]
    assert [m["i"] for m in received] == [0, 1, 2]


def test_a_batch_holds_at_most_a_few_layer_connections_at_once():
    """Each send holds a pooled Redis connection; a pool that runs empty raises."""
    from workspace.realtime import SEND_CONCURRENCY

    class Counting(_SlowLayer):
        def __init__(self) -> None:
            super().__init__(delay=0.01)
            self.now = self.peak = 0

        async def group_send(self, group: str, message: dict) -> None:
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                await super().group_send(group, message)
            finally:
                self.now -= 1

    layer = Counting()
    group_send_many([(f"user.{i}", {"type": "x"}) for i in range(50)], layer=layer)
    assert len(layer.sent) == 50
    assert 1 < layer.peak <= SEND_CONCURRENCY


@pytest.mark.django_db(transaction=True)  # the change commits, and on_commit runs, in the view
def test_a_channel_layer_outage_does_not_fail_a_committed_membership_change(
    client, world, settings, caplog
):
    """#32: `notify_user_on_commit` raised the layer's ConnectionError out of on_commit,
    after the change and its audit event had committed: the moderator got a 500. It now
    logs, like every doorbell. A real Redis layer, pointed at a port nothing listens on."""
    from channels.layers import channel_layers

    from networks.models import Membership
    from workspace.audit.models import AuditEvent

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    channel_layers.backends.clear()
    try:
        target = Membership.objects.get(user=world["users"]["member_open"], space=world["space"])
        client.force_login(world["users"]["moderator"])
        with caplog.at_level(logging.WARNING, logger="workspace.realtime"):
            response = client.post(
                f"/spaces/{world['space'].pk}/members/{target.pk}/status/",
                {"status": "suspended"},
            )
        assert response.status_code == 302
        target.refresh_from_db()
        assert target.status == "suspended"
        assert AuditEvent.objects.filter(action="membership.suspended").exists()
        assert "doorbells not sent" in caplog.text
    finally:
        channel_layers.backends.clear()
