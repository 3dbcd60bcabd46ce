"""Real-time doorbells: group names, event frames, and broadcasting after commit.

The channel layer is at-most-once (it drops messages for a full channel), so what it
carries is only a doorbell: "space S has reached seq N". Each socket then reads the
events it may see from the database. The doorbell also carries the event's labels, so a
socket that certainly cannot see it (its clearance is too low, or the event is TLP:RED
and it is not a recipient) need not query at all.

A new message in an ordinary topic (not a note's discussion) also rings with its event
frame, encoded once from the stored row. A socket may send that text without a read only
when the database has told it, less than a second ago, both that its session holds and
what its membership is, and when the event is the very next seq after the last one it
examined (seqs are dense: nothing lies between). Everything else, and every gap, goes
through the read (messaging/consumers.py, `_rung`).
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


def doorbell(event: Event, recipient_ids: list[int], *, text: str | None = None) -> dict[str, Any]:
    message = {
        "type": DOORBELL,
        "space_id": event.space_id,
        "seq": event.seq,
        "level": event.level,
        "tlp": event.tlp,
        "author_id": event.author_id,
        "recipient_ids": recipient_ids,
        "sent_at": time.time(),
    }
    if text is not None:
        message["text"] = text
    return message


def _group_send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:  # a layer outage never undoes a committed write: logged only
        group_send_many([(group, message)], layer=layer)


def frame_text(event: Event) -> str:
    """The event's frame as sent, encoded once per event (kept on the object)."""
    text = getattr(event, "_frame_text", None)
    if text is None:
        text = event._frame_text = encode(event_frame(event))  # type: ignore[attr-defined]
    return text


def broadcast_on_commit(
    event: Event, *, recipient_ids: list[int] | None = None, with_frame: bool = False
) -> None:
    """After the current transaction commits, ring the space's doorbell for `event`.

    `with_frame`: the doorbell carries the event's frame text too. Only for an event whose
    visibility is its own labels alone (not in a note's discussion, whose note decides
    as well): a socket judges it in memory from the labels the doorbell carries.
    """
    text = frame_text(event) if with_frame else None
    message = doorbell(event, sorted(recipient_ids or []), text=text)
    group = space_group(event.space_id)
    transaction.on_commit(lambda: _group_send(group, message))


async def send_ephemeral(space_id: int, message: dict[str, Any]) -> None:
    """Typing and presence: channel layer only, never stored, never needed for correctness."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(space_group(space_id), message)
