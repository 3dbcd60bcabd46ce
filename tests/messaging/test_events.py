"""One test per event type: its JSON shape, and who receives it (by clearance, TLP:RED
recipients, non-members) over real sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from messaging import services
from networks.clearance import TLP
from tests.messaging.conftest import build_room, open_socket, post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

WATCHERS = ["open", "restricted", "confidential", "secret", "observer", "moderator", "outsider"]
EVENT_KEYS = {"type", "space_id", "seq", "kind", "level", "level_name", "tlp", "data",
              "created_at"}


async def _receivers(room: dict[str, Any], action: Any, kind: str) -> dict[str, dict]:
    """Open a socket per watcher, run `action`, and return {watcher: event frame of kind}."""
    sockets = {who: await open_socket(room["users"][who]) for who in WATCHERS}
    try:
        await database_sync_to_async(action)()
        got = {}
        arrived = asyncio.Event()

        async def settle(sock: Any) -> None:
            # Until the event has reached some socket (a loaded machine may take more
            # than the quiet period to deliver it), then until 0.25 s pass in silence.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while not arrived.is_set() and loop.time() < deadline:
                frame = await sock.recv(0.05)
                if frame is not None and frame.get("type") == "event" and frame["kind"] == kind:
                    arrived.set()
            await sock.drain(0.25)

        await asyncio.gather(*(settle(sock) for sock in sockets.values()))
        for who, sock in sockets.items():
            frames = [f for f in sock.events() if f["kind"] == kind]
            assert len(frames) <= 1, (who, frames)
            if frames:
                got[who] = frames[0]
        return got
    finally:
        for sock in sockets.values():
            await sock.close()


async def _room() -> dict[str, Any]:
    return await database_sync_to_async(build_room)()


def _check_event(frame: dict, room: dict, kind: str, level: int, tlp: str) -> None:
    assert set(frame) == EVENT_KEYS
    assert frame["type"] == "event" and frame["kind"] == kind
    assert frame["space_id"] == room["space"].pk
    assert isinstance(frame["seq"], int) and frame["seq"] > 0
    assert (frame["level"], frame["tlp"]) == (level, tlp)


async def test_topic_new():
    room = await _room()
    got = await _receivers(room, lambda: services.topic_create(
        space=room["space"], name="Ports", acting_user=room["users"]["open"]), "topic.new")
    assert set(got) == set(WATCHERS) - {"outsider"}
    frame = got["open"]
    _check_event(frame, room, "topic.new", 0, TLP.CLEAR)
    assert set(frame["data"]["topic"]) == {"id", "name", "created_by"}
    assert frame["data"]["topic"]["name"] == "Ports"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0, {"open", "restricted", "confidential", "secret", "observer", "moderator"}),
        (1, {"restricted", "confidential", "secret", "observer", "moderator"}),
        (2, {"confidential", "secret", "observer", "moderator"}),
        (3, {"secret", "observer", "moderator"}),
    ],
)
async def test_message_new_by_clearance(level, expected):
    room = await _room()
    got = await _receivers(room, lambda: post(room, "secret", "*hi*", level=level,
                                              tlp=TLP.AMBER), "message.new")
    assert set(got) == expected
    frame = next(iter(got.values()))
    _check_event(frame, room, "message.new", level, TLP.AMBER)
    message = frame["data"]["message"]
    assert set(message) == {"id", "topic_id", "author", "body", "html", "level", "level_name",
                            "tlp", "recipient_ids", "client_id", "created_at", "mention_ids"}
    assert message["html"] == "<p><em>hi</em></p>\n"
    assert message["author"]["id"] == room["users"]["secret"].pk


async def test_message_new_red_goes_to_author_and_recipients_only():
    room = await _room()
    recipients = (room["users"]["restricted"], room["users"]["confidential"])
    got = await _receivers(room, lambda: post(room, "secret", "red", level=1, tlp=TLP.RED,
                                              recipients=recipients), "message.new")
    # moderator and observer are SECRET-cleared, yet not recipients
    assert set(got) == {"secret", "restricted", "confidential"}
    assert sorted(got["secret"]["data"]["message"]["recipient_ids"]) == sorted(
        r.pk for r in recipients)


async def test_message_edit():
    room = await _room()
    message = await database_sync_to_async(post)(room, "confidential", "v1", level=2)
    got = await _receivers(room, lambda: services.message_edit(
        message=message, body="v2", acting_user=room["users"]["confidential"]), "message.edit")
    assert set(got) == {"confidential", "secret", "observer", "moderator"}
    frame = got["secret"]
    _check_event(frame, room, "message.edit", 2, TLP.GREEN)
    assert set(frame["data"]["message"]) == {"id", "topic_id", "body", "html", "edited_at",
                                             "revision", "mention_ids"}
    assert frame["data"]["message"]["revision"] == 2


async def test_message_delete():
    room = await _room()
    message = await database_sync_to_async(post)(room, "restricted", "oops", level=1)
    got = await _receivers(room, lambda: services.message_delete(
        message=message, acting_user=room["users"]["moderator"]), "message.delete")
    assert set(got) == {"restricted", "confidential", "secret", "observer", "moderator"}
    frame = got["restricted"]
    _check_event(frame, room, "message.delete", 1, TLP.GREEN)
    assert frame["data"]["message"] == {
        "id": message.pk, "topic_id": message.topic_id, "by_moderator": True,
        "deleted_at": frame["data"]["message"]["deleted_at"]}


async def test_message_delete_of_red_reaches_only_its_audience():
    room = await _room()
    message = await database_sync_to_async(post)(
        room, "open", "red", tlp=TLP.RED, recipients=(room["users"]["secret"],))
    got = await _receivers(room, lambda: services.message_delete(
        message=message, acting_user=room["users"]["open"]), "message.delete")
    assert set(got) == {"open", "secret"}


async def test_reaction_add():
    room = await _room()
    message = await database_sync_to_async(post)(room, "restricted", "hi", level=1)
    got = await _receivers(room, lambda: services.reaction_toggle(
        message=message, emoji="eyes", acting_user=room["users"]["secret"]), "reaction.add")
    assert set(got) == {"restricted", "confidential", "secret", "observer", "moderator"}
    frame = got["restricted"]
    _check_event(frame, room, "reaction.add", 1, TLP.GREEN)
    assert frame["data"]["reaction"] == {
        "message_id": message.pk, "topic_id": message.topic_id, "emoji": "eyes",
        "user_id": room["users"]["secret"].pk, "count": 1}


async def test_reaction_remove():
    room = await _room()
    recipients = (room["users"]["open"],)
    message = await database_sync_to_async(post)(room, "secret", "r", tlp=TLP.RED,
                                                 recipients=recipients)
    await database_sync_to_async(services.reaction_toggle)(
        message=message, emoji="+1", acting_user=room["users"]["open"])
    got = await _receivers(room, lambda: services.reaction_toggle(
        message=message, emoji="+1", acting_user=room["users"]["open"]), "reaction.remove")
    assert set(got) == {"open", "secret"}
    _check_event(got["open"], room, "reaction.remove", 0, TLP.RED)
    assert got["open"]["data"]["reaction"]["count"] == 0
