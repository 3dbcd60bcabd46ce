"""The channel layer of a single process (the laptop default; production uses Redis).

Channels' `InMemoryChannelLayer` sweeps for expired messages and group memberships on
every `receive` and `group_send`, walking every channel's queue and every membership of
every group. Each socket receives after every message, so a doorbell to N sockets costs
N full sweeps: py-spy put the sweep at about 40 % of the event loop in the 500-member
fan-out bench (bench/bench_fanout.py), where each socket is in two groups (its space's
and its user's).

This layer sweeps at most once per `sweep_seconds` (default 1 s). Nothing else changes:
a message still expires after `expiry`, at most `sweep_seconds` later than it would
have, and a channel with an expired message still leaves its groups at that sweep.
"""

from __future__ import annotations

import time
from typing import Any

from channels.layers import InMemoryChannelLayer


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, sweep_seconds: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sweep_seconds = float(sweep_seconds)
        self._swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self.sweep_seconds:
            return
        self._swept_at = now
        super()._clean_expired()
