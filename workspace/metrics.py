"""In-process counters and gauges, rendered in the Prometheus text exposition format.

Each daphne process keeps its own numbers; Prometheus scrapes every process directly on
its loopback port (`/metrics`, loopback only) and sums them. Names the application uses:

- `http_requests_total{status="2xx"}`: HTTP responses by status class (RequestIdMiddleware);
- `healthz_failures_total{check="cache"}`: failed `/healthz` checks;
- `ws_connections_total`: WebSocket connections accepted;
- `ws_connections_open`: WebSocket connections open now (a gauge: `inc` on connect,
  `dec` on disconnect);
- `ws_events_delivered_total`: events sent to sockets (live and replayed);
- `ws_replays_total`: replays served after a `hello` with `resume`;
- `ws_resyncs_total`: `resync` frames sent because a replay was impossible;
- where the process's time goes (garbage collection, event-loop lag, the sockets'
  database threads, waits for a request slot): workspace/runtime_metrics.py.

A name ending in `_total` is a counter and only goes up; any other name is a gauge.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Bounds a label explosion (e.g. a label fed from user input): further series are dropped.
MAX_SERIES_PER_METRIC = 200

HELP: dict[str, str] = {
    "http_requests_total": "HTTP responses by status class.",
    "http_requests_shed_total": "Requests answered 503 after waiting too long for a slot.",
    "healthz_failures_total": "Failed /healthz checks, by check.",
    "ws_connections_total": "WebSocket connections accepted.",
    "ws_connections_open": "WebSocket connections open now.",
    "ws_events_delivered_total": "Events delivered to WebSocket connections.",
    "ws_replays_total": "Replays of missed events after a resume.",
    "ws_resyncs_total": "Resync frames sent when a replay was impossible.",
    # workspace/runtime_metrics.py
    "process_gc_pause_seconds_total": "Time every thread stood still for the cyclic collector.",
    "process_gc_collections_total": "Cyclic garbage collections, by generation.",
    "event_loop_lag_seconds_total": "How late the event loop ran the probe's callbacks, summed.",
    "event_loop_probes_total": "Event-loop probe callbacks run.",
    "event_loop_stalls_total": "Probe callbacks run more than 0.1 s late.",
    "event_loop_long_stalls_total": "Probe callbacks run more than 1 s late.",
    "ws_handlers_total": "Channel messages handled by socket consumers, by type.",
    "ws_handler_seconds_total": "Time socket consumers spent handling messages, by type.",
    "ws_handlers_slow_total": "Socket consumer handlers that took more than 1 s, by type.",
    "db_thread_calls_total": "Calls run on the sockets' database threads, by pool.",
    "db_thread_wait_seconds_total": "Time calls queued for a socket database thread, by pool.",
    "db_thread_run_seconds_total": "Time calls ran on a socket database thread, by pool.",
    "http_request_wait_seconds_total": "Time HTTP requests waited for a concurrency slot.",
}

LabelSet = tuple[tuple[str, str], ...]
Series = dict[str, dict[LabelSet, float]]

_lock = threading.Lock()
# Functions whose series are read at scrape time, outside `_lock`: for numbers kept where
# taking the lock could deadlock (the collector's callback, workspace/runtime_metrics.py).
_collectors: list[Callable[[], Series]] = []
_values: dict[str, dict[LabelSet, float]] = {}


def _is_counter(name: str) -> bool:
    return name.endswith("_total")


def _labelset(labels: dict[str, object]) -> LabelSet:
    for key in labels:
        if not _LABEL.match(key) or key.startswith("__"):
            raise ValueError(f"invalid label name {key!r}")
    return tuple(sorted((key, str(value)) for key, value in labels.items()))


@functools.lru_cache(maxsize=4096)
def _checked_key(name: str, labels: tuple[tuple[str, str], ...]) -> LabelSet:
    """The series key of `name{labels}`, once both are checked. Kept per name and labels:
    a socket handler counts every channel message it handles, and checking the same
    names again was most of the cost of counting."""
    if not _NAME.match(name):
        raise ValueError(f"invalid metric name {name!r}")
    return _labelset(dict(labels))


def inc(name: str, value: float = 1, **labels: object) -> None:
    """Add `value` to the series `name{labels}`; counters refuse a negative value."""
    key = _checked_key(name, tuple([(k, str(v)) for k, v in labels.items()]))
    if not math.isfinite(value) or (value < 0 and _is_counter(name)):
        raise ValueError(f"{name} cannot change by {value!r}")
    with _lock:
        series = _values.setdefault(name, {})
        if key not in series and len(series) >= MAX_SERIES_PER_METRIC:
            return
        series[key] = series.get(key, 0) + value


def dec(name: str, value: float = 1, **labels: object) -> None:
    """Subtract from a gauge (for example `ws_connections_open` on disconnect)."""
    inc(name, -value, **labels)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render() -> str:
    """All series in the Prometheus text format (version 0.0.4); known names appear at 0."""
    with _lock:
        snapshot = {name: dict(series) for name, series in _values.items()}
    for collect in _collectors:
        for name, series in collect().items():
            into = snapshot.setdefault(name, {})
            for labelset, value in series.items():
                into[labelset] = into.get(labelset, 0) + value
    lines: list[str] = []
    for name in sorted(set(snapshot) | set(HELP)):
        if name in HELP:
            lines.append(f"# HELP {name} {HELP[name]}")
        lines.append(f"# TYPE {name} {'counter' if _is_counter(name) else 'gauge'}")
        series = snapshot.get(name) or {(): 0}
        for labelset, value in sorted(series.items()):
            if labelset:
                inner = ",".join(f'{key}="{_escape(val)}"' for key, val in labelset)
                lines.append(f"{name}{{{inner}}} {_number(value)}")
            else:
                lines.append(f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def register_collector(collect: Callable[[], Series]) -> None:
    """Add `collect()`'s series to every scrape (once, however often it is registered)."""
    if collect not in _collectors:
        _collectors.append(collect)


def reset() -> None:
    """Forget every value (tests only)."""
    with _lock:
        _values.clear()
