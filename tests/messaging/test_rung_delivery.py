"""A new message's doorbell carries its frame; a socket sends it (or passes over a hidden
event) without a read only when that is exactly what the read would do
(messaging/consumers.py, `_rung`), and the process's watcher keeps every socket's answer
fresh (`_HeadWatcher.refresh`).

Each condition has a test that fails without it: the next seq, a session and a
membership the database confirmed less than the session check's interval ago, the labels
judged by the access rule, and no frame at all for a note's discussion. The tests of the
age conditions stall the refresh, as a slow database would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid

import pytest
from channels.db import database_sync_to_async

from messaging.models import Event
from messaging.note_services import note_create
from networks.clearance import TLP
from networks.models import Membership, MembershipStatus
from tests.messaging.conftest import open_socket, post
from tests.messaging.test_consumers import _count_reads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def stalled_refresh(monkeypatch):
    from messaging.consumers import _HeadWatcher

    async def stalled(self, sockets):
        return None

    monkeypatch.setattr(_HeadWatcher, "refresh", stalled)


async def _post(room, who, body, **kwargs):
    return await database_sync_to_async(post)(room, who, body, **kwargs)


async def _set_membership(room, who, **fields):
    """Change a membership in the database only: no service, so no access ring."""
    await database_sync_to_async(
        Membership.objects.filter(user=room["users"][who], space=room["space"]).update
    )(**fields)


def _bodies(sock):
    return [f["data"]["message"]["body"] for f in sock.events() if "message" in f["data"]]


async def _warm(room, *sockets):
    """One doorbell through the read: the sockets then know their membership."""
    await _post(room, "secret", "warm-up")
    for sock in sockets:
        await sock.until(lambda f: f["type"] == "event"
                         and f["data"].get("message", {}).get("body") == "warm-up")


async def test_the_next_post_goes_out_from_its_doorbell_as_a_replay_shows_it(room,
                                                                          monkeypatch):
    sock = await open_socket(room["users"]["open"])
    await _warm(room, sock)
    reads = _count_reads(monkeypatch)
    message = await _post(room, "secret", "**rung**")
    live = await sock.until(lambda f: f["type"] == "event"
                            and f["data"]["message"]["id"] == message.pk)
    assert reads == []  # from the doorbell, no read
    replay = await open_socket(room["users"]["open"], resume={room["space"].pk: live["seq"] - 1})
    assert replay.events(room["space"].pk) == [live]  # the same frame, field for field
    await replay.close()
    await sock.close()


async def test_doorbells_carry_the_stored_frame_only_for_ordinary_topics(room, monkeypatch):
    rung = []
    monkeypatch.setattr("messaging.events._group_send",
                        lambda group, message: rung.append(message))
    message = await _post(room, "secret", "ordinary")
    [bell] = rung
    event = await database_sync_to_async(Event.objects.get)(message=message)
    from messaging.events import encode, event_frame

    stored = await database_sync_to_async(lambda: encode(event_frame(
        Event.objects.get(pk=event.pk))))()
    assert json.loads(bell["text"]) == json.loads(stored)

    from tests.messaging.test_notes import BASE

    data = dataclasses.replace(BASE, level=0, tlp=TLP.GREEN, recipients=[])
    note = await database_sync_to_async(note_create)(
        space=room["space"], data=data, acting_user=room["users"]["secret"])
    rung.clear()
    await _post(room, "secret", "in the discussion", topic=note.topic)
    assert [bell.get("text") for bell in rung] == [None]  # the note decides too: read


async def test_a_gap_is_read_not_skipped(room, monkeypatch):
    sock = await open_socket(room["users"]["open"])
    await _warm(room, sock)
    real = __import__("messaging.events", fromlist=["_group_send"])._group_send
    monkeypatch.setattr("messaging.events._group_send", lambda group, message: None)
    await _post(room, "secret", "lost bell")
    monkeypatch.setattr("messaging.events._group_send", real)
    reads = _count_reads(monkeypatch)
    await _post(room, "secret", "after the gap")
    await sock.until(lambda f: f["type"] == "event"
                     and f["data"]["message"]["body"] == "after the gap")
    await sock.drain(0.2)
    assert reads  # the rung frame was not the next seq: the read filled the gap
    assert _bodies(sock) == ["warm-up", "lost bell", "after the gap"]
    seqs = [f["seq"] for f in sock.events()]
    assert seqs == sorted(set(seqs))
    await sock.close()


async def test_an_old_membership_answer_reads_again(room, settings, monkeypatch,
                                                    stalled_refresh):
    settings.MESSAGING_SESSION_CHECK_SECONDS = 0.2
    sock = await open_socket(room["users"]["open"])
    await _warm(room, sock)
    await asyncio.sleep(0.3)
    reads = _count_reads(monkeypatch)
    await _post(room, "secret", "later")
    await sock.until(lambda f: f["type"] == "event"
                     and f["data"]["message"]["body"] == "later")
    assert reads == ["_frames_after_group"]
    await sock.close()


async def test_a_removal_without_a_ring_stops_rung_events_within_the_check_interval(
    room, stalled_refresh
):
    """The access ring is the fast way (tests/messaging/test_revocation.py); without it,
    a remembered membership older than the session check's interval (1 s) decides
    nothing, even when the session itself was checked a moment ago (`sync` does), and
    the read finds the removal."""
    sock = await open_socket(room["users"]["open"])
    await _warm(room, sock)
    await _set_membership(room, "open", status=MembershipStatus.REMOVED)
    await asyncio.sleep(1.1)
    reply = await sock.request({"type": "sync", "client_id": str(uuid.uuid4())})
    assert reply["type"] == "ack"  # the session is fresh again; the membership is not
    await _post(room, "secret", "after removal")
    frames = await sock.drain(0.5)
    assert not [f for f in frames if f["type"] == "event"], frames
    await sock.close()


async def test_a_lowered_clearance_read_by_the_socket_holds_before_its_ring(
    room, stalled_refresh
):
    """The socket's clearance hint (kept from hello and rings) lags a change made without
    a ring; the membership its last read found does not, and the rung path judges the
    labels by that membership."""
    sock = await open_socket(room["users"]["restricted"])
    await _warm(room, sock)
    await _set_membership(room, "restricted", clearance=0)
    await asyncio.sleep(1.1)
    await _post(room, "secret", "read afresh")  # through the read: it finds clearance 0
    await sock.until(lambda f: f["type"] == "event"
                     and f["data"]["message"]["body"] == "read afresh")
    await _post(room, "secret", "restricted now hidden", level=1)
    frames = await sock.drain(0.5)
    assert not [f for f in frames if f["type"] == "event"], frames
    await sock.close()


async def test_labels_are_judged_on_the_rung_path(room, monkeypatch):
    users = room["users"]
    restricted = await open_socket(users["restricted"])
    recipient = await open_socket(users["confidential"])
    await _warm(room, restricted, recipient)
    reads = _count_reads(monkeypatch)
    red = await _post(room, "secret", "for one", tlp=TLP.RED, recipients=(users["confidential"],))
    await recipient.until(lambda f: f["type"] == "event"
                          and f["data"]["message"]["id"] == red.pk)
    assert reads == []  # the recipient's from the doorbell
    high = await _post(room, "secret", "too high", level=2)
    await recipient.until(lambda f: f["type"] == "event"
                          and f["data"]["message"]["id"] == high.pk)
    await _post(room, "secret", "for all")
    await restricted.until(lambda f: f["type"] == "event"
                           and f["data"]["message"]["body"] == "for all")
    await recipient.until(lambda f: f["type"] == "event"
                          and f["data"]["message"]["body"] == "for all")
    await restricted.drain(0.2)
    assert _bodies(restricted) == ["warm-up", "for all"]
    assert _bodies(recipient)[-3:] == ["for one", "too high", "for all"]
    for sock in (restricted, recipient):
        await sock.close()


async def test_a_forged_frame_in_a_doorbell_for_a_seq_already_read_is_not_sent(room):
    """A doorbell for a seq the socket has examined is a duplicate, whatever it carries."""
    from channels.layers import get_channel_layer

    from messaging.events import space_group

    sock = await open_socket(room["users"]["open"])
    await _warm(room, sock)
    head = sock.events()[-1]["seq"]
    await get_channel_layer().group_send(space_group(room["space"].pk), {
        "type": "space.event", "space_id": room["space"].pk, "seq": head, "level": 0,
        "tlp": TLP.GREEN, "author_id": None, "recipient_ids": [], "sent_at": 0,
        "text": json.dumps({"type": "event", "seq": head, "forged": str(uuid.uuid4())})})
    frames = await sock.drain(0.3)
    assert not [f for f in frames if f.get("forged")], frames
    await sock.close()


async def test_an_ended_session_is_found_before_a_rung_event_once_its_check_is_due(
    room, stalled_refresh
):
    """The membership was read a moment ago, but the session was last checked more than
    the interval ago (at hello): the rung path waits for the check, which finds the
    session gone (deleted without a ring) and closes the socket."""
    from django.contrib.sessions.models import Session

    sock = await open_socket(room["users"]["open"])  # the session is checked at hello
    await asyncio.sleep(0.6)
    await _warm(room, sock)  # the membership is read now; the session check is not due
    await database_sync_to_async(lambda: Session.objects.all().delete())()
    await asyncio.sleep(0.5)
    await _post(room, "secret", "after the session ended")
    frames = await sock.drain(0.5)
    assert not [f for f in frames if f["type"] == "event"], frames
    assert sock.closed_code == 4401
    await sock.close()


async def test_a_hidden_event_is_passed_over_without_a_read(room, monkeypatch):
    sock = await open_socket(room["users"]["restricted"])
    await _warm(room, sock)
    reads = _count_reads(monkeypatch)
    await _post(room, "secret", "too high", level=3)
    await _post(room, "secret", "red for another", tlp=TLP.RED,
                recipients=(room["users"]["confidential"],))
    await _post(room, "secret", "visible again")
    await sock.until(lambda f: f["type"] == "event"
                     and f["data"]["message"]["body"] == "visible again")
    assert reads == []
    assert _bodies(sock) == ["warm-up", "visible again"]
    await sock.close()


async def test_the_refresh_finds_a_removal_without_a_ring(room, monkeypatch):
    """Nothing rings: within the interval the refresh has read the removal, and the next
    post is passed over without a read."""
    sock = await open_socket(room["users"]["open"])
    await _warm(room, sock)
    await _set_membership(room, "open", status=MembershipStatus.REMOVED)
    await asyncio.sleep(1.0)
    reads = _count_reads(monkeypatch)
    await _post(room, "secret", "after removal")
    frames = await sock.drain(0.5)
    assert not [f for f in frames if f["type"] == "event"], frames
    assert reads == []
    await sock.close()


async def test_the_refresh_closes_a_socket_whose_session_ended_with_no_doorbell(room):
    from django.contrib.sessions.models import Session

    sock = await open_socket(room["users"]["open"])
    await database_sync_to_async(lambda: Session.objects.all().delete())()
    await sock.drain(1.2)
    assert sock.closed_code == 4401
    await sock.close()

