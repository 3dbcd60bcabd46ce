"""Cross-cutting real-time doorbells: tell a user's open sockets that their rights changed.

`networks` calls this after a membership change; the messaging consumers (which join
the per-user group) close or re-subscribe. networks never imports messaging.
"""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_id: int) -> str:
    name = f"user.{int(user_id)}"
    assert re.fullmatch(r"[a-zA-Z0-9._-]+", name)
    return name


def notify_user_on_commit(user_id: int, *, reason: str, space_id: int | None = None) -> None:
    """After the current transaction commits, send `access.changed` to the user's sockets."""
    message: dict[str, Any] = {"type": "access.changed", "reason": reason, "space_id": space_id}

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(user_group(user_id), message)

    transaction.on_commit(send)
