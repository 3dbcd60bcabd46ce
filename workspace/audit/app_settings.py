"""The audit app's settings and their defaults, in one place."""

from __future__ import annotations

from django.conf import settings


def checkpoint_every() -> int:
    """Write a signed checkpoint when seq reaches a multiple of this; 0 turns that off.

    Settings' AUDIT_CHECKPOINT_EVERY, 1000 by default: one signature (tens of
    microseconds) per thousand events. The exported ones (audit_checkpoint --out, from
    cron) are what an attacker with the database cannot take back.
    """
    return int(getattr(settings, "AUDIT_CHECKPOINT_EVERY", 1000))
