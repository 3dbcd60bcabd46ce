"""Presence: a newcomer is told who is already connected to each of its spaces (each
connection there answers its `online` directly), and nobody outside the space learns
anything. A client cannot forge presence."""

from __future__ import annotations

import pytest

from tests.messaging.conftest import open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _online(sock, space_id: int) -> set[int]:  # type: ignore[no-untyped-def]
    return {f["user"]["id"] for f in sock.frames
            if f["type"] == "presence" and f["space_id"] == space_id and f["state"] == "online"}


async def test_a_newcomer_is_told_who_is_already_there(room):
    users, space = room["users"], room["space"]
    first = await open_socket(users["secret"])
    second = await open_socket(users["open"])
    newcomer = await open_socket(users["restricted"])
    await newcomer.drain(0.4)
    assert _online(newcomer, space.pk) == {users["secret"].pk, users["open"].pk}
    # The others were told of the newcomer, and do not hear their own presence.
    await first.drain(0.2)
    assert users["restricted"].pk in _online(first, space.pk)
    assert users["secret"].pk not in _online(first, space.pk)
    for sock in (first, second, newcomer):
        await sock.close()


async def test_an_outsider_learns_nothing_and_is_not_named(room):
    users, space, other = room["users"], room["space"], room["other_space"]
    member = await open_socket(users["secret"])
    outsider = await open_socket(users["outsider"])  # a member of another space only
    # The outsider asks to resume the space it is not in: denied, and no presence of it.
    hostile = await open_socket(users["outsider"], resume={space.pk: 0})
    newcomer = await open_socket(users["open"])
    for sock in (member, outsider, hostile, newcomer):
        await sock.drain(0.3)
    for sock in (outsider, hostile):
        assert not [f for f in sock.frames if f["type"] == "presence" and f["space_id"] == space.pk]
        assert users["secret"].pk not in _online(sock, other.pk)
    assert users["outsider"].pk not in _online(newcomer, space.pk)
    assert users["outsider"].pk not in _online(member, space.pk)
    assert not [f for f in newcomer.frames if f["type"] == "presence" and f["space_id"] == other.pk]
    for sock in (member, outsider, hostile, newcomer):
        await sock.close()


async def test_a_client_cannot_forge_presence(room):
    users, space = room["users"], room["space"]
    reader = await open_socket(users["secret"])
    forger = await open_socket(users["open"])
    await reader.drain(0.3)
    before = len(reader.frames)
    for frame in (
        {"type": "presence", "space_id": space.pk, "state": "online",
         "user": {"id": users["moderator"].pk, "name": "Mallory"}},
        {"type": "space.presence", "space_id": space.pk, "state": "offline", "origin": "x",
         "user": {"id": users["secret"].pk, "name": "x"}},
    ):
        error = await forger.request(dict(frame))
        assert error["type"] == "error"
    await forger.send({"type": "hello", "client_id": "not-a-uuid", "resume": {str(space.pk): 0}})
    await forger.until(lambda f: f["type"] == "error")
    await reader.drain(0.3)
    assert not [f for f in reader.frames[before:] if f["type"] == "presence"]
    for sock in (reader, forger):
        await sock.close()


async def test_one_tab_closing_does_not_take_a_member_offline(room):
    users = room["users"]
    reader = await open_socket(users["secret"])
    tab1 = await open_socket(users["open"])
    tab2 = await open_socket(users["open"])
    await reader.drain(0.3)
    await tab1.close()
    offline = await reader.until(lambda f: f["type"] == "presence" and f["state"] == "offline")
    assert offline["user"]["id"] == users["open"].pk
    back = await reader.until(lambda f: f["type"] == "presence" and f["state"] == "online")
    assert back["user"]["id"] == users["open"].pk
    for sock in (reader, tab2):
        await sock.close()
