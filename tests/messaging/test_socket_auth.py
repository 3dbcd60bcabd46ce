"""The handshake's user lookup (messaging/socket_auth.py) runs Channels' own check on the
sockets' database threads, not on the one shared thread that reconnects at every call."""

from __future__ import annotations

import threading

import pytest
from channels.db import database_sync_to_async

from messaging import socket_auth
from tests.messaging.conftest import Socket, open_socket, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_the_user_is_resolved_on_a_socket_database_thread(room, monkeypatch):
    threads: list[str] = []
    real = socket_auth._resolve_user

    def recording(scope):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(scope)

    monkeypatch.setattr(socket_auth, "_resolve_user", recording)
    sock = await open_socket(room["users"]["open"])
    assert sock.frames[0]["type"] == "ack"  # authenticated: hello answered
    await sock.close()
    assert threads and all(name.startswith("ws-db") for name in threads), threads


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
