"""workspace/runtime_metrics.py: the collector's pauses, the event loop's lag, the sockets'
database threads and the request slots' waits, as /metrics counters. Real clocks, a real
collector, a real event loop and the real thread pool; nothing mocked."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any

import pytest

from messaging.dbthreads import in_db_thread
from workspace import metrics, runtime_metrics
from workspace.asgi_limits import ConcurrencyLimitMiddleware


@pytest.fixture(autouse=True)
def _fresh_registry():
    metrics.reset()
    yield
    metrics.reset()


def _value(series: str) -> float:
    for line in metrics.render().splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_collectors_pauses_are_timed_by_generation():
    runtime_metrics.time_gc()
    runtime_metrics.time_gc()  # once per process, however often it is called
    assert gc.callbacks.count(runtime_metrics._on_gc) == 1
    # Enough cyclic garbage that a full collection takes measurable time.
    garbage = [[] for _ in range(50_000)]
    for item in garbage:
        item.append(item)
    del garbage, item
    gc.collect()
    assert _value('process_gc_collections_total{generation="2"}') >= 1
    assert _value('process_gc_pause_seconds_total{generation="2"}') > 0


def test_the_loop_probe_counts_lag_and_stalls(monkeypatch):
    monkeypatch.setattr(runtime_metrics, "LONG_STALL_SECONDS", 0.2)
    loop = asyncio.new_event_loop()
    try:
        runtime_metrics.probe_loop(loop)
        runtime_metrics.probe_loop(loop)  # once per loop

        async def work() -> None:
            await asyncio.sleep(0.35)  # a quiet loop: probes on time
            time.sleep(0.45)  # the loop blocked: the probe due in it runs late by > 0.2 s
            await asyncio.sleep(0.15)

        quiet_probes = None

        async def main() -> None:
            nonlocal quiet_probes
            await asyncio.sleep(0.32)
            quiet_probes = _value("event_loop_probes_total")
            await work()

        loop.run_until_complete(main())
    finally:
        loop.close()
    # One probe chain (a second call did not start another): about 3 in the first 0.32 s.
    assert 2 <= quiet_probes <= 4
    assert _value("event_loop_stalls_total") >= 1
    assert _value("event_loop_long_stalls_total") >= 1
    assert _value("event_loop_lag_seconds_total") >= 0.2


def test_db_thread_calls_count_their_queue_wait_and_run_time():
    def slow(seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    async def main() -> list[str]:
        # More calls than the pool has threads (1 on SQLite): the later ones queue.
        return await asyncio.gather(*(in_db_thread(slow)(0.05) for _ in range(3)))

    assert asyncio.run(main()) == ["done"] * 3
    assert _value('db_thread_calls_total{fn="slow",pool="ws-db"}') == 3
    assert _value('db_thread_run_seconds_total{fn="slow",pool="ws-db"}') >= 0.15
    assert _value('db_thread_wait_seconds_total{fn="slow",pool="ws-db"}') >= 0.1  # 0.05 + 0.1
    # A call that raises is counted too, and its error reaches the caller.

    def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        asyncio.run(in_db_thread(fails, own="ws-test")())
    assert _value('db_thread_calls_total{fn="fails",pool="ws-test"}') == 1


def test_request_slot_waits_are_counted(settings):
    settings.WORKSPACE_MAX_CONCURRENT_REQUESTS = 1
    settings.WORKSPACE_REQUEST_QUEUE_SECONDS = 5

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.1)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def request(app: Any) -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            return None

        await app({"type": "http", "path": "/", "method": "GET", "headers": []}, receive, send)

    app = ConcurrencyLimitMiddleware(inner)

    async def main() -> None:
        await asyncio.gather(request(app), request(app))

    asyncio.run(main())
    # The second request waited about the first's 0.1 s for the one slot.
    assert 0.08 <= _value("http_request_wait_seconds_total") < 1.0


def test_the_application_starts_the_probe_on_its_loop_and_times_the_collector():
    from workspace.asgi import application

    async def main() -> asyncio.AbstractEventLoop:
        async def nothing() -> dict:
            return {}

        # A scope type the router does not serve: refused, after the probe started.
        with pytest.raises(ValueError):
            await application({"type": "lifespan"}, nothing, nothing)
        await asyncio.sleep(0.25)
        return asyncio.get_running_loop()

    loop = asyncio.run(main())
    assert loop in runtime_metrics._probed_loops
    assert _value("event_loop_probes_total") >= 1
    assert runtime_metrics._on_gc in gc.callbacks


def test_consumer_handlers_are_counted_by_type_and_the_slow_ones_apart():
    runtime_metrics.handled("space.event", 0.004)
    runtime_metrics.handled("space.event", 1.5)
    runtime_metrics.handled("websocket.receive", 0.02)
    assert _value('ws_handlers_total{type="space.event"}') == 2
    assert _value('ws_handler_seconds_total{type="space.event"}') == pytest.approx(1.504)
    assert _value('ws_handlers_slow_total{type="space.event"}') == 1
    assert _value('ws_handlers_slow_total{type="websocket.receive"}') == 0


def test_a_collection_while_the_metrics_lock_is_held_does_not_hang():
    """The collector's callback runs inside whatever allocation set the collection off, in
    that thread. A scrape copying the series under metrics' lock set one off, the callback
    waited for that same lock, and the daphne process hung for good (CI, 2026-12-01)."""
    runtime_metrics.time_gc()
    done = threading.Event()

    def collect_holding_the_lock() -> None:
        with metrics._lock:
            gc.collect()
        done.set()

    threading.Thread(target=collect_holding_the_lock, daemon=True).start()
    assert done.wait(10), "a collection under the metrics lock deadlocked"
    assert _value('process_gc_collections_total{generation="2"}') >= 1
