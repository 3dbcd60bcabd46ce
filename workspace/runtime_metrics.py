"""Where a daphne process's time goes, as `/metrics` counters (workspace/metrics.py).

A server can be slow with no resource full: in the load test's failing holds daphne used
half a core while socket handlers waited for seconds. What they waited for was found with
timers patched in by hand: full garbage collections that stopped every thread, an event
loop that ran late, a database thread queue, an access refresh that fell behind. These
are those timers, kept, so the next diagnosis is a scrape (`bench/loadtest.py` prints
them for each step):

- `process_gc_pause_seconds_total{generation}`, `process_gc_collections_total{generation}`:
  the cyclic collector's pauses (every thread of the process stops for them);
- `event_loop_lag_seconds_total`, `event_loop_probes_total`, `event_loop_stalls_total`,
  `event_loop_long_stalls_total`: how late a callback scheduled every `PROBE_SECONDS`
  ran, and how often by more than `STALL_SECONDS` and `LONG_STALL_SECONDS`;
- `ws_handlers_total{type}`, `ws_handler_seconds_total{type}`, `ws_handlers_slow_total{type}`:
  the socket consumers' handlers by channel message type (`websocket.receive` for a
  client frame, `space.event` for a doorbell, ...), and those over `SLOW_HANDLER_SECONDS`:
  a consumer handles one message at a time, so its next one waited that long;
- `db_thread_wait_seconds_total{pool,fn}`, `db_thread_run_seconds_total{pool,fn}`,
  `db_thread_calls_total{pool,fn}`: the sockets' database threads (messaging/dbthreads.py),
  by the function called: time queued for a thread, time running, calls. The pool
  "ws-refresh" is the access refresh, one call per refresh;
- `http_request_wait_seconds_total`: time HTTP requests waited for a slot
  (workspace/asgi_limits.py).

Each costs a clock read and a counter update per event; the probe runs ten times a
second.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from typing import Any

from channels.routing import ProtocolTypeRouter

from workspace import metrics

PROBE_SECONDS = 0.1
STALL_SECONDS = 0.1
LONG_STALL_SECONDS = 1.0
SLOW_HANDLER_SECONDS = 1.0

_gc_started: list[float] = []
_probed_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


# The collector's pauses and runs by generation. Its callback runs inside whatever
# allocation set the collection off, in that thread, which may be holding metrics' lock
# (a scrape copying the series did, and the process hung for good): so the callback takes
# no lock; and it only replaces items of lists made up front, so a scrape it interrupts
# never sees one change size. Collections never overlap; a scrape reads these through a
# collector (metrics.register_collector).
_gc_pause_seconds = [0.0] * len(gc.get_threshold())
_gc_collections = [0] * len(gc.get_threshold())


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[:] = [time.perf_counter()]
    elif _gc_started:
        generation = info.get("generation", 0)
        _gc_pause_seconds[generation] += time.perf_counter() - _gc_started.pop()
        _gc_collections[generation] += 1


def _gc_series() -> metrics.Series:
    def by_generation(values: list[Any]) -> dict[metrics.LabelSet, float]:
        return {(("generation", str(g)),): v for g, v in enumerate(values)}

    return {
        "process_gc_pause_seconds_total": by_generation(_gc_pause_seconds),
        "process_gc_collections_total": by_generation(_gc_collections),
    }


def time_gc() -> None:
    """Time the collector's pauses (once per process; calling again changes nothing)."""
    metrics.register_collector(_gc_series)
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def probe_loop(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Measure how late `loop` (by default the running one) runs a callback due every
    `PROBE_SECONDS`, for as long as it runs; once per loop."""
    loop = loop or asyncio.get_running_loop()
    if loop in _probed_loops:
        return
    _probed_loops.add(loop)

    def tick(due: float) -> None:
        lag = max(0.0, loop.time() - due)
        metrics.inc("event_loop_lag_seconds_total", lag)
        metrics.inc("event_loop_probes_total")
        if lag > STALL_SECONDS:
            metrics.inc("event_loop_stalls_total")
        if lag > LONG_STALL_SECONDS:
            metrics.inc("event_loop_long_stalls_total")
        schedule()

    def schedule() -> None:
        due = loop.time() + PROBE_SECONDS
        loop.call_at(due, tick, due)

    schedule()


def db_thread_call(pool: str, fn: str, queued: float, started: float, ended: float) -> None:
    """One call of the function named `fn` on a database thread of `pool`: queued at
    `queued`, ran from `started` to `ended` (perf_counter seconds)."""
    metrics.inc("db_thread_calls_total", pool=pool, fn=fn)
    metrics.inc("db_thread_wait_seconds_total", max(0.0, started - queued), pool=pool, fn=fn)
    metrics.inc("db_thread_run_seconds_total", max(0.0, ended - started), pool=pool, fn=fn)


def handled(message_type: str, seconds: float) -> None:
    """A socket consumer handled one channel message (a frame, a doorbell, a ring) in
    `seconds`: its next message waited that long."""
    metrics.inc("ws_handlers_total", type=message_type)
    metrics.inc("ws_handler_seconds_total", seconds, type=message_type)
    if seconds > SLOW_HANDLER_SECONDS:
        metrics.inc("ws_handlers_slow_total", type=message_type)


class ProbedProtocolTypeRouter(ProtocolTypeRouter):
    """Channels' router that starts the event-loop probe on the server's loop at the
    first connection or request (daphne imports the application before its loop runs)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        probe_loop()
        return await super().__call__(scope, receive, send)
