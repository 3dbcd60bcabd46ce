"""The bell's live count: the real consumer, the real in-memory channel layer, after commit."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from networks.models import MembershipStatus
from networks.services import membership_set_status
from tests.messaging.conftest import Socket, open_socket, post, session_cookie
from workspace.notifications import services
from workspace.notifications.models import Notification

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def at(user) -> str:
    return f"@**{user.email}**"


def _is_bell(frame) -> bool:
    return frame.get("type") == "notification"


async def test_a_mention_updates_the_bell_with_the_count_only(room):
    u = room["users"]
    sock = await open_socket(u["secret"])
    await database_sync_to_async(post)(room, "open", f"Marker-heron {at(u['secret'])}")
    frame = await sock.until(_is_bell)
    assert frame == {"type": "notification", "unread": 1}  # no text, no ids
    await database_sync_to_async(post)(room, "open", f"again {at(u['secret'])}")
    assert (await sock.until(_is_bell))["unread"] == 2
    first = Notification.objects.filter(user=u["secret"]).first
    notification = await database_sync_to_async(first)()
    await database_sync_to_async(services.notification_mark_read)(
        notification_id=notification.pk, acting_user=u["secret"])
    assert (await sock.until(_is_bell))["unread"] == 1
    await database_sync_to_async(services.notification_mark_all_read)(acting_user=u["secret"])
    assert (await sock.until(_is_bell))["unread"] == 0
    await sock.close()


async def test_a_socket_without_hello_still_gets_the_bell(room):
    """Pages without the discussion client open /ws/ for the bell alone (bell.js)."""
    u = room["users"]
    cookie = await database_sync_to_async(session_cookie)(u["confidential"])
    sock = Socket(cookie)
    assert await sock.connect()
    assert await sock.drain(0.5) == []  # the consumer joins the user's group after accepting
    await database_sync_to_async(post)(room, "open", f"hi {at(u['confidential'])}")
    assert (await sock.until(_is_bell)) == {"type": "notification", "unread": 1}
    await sock.close()


async def test_no_bell_for_a_mention_above_the_clearance(room):
    u = room["users"]
    restricted = await open_socket(u["restricted"])
    confidential = await open_socket(u["confidential"])
    body = f"conf {at(u['restricted'])} {at(u['confidential'])}"
    await database_sync_to_async(post)(room, "secret", body, level=2)
    assert (await confidential.until(_is_bell))["unread"] == 1
    frames = await restricted.drain(0.5)
    assert not [f for f in frames if _is_bell(f)]
    await restricted.close()
    await confidential.close()


async def test_each_user_gets_only_their_own_count(room):
    u = room["users"]
    secret = await open_socket(u["secret"])
    other = await open_socket(u["observer"])
    await database_sync_to_async(post)(room, "open", f"hi {at(u['secret'])}")
    assert (await secret.until(_is_bell))["unread"] == 1
    frames = await other.drain(0.5)
    assert not [f for f in frames if _is_bell(f)]
    await secret.close()
    await other.close()


async def test_after_removal_the_count_excludes_hidden_notifications(room):
    u = room["users"]
    await database_sync_to_async(post)(room, "open", f"hi {at(u['restricted'])}")
    sock = await open_socket(u["restricted"])
    membership = await database_sync_to_async(room["space"].memberships.get)(user=u["restricted"])
    await database_sync_to_async(membership_set_status)(
        membership=membership, status=MembershipStatus.REMOVED, acting_user=room["admin"])
    await database_sync_to_async(post)(room, "open", f"again {at(u['secret'])}")
    # The removed member's next count (e.g. after mark all read) counts nothing hidden.
    await database_sync_to_async(services.push_counts)([u["restricted"].pk])
    assert (await sock.until(_is_bell))["unread"] == 0
    await sock.close()


async def test_reading_the_topic_over_the_socket_updates_the_bell(room):
    u = room["users"]
    sock = await open_socket(u["secret"])
    message = await database_sync_to_async(post)(room, "open", f"hi {at(u['secret'])}")
    assert (await sock.until(_is_bell))["unread"] == 1
    ack = await sock.request({"type": "read", "space_id": room["space"].pk,
                              "topic_id": room["topic"].pk, "seq": message.seq})
    assert ack["type"] == "ack"
    assert (await sock.until(_is_bell))["unread"] == 0
    await sock.close()


async def test_an_ended_session_gets_no_count_and_is_closed(room):
    from django.contrib.sessions.models import Session

    u = room["users"]
    cookie = await database_sync_to_async(session_cookie)(u["secret"])
    sock = Socket(cookie)
    assert await sock.connect()
    await sock.hello()
    session_key = cookie.decode().split("=", 1)[1]
    await database_sync_to_async(Session.objects.filter(session_key=session_key).delete)()
    await sock.drain(1.1)  # past the one-second session re-check window
    await database_sync_to_async(post)(room, "open", f"hi {at(u['secret'])}")
    frames = await sock.drain(0.5)
    assert not [f for f in frames if _is_bell(f)]
    assert sock.closed_code == 4401
    await sock.close()
