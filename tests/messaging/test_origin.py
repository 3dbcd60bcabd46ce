"""The WebSocket origin check compares scheme, host and port with the configured origins
(#35 item 8): a page on another port or scheme of an allowed host opens no socket."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.messaging.conftest import Socket, session_cookie


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "origin",
    [
        b"http://testserver:9999",  # the same host, another port (the red team's probe)
        b"https://testserver",  # the same host, another scheme (and port)
        b"http://127.0.0.1:9999",  # an allowed host, not a configured origin
        b"http://evil.example",
        b"null",
        b"",
    ],
)
async def test_a_socket_from_another_origin_is_refused(room, origin):
    cookie = await database_sync_to_async(session_cookie)(room["users"]["open"])
    sock = Socket(cookie, origin=origin)
    assert not await sock.connect()
    await sock.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_configured_origin_opens_an_authenticated_socket(room):
    cookie = await database_sync_to_async(session_cookie)(room["users"]["open"])
    sock = Socket(cookie, origin=b"http://testserver")
    assert await sock.connect()
    await sock.hello()
    await sock.close()


def test_production_default_is_https_on_each_allowed_host(tmp_path):
    """Without DJANGO_ALLOWED_ORIGINS: https on port 443 for each allowed host, no port
    wildcard, and the demo server's origins only in DEBUG."""
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.WORKSPACE_ALLOWED_ORIGINS)"
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "workspace.example.org,127.0.0.1",
        "WORKSPACE_DATA_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert out.strip() == "['https://workspace.example.org', 'https://127.0.0.1']"
