"""Two real daphne processes against the real Redis and the test PostgreSQL database.

A client on each posts; each sees the other's messages exactly once and in order, equal
to the database's visible list for its clearance.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from messaging.models import Event
from networks.access import filter_visible
from tests.messaging.conftest import session_cookie
from tests.messaging.wsclient import WsClient

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
POSTS_EACH = 15


def _free_port() -> int:
    from tests.integration.topology import free_port

    return free_port()  # never the same port twice in a process


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


def _start_daphne(port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",  # WsClient's origin
        "WORKSPACE_MASTER_KEY": "11" * 32,
        "WORKSPACE_DATA_DIR": tempfile.mkdtemp(prefix="workspace-daphne-"),
    }
    daphne = Path(sys.executable).with_name("daphne")
    return subprocess.Popen(  # noqa: S603 - fixed arguments, our own interpreter
        [str(daphne), "-b", "127.0.0.1", "-p", str(port), "workspace.asgi:application"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on {port}")


async def _scenario(ports: list[int], cookies: dict[str, bytes], room: dict) -> dict[str, list]:
    space_id, topic_id = room["space"].pk, room["topic"].pk
    clients = {}
    for (who, cookie), port in zip(cookies.items(), ports, strict=True):
        client = WsClient()
        await client.connect("127.0.0.1", port, cookie=cookie)
        hello = await client.request({"type": "hello", "resume": {str(space_id): 0}})
        assert hello["type"] == "ack", hello
        clients[who] = client

    async def write(who: str, client: WsClient) -> None:
        for i in range(POSTS_EACH):
            level = i % 3 if who == "secret" else 0
            reply = await client.request({
                "type": "post", "space_id": space_id, "topic_id": topic_id,
                "body": f"{who} {i}", "level": level, "tlp": "GREEN"})
            assert reply["type"] == "ack", reply

    await asyncio.gather(*(write(who, c) for who, c in clients.items()))
    # Everything must arrive by the doorbells of the other process (no sync needed)...
    await asyncio.sleep(1.5)
    for client in clients.values():
        await client.drain(0.5)
    seen_live = {who: c.event_seqs(space_id) for who, c in clients.items()}
    # ...and a sync afterwards adds nothing.
    for client in clients.values():
        await client.request({"type": "sync"})
        await client.drain(0.3)
        await client.close()
    return {"live": seen_live, "final": {w: c.event_seqs(space_id) for w, c in clients.items()}}


def test_two_daphne_processes_deliver_exactly_once(room, tmp_path):
    users = room["users"]
    cookies = {"open": session_cookie(users["open"]), "secret": session_cookie(users["secret"])}
    ports = [_free_port(), _free_port()]
    processes = []
    try:
        for i, port in enumerate(ports):
            processes.append(_start_daphne(port, tmp_path / f"daphne{i}.log"))
        for port, process in zip(ports, processes, strict=True):
            _wait_for_port(port, process)
        result = asyncio.run(_scenario(ports, cookies, room))
    except Exception:
        for log in sorted(tmp_path.glob("daphne*.log")):
            print(log.name, log.read_text(errors="replace")[-4000:])
        raise
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    space_id = room["space"].pk
    for who in ("open", "secret"):
        expected = list(filter_visible(Event.objects.filter(space_id=space_id), users[who])
                        .order_by("seq").values_list("seq", flat=True))
        assert result["live"][who] == expected, who
        assert result["final"][who] == expected, who
    # each saw the other's posts: the open member sees the secret member's OPEN ones
    assert len(result["live"]["secret"]) == 1 + 2 * POSTS_EACH
    assert len(result["live"]["open"]) == 1 + POSTS_EACH + len(range(0, POSTS_EACH, 3))
