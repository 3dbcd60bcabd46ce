"""The handshake's user lookup (messaging/socket_auth.py): Channels' checks and the
socket's session check, batched on the sockets' database threads, so connect and hello
do not read the session again."""

from __future__ import annotations

import asyncio
import threading
from importlib import import_module

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.sessions.models import Session

from messaging import handlers
from messaging.consumers import RealtimeConsumer
from tests.messaging.conftest import Socket, open_socket, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_the_user_is_resolved_on_a_socket_database_thread(room, monkeypatch):
    threads: list[str] = []
    real = handlers.handshake_users

    def recording(key, session_keys):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(key, session_keys)

    monkeypatch.setattr(handlers, "handshake_users", recording)
    sock = await open_socket(room["users"]["open"])
    assert sock.frames[0]["type"] == "ack"  # authenticated: hello answered
    await sock.close()
    assert threads and all(name.startswith("ws-db") for name in threads), threads


async def test_connect_and_hello_do_not_read_the_session_again(room, monkeypatch):
    """The handshake checked the session and read the MFA check with the user; the
    consumer's connect trusts that, and hello reads the session with the spaces."""
    forced: list[bool] = []
    real = RealtimeConsumer._session_valid

    async def recording(self, *, force=False):  # type: ignore[no-untyped-def]
        forced.append(force)
        return await real(self, force=force)

    def no_mfa_read(user):  # type: ignore[no-untyped-def]
        raise AssertionError("the MFA check was read again")

    monkeypatch.setattr(RealtimeConsumer, "_session_valid", recording)
    monkeypatch.setattr(handlers, "has_mfa", no_mfa_read)
    sock = await open_socket(room["users"]["secret"])
    assert sock.frames[0]["type"] == "ack"
    assert str(room["space"].pk) in sock.frames[0]["spaces"]
    await sock.close()
    assert forced == []


async def test_hellos_arriving_together_share_one_read(room, monkeypatch):
    """Sockets saying hello in the same turn of the event loop: one hello_many call."""
    calls: list[int] = []
    real = handlers.hello_many

    def recording(key, items):  # type: ignore[no-untyped-def]
        calls.append(len(items))
        return real(key, items)

    users = [room["users"][name] for name in ("open", "restricted", "secret", "outsider")]
    socks = []
    for user in users:
        sock = Socket(await database_sync_to_async(session_cookie)(user))
        assert await sock.connect()
        socks.append(sock)
    monkeypatch.setattr(handlers, "hello_many", recording)
    acks = await asyncio.gather(*(sock.hello() for sock in socks))
    assert [sorted(ack["spaces"]) for ack in acks] == [
        [str(room["space"].pk)]] * 3 + [[str(room["other_space"].pk)]]
    assert sum(calls) == len(users) and len(calls) < len(users), calls
    for sock in socks:
        await sock.close()


async def test_a_session_ended_before_hello_is_closed_at_hello(room):
    user = room["users"]["open"]
    cookie = await database_sync_to_async(session_cookie)(user)
    sock = Socket(cookie)
    assert await sock.connect()

    def end_session() -> None:
        Session.objects.filter(session_key=cookie.decode().split("=", 1)[1]).delete()

    await database_sync_to_async(end_session)()
    await sock.send({"type": "hello", "client_id": "h1", "resume": {}})
    assert await sock.recv(1) is None and sock.closed_code == 4401
    await sock.close()


async def test_a_session_whose_password_changed_is_refused(room):
    user = room["users"]["open"]
    cookie = await database_sync_to_async(session_cookie)(user)

    def change_password() -> None:
        user.set_password("another long passphrase 17")
        user.save()

    await database_sync_to_async(change_password)()
    sock = Socket(cookie)
    await sock.connect()
    assert await sock.recv(1) is None and sock.closed_code == 4401
    await sock.close()


@pytest.mark.parametrize(
    "value",
    [
        "x" * 4000,  # far longer than any session key
        "short",  # shorter than Django accepts: no lookup at all
        "' OR '1'='1'; --",
        "ключ-сессии-которого-нет",
        "%00%ff\\\\..//",
    ],
)
async def test_a_hostile_session_cookie_is_refused_and_changes_nothing(room, value):
    before = await database_sync_to_async(Session.objects.count)()
    sock = Socket(f"{settings.SESSION_COOKIE_NAME}={value}".encode())
    await sock.connect()
    assert await sock.recv(1) is None and sock.closed_code == 4401
    await sock.close()
    assert await database_sync_to_async(Session.objects.count)() == before
    # A real session still works beside it.
    other = await open_socket(room["users"]["open"])
    assert other.frames[0]["type"] == "ack"
    await other.close()


async def test_a_consumer_mounted_without_the_handshake_check_refuses(room):
    """The consumer trusts only the handshake's own answers: a scope whose user was set
    some other way (another auth middleware, or none) is closed 4401."""
    from channels.testing import WebsocketCommunicator

    user = room["users"]["open"]
    key = (await database_sync_to_async(session_cookie)(user)).decode().split("=", 1)[1]
    communicator = WebsocketCommunicator(RealtimeConsumer.as_asgi(), "/ws/")
    communicator.scope["user"] = user
    communicator.scope["session"] = import_module(settings.SESSION_ENGINE).SessionStore(key)
    connected, _ = await communicator.connect()
    assert connected  # accepted first, so the close code reaches the browser
    closing = await communicator.receive_output(2)
    assert closing == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()
