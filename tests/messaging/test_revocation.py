"""Revocation on open sockets: removal, suspension, lowered clearance, logout, ended
session, password change, disabled account. Within 1 s the socket receives nothing more
it may no longer see, and frames sent after that are refused."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client

from networks.models import Membership, MembershipStatus
from networks.services import membership_change, membership_set_status
from tests.messaging.conftest import Socket, post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

WITHIN = 1.0


def _login(user):
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}".encode()
    return client, cookie


async def _socket(user):
    client, cookie = await database_sync_to_async(_login)(user)
    sock = Socket(cookie)
    assert await sock.connect()
    await sock.hello()
    return client, sock


def _post_frame(room, level=0):
    return {
        "type": "post",
        "client_id": str(uuid.uuid4()),
        "space_id": room["space"].pk,
        "topic_id": room["topic"].pk,
        "body": "after",
        "level": level,
        "tlp": "GREEN",
    }


def _membership(room, who):
    return Membership.objects.get(user=room["users"][who], space=room["space"])


def _lower_to_open(room, membership):
    """The moderator lowers the member's clearance to the lowest level."""
    membership_change(
        membership=membership,
        role="member",
        clearance=0,
        clearance_expires_at=None,
        acting_user=room["users"]["moderator"],
    )


async def _assert_nothing_more(sock, room, level=0):
    """A post the user could have seen before does not arrive."""
    await database_sync_to_async(post)(room, "moderator", "after revocation", level=level)
    frames = await sock.drain(0.4)
    assert not [f for f in frames if f["type"] == "event"], frames


@pytest.mark.parametrize("status", [MembershipStatus.REMOVED, MembershipStatus.SUSPENDED])
async def test_removed_or_suspended_member(room, status):
    _client, sock = await _socket(room["users"]["restricted"])
    start = time.monotonic()
    await database_sync_to_async(membership_set_status)(
        membership=await database_sync_to_async(_membership)(room, "restricted"),
        status=status,
        acting_user=room["users"]["moderator"],
    )
    resync = await sock.until(lambda f: f["type"] == "resync", timeout=WITHIN)
    assert time.monotonic() - start < WITHIN
    assert resync == {
        "type": "resync",
        "space_id": room["space"].pk,
        "seq": None,
        "reason": "access_ended",
    }
    await _assert_nothing_more(sock, room)
    assert (await sock.request(_post_frame(room)))["code"] == "forbidden"
    await sock.close()


async def test_lowered_clearance_refilters_at_once(room):
    _client, sock = await _socket(room["users"]["secret"])
    membership = await database_sync_to_async(_membership)(room, "secret")
    await database_sync_to_async(_lower_to_open)(room, membership)
    resync = await sock.until(lambda f: f["type"] == "resync", timeout=WITHIN)
    assert resync["reason"] == "clearance_changed"
    await _assert_nothing_more(sock, room, level=1)
    await database_sync_to_async(post)(room, "moderator", "still open", level=0)
    frame = await sock.until(lambda f: f["type"] == "event", timeout=WITHIN)
    assert frame["level"] == 0
    assert (await sock.request(_post_frame(room, level=3)))["code"] == "level_above_clearance"
    await sock.close()


async def test_raised_clearance_and_new_membership_resubscribe(room):
    _client, sock = await _socket(room["users"]["outsider"])
    from networks.services import membership_set

    await database_sync_to_async(membership_set)(
        space=room["space"], user=room["users"]["outsider"], clearance=1, acting_user=room["admin"]
    )
    resync = await sock.until(lambda f: f["type"] == "resync", timeout=WITHIN)
    assert resync["reason"] == "access_granted" and resync["space_id"] == room["space"].pk
    await database_sync_to_async(post)(room, "moderator", "welcome", level=1)
    frame = await sock.until(lambda f: f["type"] == "event", timeout=WITHIN)
    assert frame["data"]["message"]["body"] == "welcome"
    await sock.close()


async def test_revocation_holds_even_if_the_doorbell_is_lost(room, monkeypatch):
    monkeypatch.setattr("workspace.realtime.get_channel_layer", lambda: None)
    _client, sock = await _socket(room["users"]["restricted"])
    await database_sync_to_async(membership_set_status)(
        membership=await database_sync_to_async(_membership)(room, "restricted"),
        status=MembershipStatus.REMOVED,
        acting_user=room["users"]["moderator"],
    )
    # delivery reads the database with the access rule: nothing arrives
    await _assert_nothing_more(sock, room)
    assert (await sock.request(_post_frame(room)))["code"] == "forbidden"
    await sock.close()


@pytest.mark.parametrize("change", ["removed", "lowered"])
async def test_a_lost_access_ring_is_caught_by_the_process_recheck(
    room, settings, monkeypatch, change
):
    """The access ring never arrives: the process's periodic re-check still ends the
    subscription or re-filters it, and it is one query for all the process's sockets."""
    from messaging import handlers

    settings.MESSAGING_POLL_SECONDS = 0.05  # a re-check every 6 polls: 0.3 s
    sizes = []
    real = handlers.visible_spaces_many

    def counting(users):
        sizes.append(len(users))
        return real(users)

    monkeypatch.setattr(handlers, "visible_spaces_many", counting)
    who = "restricted" if change == "removed" else "secret"
    sockets = {name: (await _socket(room["users"][name]))[1] for name in (who, "open", "moderator")}
    monkeypatch.setattr("workspace.realtime.get_channel_layer", lambda: None)  # rings lost
    membership = await database_sync_to_async(_membership)(room, who)
    if change == "removed":
        await database_sync_to_async(membership_set_status)(
            membership=membership,
            status=MembershipStatus.REMOVED,
            acting_user=room["users"]["moderator"],
        )
    else:
        await database_sync_to_async(_lower_to_open)(room, membership)
    resync = await sockets[who].until(lambda f: f["type"] == "resync", timeout=3)
    assert resync["reason"] == ("access_ended" if change == "removed" else "clearance_changed")
    assert sizes and max(sizes) == 3, sizes  # every socket of the process in one query
    for name in ("open", "moderator"):  # nothing changed for them: no resync
        assert not [f for f in await sockets[name].drain(0.1) if f["type"] == "resync"]
    await _assert_nothing_more(sockets[who], room, level=0 if change == "removed" else 1)
    for sock in sockets.values():
        await sock.close()


async def _closed_within(sock, seconds=WITHIN):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        await sock.recv(0.05)
        if sock.closed_code is not None:
            return sock.closed_code
    return None


async def test_logout_closes_the_socket(room):
    client, sock = await _socket(room["users"]["open"])
    await database_sync_to_async(client.logout)()
    assert await _closed_within(sock) == 4401
    await sock.close()


async def test_logout_elsewhere_leaves_this_session_open(room):
    """Each socket checks its own session: logging out another tab's session doesn't close it."""
    _client, sock = await _socket(room["users"]["open"])
    other_client, _cookie = await database_sync_to_async(_login)(room["users"]["open"])
    await database_sync_to_async(other_client.logout)()
    assert await _closed_within(sock, 0.5) is None
    await database_sync_to_async(post)(room, "moderator", "still here")
    await sock.until(lambda f: f["type"] == "event", timeout=WITHIN)
    await sock.close()


async def test_ended_session_closes_the_socket(room):
    from allauth.usersessions.adapter import get_adapter
    from allauth.usersessions.models import UserSession

    client, sock = await _socket(room["users"]["open"])

    def end() -> None:
        key = client.session.session_key
        session = UserSession.objects.filter(session_key=key).first()
        if session is None:  # force_login bypasses the middleware that records it
            session = UserSession.objects.create(
                user=room["users"]["open"], session_key=key, ip="127.0.0.1"
            )
        get_adapter().end_sessions([session])

    await database_sync_to_async(end)()
    assert await _closed_within(sock) == 4401
    await sock.close()


async def test_password_change_closes_other_sessions(room):
    from allauth.account.signals import password_changed

    user = room["users"]["open"]
    _client, sock = await _socket(user)

    def change() -> None:
        user.set_password("a-new-long-passphrase-42")
        user.save()
        password_changed.send(sender=type(user), request=None, user=user)

    await database_sync_to_async(change)()
    assert await _closed_within(sock) == 4401
    await sock.close()


async def test_disabled_account_closes_the_socket(room):
    user = room["users"]["open"]
    _client, sock = await _socket(user)

    def disable() -> None:
        user.is_active = False
        user.save()

    await database_sync_to_async(disable)()
    assert await _closed_within(sock) == 4401
    await sock.close()


async def test_ended_session_without_doorbell_stops_delivery_within_a_second(room, monkeypatch):
    monkeypatch.setattr("workspace.realtime.get_channel_layer", lambda: None)
    client, sock = await _socket(room["users"]["open"])
    await database_sync_to_async(client.logout)()
    await asyncio.sleep(WITHIN)  # the socket re-checks its session at most every second
    await database_sync_to_async(post)(room, "moderator", "after logout")
    frames = await sock.drain(0.4)
    assert not [f for f in frames if f["type"] == "event"]
    assert sock.closed_code == 4401
    await sock.close()


async def test_socket_activity_keeps_the_session_alive(room):
    """Chatting over the socket counts as activity for the idle timeout."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client, sock = await _socket(room["users"]["open"])
    key = client.session.session_key

    def expiry():
        return Session.objects.get(session_key=key).expire_date

    def age_session():
        Session.objects.filter(session_key=key).update(
            expire_date=timezone.now() + timezone.timedelta(seconds=30)
        )

    await database_sync_to_async(age_session)()
    before = await database_sync_to_async(expiry)()
    await sock.send(_post_frame(room))
    await sock.until(lambda f: f["type"] == "ack", timeout=WITHIN * 3)
    after = await database_sync_to_async(expiry)()
    assert (after - before).total_seconds() > settings.SESSION_COOKIE_AGE - 60
    await sock.close()


async def test_activity_does_not_revive_an_ended_session(room):
    from messaging.handlers import session_touch

    client, sock = await _socket(room["users"]["open"])
    key = client.session.session_key
    await database_sync_to_async(client.logout)()
    await database_sync_to_async(session_touch)(key)
    from django.contrib.sessions.models import Session

    assert not await database_sync_to_async(Session.objects.filter(session_key=key).exists)()
    await sock.close()


@pytest.mark.parametrize("how", ["logout", "disabled"])
async def test_a_write_frame_right_after_the_session_ended_is_not_written(room, monkeypatch, how):
    """A write frame checks the session in the same database call, before writing: with
    no doorbell and within the second a socket may trust its last check, the post is
    still refused, nothing is stored, and the socket closes."""
    from messaging.models import Message

    monkeypatch.setattr("workspace.realtime.get_channel_layer", lambda: None)
    user = room["users"]["open"]
    client, sock = await _socket(user)

    def end() -> None:
        if how == "logout":
            client.logout()
        else:
            user.is_active = False
            user.save()

    await database_sync_to_async(end)()
    frame = _post_frame(room)
    await sock.send(frame)
    assert await _closed_within(sock) == 4401
    stored = database_sync_to_async(
        Message.objects.filter(client_id=frame["client_id"]).exists
    )
    assert not await stored()
    await sock.close()
