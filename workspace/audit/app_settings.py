"""The audit app's settings and their defaults, in one place."""

from __future__ import annotations

from django.conf import settings


def checkpoint_every() -> int:
    """Write a signed checkpoint when seq reaches a multiple of this; 0 turns that off.

    WORKSPACE_AUDIT_CHECKPOINT_EVERY in the environment (workspace/settings.py).
    """
    return int(getattr(settings, "AUDIT_CHECKPOINT_EVERY", 1000))
