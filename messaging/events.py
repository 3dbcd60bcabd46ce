"""Real-time doorbells: group names, event frames, and broadcasting after commit.

The channel layer is at-most-once (it drops messages for a full channel), so what it
carries is only a doorbell: "space S has reached seq N". Each socket then reads the
events it may see from the database. The doorbell also carries the event's labels, so a
socket that certainly cannot see it (its clearance is too low, or the event is TLP:RED
and it is not a recipient) need not query at all; it never *delivers* from the doorbell.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.db import transaction

from networks.clearance import level_name
from workspace.realtime import group_send_many

if TYPE_CHECKING:
    from messaging.models import Event

_GROUP_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")

# Channel-layer message types (the consumer's handler is the type with "." -> "_").
DOORBELL = "space.event"
TYPING = "space.typing"
PRESENCE = "space.presence"


def space_group(space_id: int) -> str:
    """The one place a space's group name is built."""
    name = f"space.{int(space_id)}"
    assert _GROUP_NAME_RE.fullmatch(name)
    return name


def encode(content: dict[str, Any]) -> str:
    """A frame as the socket sends it: compact JSON."""
    return json.dumps(content, separators=(",", ":"))


def event_frame(event: Event) -> dict[str, Any]:
    """The `event` frame a client receives; the same for replay and live delivery."""
    return {
        "type": "event",
        "space_id": event.space_id,
        "seq": event.seq,
        "kind": event.kind,
        "level": event.level,
        "level_name": level_name(event.level),
        "tlp": event.tlp,
        "data": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def doorbell(event: Event, recipient_ids: list[int]) -> dict[str, Any]:
    return {
        "type": DOORBELL,
        "space_id": event.space_id,
        "seq": event.seq,
        "level": event.level,
        "tlp": event.tlp,
        "author_id": event.author_id,
        "recipient_ids": recipient_ids,
        "sent_at": time.time(),
    }


def _group_send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:  # a layer outage never undoes a committed write: logged only
        group_send_many([(group, message)], layer=layer)


def broadcast_on_commit(event: Event, *, recipient_ids: list[int] | None = None) -> None:
    """After the current transaction commits, ring the space's doorbell for `event`."""
    message = doorbell(event, sorted(recipient_ids or []))
    group = space_group(event.space_id)
    transaction.on_commit(lambda: _group_send(group, message))


async def send_ephemeral(space_id: int, message: dict[str, Any]) -> None:
    """Typing and presence: channel layer only, never stored, never needed for correctness."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(space_group(space_id), message)
