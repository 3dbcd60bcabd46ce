"""Messaging limits in one typed object; each may be overridden by a Django setting."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class MessagingSettings:
    max_frame_bytes: int
    max_body_chars: int
    frame_rate_per_second: float
    frame_burst: int
    user_writes_per_minute: int
    resync_gap: int
    poll_seconds: float
    session_check_seconds: float
    page_size: int
    batch_window_seconds: float


def messaging_settings() -> MessagingSettings:
    """Read at call time, so tests may override a setting with pytest-django's `settings`."""
    return MessagingSettings(
        max_frame_bytes=getattr(settings, "MESSAGING_MAX_FRAME_BYTES", 64 * 1024),
        max_body_chars=getattr(settings, "MESSAGING_MAX_BODY_CHARS", 20_000),
        frame_rate_per_second=getattr(settings, "MESSAGING_FRAME_RATE_PER_SECOND", 10.0),
        frame_burst=getattr(settings, "MESSAGING_FRAME_BURST", 40),
        user_writes_per_minute=getattr(settings, "MESSAGING_USER_WRITES_PER_MINUTE", 240),
        resync_gap=getattr(settings, "MESSAGING_RESYNC_GAP", 1000),
        poll_seconds=getattr(settings, "MESSAGING_POLL_SECONDS", 5.0),
        session_check_seconds=getattr(settings, "MESSAGING_SESSION_CHECK_SECONDS", 1.0),
        page_size=getattr(settings, "MESSAGING_PAGE_SIZE", 50),
        batch_window_seconds=_batch_window(),
    )


def _batch_window() -> float:
    """How long a database batch of the sockets' reads waits for more (messaging/batching).

    channels_redis's list layer hands a process its doorbells one pop per socket, so a
    doorbell's sockets arrive over a few milliseconds: 2 ms gathers them into few reads.
    An in-process layer, and the pub/sub layer (one message per process, handed to all
    its sockets at once), wake them all in one turn of the event loop: the batch then
    only waits that turn."""
    configured = getattr(settings, "MESSAGING_BATCH_WINDOW_SECONDS", None)
    if configured is not None:
        return float(configured)
    backend = str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))
    in_one_turn = ("workspace.layers.", "channels_redis.pubsub.", "channels.layers.InMemory")
    return 0.0 if backend.startswith(in_one_turn) else 0.002
