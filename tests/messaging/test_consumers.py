"""The /ws/ consumer: handshake, hello and resume, frames, errors, limits, typing, presence."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async

from messaging.models import Event, Message
from networks.clearance import TLP
from tests.messaging.conftest import Socket, open_socket, post, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

REF = "3f2b8c1d-6a4e-4f0b-9c7d-2e1a5b8c9d0f"  # fixed: xdist workers must collect alike


def _post_frame(room, *, level=0, tlp="GREEN", body="hello", **extra):
    return {"type": "post", "space_id": room["space"].pk, "topic_id": room["topic"].pk,
            "body": body, "level": level, "tlp": tlp, **extra}


# --- handshake ---------------------------------------------------------------------


async def test_anonymous_is_closed_with_4401():
    sock = Socket(cookie=None)
    assert await sock.connect()
    assert await sock.recv(1) is None
    assert sock.closed_code == 4401
    await sock.close()


async def test_forged_session_is_closed_with_4401(settings):
    sock = Socket(cookie=f"{settings.SESSION_COOKIE_NAME}=not-a-session".encode())
    assert await sock.connect()
    assert await sock.recv(1) is None and sock.closed_code == 4401
    await sock.close()


async def test_user_without_mfa_is_closed_with_4403(room):
    cookie = await database_sync_to_async(session_cookie)(room["users"]["no_mfa"])
    sock = Socket(cookie)
    assert await sock.connect()
    assert await sock.recv(1) is None and sock.closed_code == 4403
    await sock.close()


async def test_foreign_origin_is_refused(room):
    cookie = await database_sync_to_async(session_cookie)(room["users"]["open"])
    sock = Socket(cookie, origin=b"https://evil.example")
    assert not await sock.connect()
    await sock.close()


async def test_frames_before_hello_are_refused(room):
    cookie = await database_sync_to_async(session_cookie)(room["users"]["open"])
    sock = Socket(cookie)
    assert await sock.connect()
    reply = await sock.request(_post_frame(room))
    assert reply["type"] == "error" and reply["code"] == "hello_required"
    await sock.hello()
    reply = await sock.request({"type": "hello"} | {"resume": {}})
    assert reply["code"] == "already_hello"
    await sock.close()


# --- hello and resume ----------------------------------------------------------------


async def test_hello_lists_visible_spaces_at_their_heads(room):
    sock = await open_socket(room["users"]["open"])
    ack = sock.frames[0]
    assert ack["type"] == "ack" and ack["for"] == "hello"
    assert ack["spaces"] == {str(room["space"].pk): 1}  # the topic's topic.new is seq 1
    await sock.close()


async def test_resume_replays_visible_events_in_order(room):
    for level in (0, 3, 1, 0, 2):
        await database_sync_to_async(post)(room, "secret", f"level {level}", level=level)
    space_id = room["space"].pk
    sock = await open_socket(room["users"]["restricted"], resume={space_id: 0})
    seqs = [f["seq"] for f in sock.events(space_id)]
    expected = await database_sync_to_async(lambda: list(
        Event.objects.filter(space_id=space_id, level__lte=1).values_list("seq", flat=True)))()
    assert seqs == expected == sorted(set(seqs))
    assert sock.frames[-1]["type"] == "ack"  # replay comes before the hello ack
    await sock.close()
    again = await open_socket(room["users"]["restricted"], resume={space_id: seqs[1]})
    assert [f["seq"] for f in again.events(space_id)] == seqs[2:]
    await again.close()


async def test_resume_beyond_the_head_asks_for_resync(room):
    space_id = room["space"].pk
    sock = await open_socket(room["users"]["open"], resume={space_id: 999})
    resync = [f for f in sock.frames if f["type"] == "resync"]
    assert resync == [{"type": "resync", "space_id": space_id, "seq": 1,
                       "reason": "unknown_seq"}]
    await sock.close()


async def test_too_large_a_gap_asks_for_resync_then_streams_live(room, settings):
    settings.MESSAGING_RESYNC_GAP = 3
    for i in range(4):
        await database_sync_to_async(post)(room, "open", f"m{i}")
    space_id = room["space"].pk
    sock = await open_socket(room["users"]["open"], resume={space_id: 0})
    assert sock.events() == []
    assert [f for f in sock.frames if f["type"] == "resync"][0]["seq"] == 5
    message = await database_sync_to_async(post)(room, "open", "live")
    frame = await sock.until(lambda f: f["type"] == "event")
    assert frame["data"]["message"]["id"] == message.pk and frame["seq"] == 6
    await sock.close()


async def test_gap_counts_only_visible_events(room, settings):
    settings.MESSAGING_RESYNC_GAP = 2
    for _ in range(5):
        await database_sync_to_async(post)(room, "secret", "hidden", level=3)
    space_id = room["space"].pk
    sock = await open_socket(room["users"]["open"], resume={space_id: 0})
    assert not [f for f in sock.frames if f["type"] == "resync"]
    assert [f["seq"] for f in sock.events()] == [1]
    await sock.close()


async def test_resume_of_a_space_one_cannot_see_is_denied(room):
    other = room["other_space"].pk
    sock = await open_socket(room["users"]["open"], resume={other: 0})
    assert sock.frames[-1]["denied"] == [other]
    assert sock.events() == []
    await sock.close()


# --- client frames ---------------------------------------------------------------------


async def test_post_acks_and_the_author_sees_its_event(room):
    sock = await open_socket(room["users"]["confidential"])
    reply = await sock.request(_post_frame(room, level=2, tlp="AMBER", body="**b**"))
    assert reply["type"] == "ack" and reply["for"] == "post" and reply["duplicate"] is False
    event = sock.events()[-1]
    assert event["data"]["message"]["id"] == reply["message_id"] and event["seq"] == reply["seq"]
    assert event["data"]["message"]["client_id"] == reply["ref"]
    await sock.close()


async def test_retried_post_is_stored_once(room):
    sock = await open_socket(room["users"]["open"])
    frame = _post_frame(room, client_id=str(uuid.uuid4()))
    first = await sock.request(dict(frame))
    second = await sock.request(dict(frame))
    assert first["message_id"] == second["message_id"] and second["duplicate"] is True
    assert await database_sync_to_async(Message.objects.count)() == 1
    assert len(sock.events()) == 1
    await sock.close()


async def test_edit_react_delete_read_and_sync(room):
    sock = await open_socket(room["users"]["open"])
    space_id = room["space"].pk
    posted = await sock.request(_post_frame(room, body="v1"))
    mid = posted["message_id"]
    edit = await sock.request({"type": "edit", "space_id": space_id, "message_id": mid,
                               "body": "v2"})
    assert edit["type"] == "ack"
    react = await sock.request({"type": "react", "space_id": space_id, "message_id": mid,
                                "emoji": "check", "op": "add"})
    assert react["present"] is True
    read = await sock.request({"type": "read", "space_id": space_id,
                               "topic_id": room["topic"].pk, "seq": react.get("seq", 99)})
    assert read["type"] == "ack" and read["unread"] == {}
    delete = await sock.request({"type": "delete", "space_id": space_id, "message_id": mid})
    assert delete["type"] == "ack"
    sync = await sock.request({"type": "sync"})
    assert sync["spaces"] == {str(space_id): 5}
    assert [f["kind"] for f in sock.events()] == [
        "message.new", "message.edit", "reaction.add", "message.delete"]
    await sock.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": 5}', "invalid_frame"),
        (json.dumps({"type": "teleport", "client_id": REF}), "unknown_type"),
        ('{"type": "post", "client_id": "nope"}', "invalid_frame"),
        (json.dumps({"type": "post", "client_id": REF, "space_id": "1"}), "invalid_frame"),
        ('{"type": "sync", "space_id": NaN}', "invalid_json"),
        (json.dumps({"type": "read", "client_id": REF, "space_id": 1, "topic_id": 1,
                     "seq": -1}), "invalid_frame"),
        (json.dumps({"type": "post", "client_id": REF, "space_id": 1, "topic_id": 1,
                     "body": "x", "level": True, "tlp": "GREEN"}), "invalid_frame"),
        (json.dumps({"type": "react", "client_id": REF, "space_id": 1, "message_id": 1,
                     "emoji": "+1", "op": "flip"}), "invalid_frame"),
        (json.dumps({"type": "hello", "resume": {"abc": 1}}), "invalid_frame"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_lives(room, frame, code):
    sock = await open_socket(room["users"]["open"])
    await sock.send(frame)
    reply = await sock.until(lambda f: f["type"] == "error")
    assert reply["code"] == code and set(reply) == {"type", "code", "message", "ref"}
    ok = await sock.request(_post_frame(room))
    assert ok["type"] == "ack"
    await sock.close()


async def test_binary_and_oversized_frames(room, settings):
    settings.MESSAGING_MAX_FRAME_BYTES = 1024
    sock = await open_socket(room["users"]["open"])
    await sock.send_bytes(b"\x00\x01")
    assert (await sock.until(lambda f: f["type"] == "error"))["code"] == "invalid_frame"
    await sock.send(json.dumps(_post_frame(room, body="é" * 600, client_id=str(uuid.uuid4()))))
    assert (await sock.until(lambda f: f["type"] == "error"))["code"] == "too_large"
    assert (await sock.request(_post_frame(room)))["type"] == "ack"
    await sock.close()


async def test_other_spaces_and_hidden_messages_are_refused(room):
    users = room["users"]
    sock = await open_socket(users["open"])
    other = room["other_space"].pk
    reply = await sock.request(_post_frame(room) | {"space_id": other})
    assert reply["code"] == "forbidden"
    reply = await sock.request(_post_frame(room) | {"topic_id": room["other_topic"].pk})
    assert reply["code"] == "not_found"
    hidden = await database_sync_to_async(post)(room, "secret", "s", level=3)
    missing = {"type": "edit", "space_id": room["space"].pk, "message_id": 10**9, "body": "x"}
    probe = {"type": "edit", "space_id": room["space"].pk, "message_id": hidden.pk, "body": "x"}
    # a hidden message and a missing one answer alike
    assert (await sock.request(missing))["code"] == (await sock.request(probe))["code"] == (
        "not_found")
    reply = await sock.request(_post_frame(room, level=1))
    assert reply["code"] == "level_above_clearance"
    reply = await sock.request(_post_frame(room, tlp="RED", recipient_ids=[users["outsider"].pk]))
    assert reply["code"] == "recipient_not_member"
    await sock.close()


async def test_observer_may_read_but_not_write(room):
    sock = await open_socket(room["users"]["observer"])
    assert (await sock.request(_post_frame(room)))["code"] == "forbidden"
    await sock.send({"type": "typing", "space_id": room["space"].pk,
                     "topic_id": room["topic"].pk})
    assert (await sock.until(lambda f: f["type"] == "error"))["code"] == "forbidden"
    await sock.close()


async def test_frame_rate_is_limited_per_connection(room, settings):
    settings.MESSAGING_FRAME_BURST = 5
    settings.MESSAGING_FRAME_RATE_PER_SECOND = 0.01
    cookie = await database_sync_to_async(session_cookie)(room["users"]["open"])
    sock = Socket(cookie)
    assert await sock.connect()
    await sock.hello()
    for _ in range(4):
        await sock.send({"type": "sync"})
    await sock.send({"type": "sync"})
    errors = [f for f in await sock.drain() if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["rate_limited"]
    await sock.close()


# --- ephemeral: typing and presence ---------------------------------------------------------


async def test_typing_reaches_other_members_only(room):
    users = room["users"]
    writer = await open_socket(users["open"])
    reader = await open_socket(users["secret"])
    outsider = await open_socket(users["outsider"])
    await writer.send({"type": "typing", "space_id": room["space"].pk,
                       "topic_id": room["topic"].pk})
    frame = await reader.until(lambda f: f["type"] == "typing")
    assert frame == {"type": "typing", "space_id": room["space"].pk,
                     "topic_id": room["topic"].pk,
                     "user": {"id": users["open"].pk, "name": users["open"].display_name}}
    assert not [f for f in await writer.drain(0.2) if f["type"] == "typing"]
    assert not [f for f in await outsider.drain(0.2) if f["type"] == "typing"]
    for sock in (writer, reader, outsider):
        await sock.close()
    assert await database_sync_to_async(Event.objects.filter(kind__contains="typing").count)() == 0


async def test_presence_online_and_offline(room):
    users = room["users"]
    reader = await open_socket(users["secret"])
    other = await open_socket(users["open"])
    online = await reader.until(lambda f: f["type"] == "presence")
    assert online["state"] == "online" and online["user"]["id"] == users["open"].pk
    await other.close()
    offline = await reader.until(lambda f: f["type"] == "presence" and f["state"] == "offline")
    assert offline["user"]["id"] == users["open"].pk
    await reader.close()


# --- the doorbell is only a hint ----------------------------------------------------------


async def test_a_lost_doorbell_is_recovered_by_the_poll(room, settings, monkeypatch):
    settings.MESSAGING_POLL_SECONDS = 0.2
    sock = await open_socket(room["users"]["open"])
    monkeypatch.setattr("messaging.events._group_send", lambda group, message: None)
    message = await database_sync_to_async(post)(room, "secret", "silent")
    frame = await sock.until(lambda f: f["type"] == "event", timeout=2)
    assert frame["data"]["message"]["id"] == message.pk
    await sock.close()


async def test_the_poll_is_one_heads_query_per_process_not_per_socket(room, settings,
                                                                      monkeypatch):
    """Six sockets, doorbells lost: every socket still gets the event from the poll, and
    the heads are read once per interval for all of them (a per-socket poll read them
    six times)."""
    from messaging import handlers

    settings.MESSAGING_POLL_SECONDS = 0.2
    calls = []
    real_heads = handlers.heads

    def counting_heads(space_ids):
        calls.append(list(space_ids))
        return real_heads(space_ids)

    monkeypatch.setattr(handlers, "heads", counting_heads)
    names = ["open", "restricted", "confidential", "secret", "moderator", "observer"]
    sockets = [await open_socket(room["users"][who]) for who in names]
    monkeypatch.setattr("messaging.events._group_send", lambda group, message: None)
    calls.clear()
    message = await database_sync_to_async(post)(room, "secret", "silent")
    for sock in sockets:
        frame = await sock.until(lambda f: f["type"] == "event", timeout=3)
        assert frame["data"]["message"]["id"] == message.pk
    await asyncio.sleep(1.0)
    # ~6 intervals in the window: one query each, whatever the number of sockets.
    assert 1 <= len(calls) <= 12, len(calls)
    assert all(ids == [room["space"].pk] for ids in calls)
    for sock in sockets:
        await sock.close()


async def test_duplicate_doorbells_deliver_once(room):
    from channels.layers import get_channel_layer

    from messaging.events import space_group

    sock = await open_socket(room["users"]["open"])
    await database_sync_to_async(post)(room, "secret", "once")
    await sock.until(lambda f: f["type"] == "event")
    event = await database_sync_to_async(Event.objects.order_by("-seq").first)()
    layer = get_channel_layer()
    for _ in range(3):
        await layer.group_send(space_group(room["space"].pk), {
            "type": "space.event", "space_id": event.space_id, "seq": event.seq, "level": 0,
            "tlp": TLP.GREEN, "author_id": None, "recipient_ids": [], "sent_at": 0})
    await sock.drain(0.3)
    assert [f["seq"] for f in sock.events()] == [event.seq]
    await sock.close()


async def test_doorbells_do_not_hop_to_the_thread_sensitive_thread(room, monkeypatch):
    """Channels' dispatch calls `aclose_old_connections()` before every message: one hop
    each to the process's single thread-sensitive thread. The consumer's database work runs
    on its own threads, so it skips that; a doorbell to N sockets must not queue N hops."""
    import channels.consumer

    hops = []
    real = channels.consumer.aclose_old_connections

    async def counting() -> None:
        hops.append(1)
        await real()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    sockets = [await open_socket(room["users"][who]) for who in ("open", "secret")]
    await database_sync_to_async(post)(room, "secret", "no hop")
    for sock in sockets:
        frame = await sock.until(lambda f: f["type"] == "event")
        assert frame["data"]["message"]["body"] == "no hop"
    reply = await sockets[0].request(_post_frame(room, body="from a frame"))
    assert reply["type"] == "ack"
    await sockets[1].until(lambda f: f["type"] == "event"
                           and f["data"]["message"]["body"] == "from a frame")
    assert hops == []
    for sock in sockets:
        await sock.close()


def _count_reads(monkeypatch) -> list[str]:
    """Record every catch-up read the consumers make (batched or single)."""
    from messaging import consumers

    reads: list[str] = []
    for name in ("_frames_after", "_frames_after_group"):
        real = getattr(consumers, name)

        def counting(*args, _real=real, _name=name):
            reads.append(_name)
            return _real(*args)

        monkeypatch.setattr(consumers, name, counting)
    return reads


async def test_the_author_gets_its_own_post_from_the_write_as_a_replay_would_show_it(
    room, monkeypatch
):
    sock = await open_socket(room["users"]["open"])
    reads = _count_reads(monkeypatch)
    reply = await sock.request(_post_frame(room, body="**own**"))
    assert reply["type"] == "ack" and "own_event" not in reply
    live = sock.events()[-1]
    assert live["seq"] == reply["seq"] and live["data"]["message"]["body"] == "**own**"
    assert sock.frames.index(live) < sock.frames.index(reply)  # the event before its ack
    assert reads == []  # straight from the write: no read
    await sock.drain(0.3)
    assert [e["seq"] for e in sock.events()] == [reply["seq"]]  # its doorbell adds nothing
    await sock.close()
    replayed = await open_socket(room["users"]["open"], resume={room["space"].pk: 0})
    again = [e for e in replayed.events() if e["seq"] == reply["seq"]]
    assert again == [live]  # the same frame, field for field
    await replayed.close()


async def test_the_author_reads_when_another_event_lies_before_its_own(room, monkeypatch):
    from messaging import events

    sock = await open_socket(room["users"]["open"])
    head = sock.frames[0]["spaces"][str(room["space"].pk)]
    monkeypatch.setattr(events, "_group_send", lambda group, message: None)  # lost doorbells
    other = await database_sync_to_async(post)(room, "secret", "before yours")
    reads = _count_reads(monkeypatch)
    reply = await sock.request(_post_frame(room, body="yours"))
    assert reads  # a gap: read, not sent from the write
    assert [(e["seq"], e["data"]["message"]["body"]) for e in sock.events()] == [
        (other.seq, "before yours"), (reply["seq"], "yours")]
    assert other.seq == head + 1 and reply["seq"] == head + 2
    await sock.close()
