"""Garbage collection for a long-running daphne process.

CPython's cyclic collector stops every thread of the process while it runs, and a full
(oldest-generation) collection walks every tracked object. A daphne process holding 750
sockets holds about a million of them, most made at startup (Django, the URL resolvers,
the templates) and never freed. The load test timed full collections of 270-400 ms every
3-5 s in the 1,500-user hold: every request and every delivery in flight waited for them.

`configure` freezes what startup made (`gc.freeze`: never scanned again, never freed,
which it would not have been anyway) and raises the youngest generation's threshold, so
short-lived objects (a request's, a frame's) are mostly freed by reference counting
before a collection promotes them toward the oldest generation. Cycles are still
collected, less often.
"""

from __future__ import annotations

import gc


def configure(threshold: int) -> None:
    """Freeze the objects that exist now and collect the youngest generation after
    `threshold` net allocations (CPython's default: 700). 0 leaves the collector as it
    is."""
    if threshold <= 0:
        return
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(threshold, middle, oldest)
