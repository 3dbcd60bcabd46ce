"""The watcher's pause between access refreshes (`messaging.consumers.refresh_pause`):
what rung delivery judges by must be renewed before it expires."""

from __future__ import annotations

import pytest

from messaging.consumers import refresh_pause


@pytest.mark.parametrize("took", [0.0, 0.01, 0.05, 0.1, 0.25, 0.4])
def test_the_refresh_pause_lands_the_next_answer_before_the_last_expires(took):
    """An answer is read as a refresh starts and lasts the interval; the next one lands a
    pause and a refresh later (refreshes taking about as long as the last one)."""
    pause = refresh_pause(1.0, took)
    assert took + pause + took <= 0.9 + 1e-9
    assert pause >= 0.05


def test_a_refresh_slower_than_the_interval_still_pauses():
    assert refresh_pause(1.0, 0.0) == pytest.approx(0.9)
    assert refresh_pause(1.0, 3.0) == pytest.approx(0.05)
    assert refresh_pause(2.0, 0.1) == pytest.approx(1.6)
