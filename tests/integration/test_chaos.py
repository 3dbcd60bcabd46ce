"""Chaos against the production topology: two daphne processes behind deploy/nginx.conf,
sharing PostgreSQL and Redis (tests/integration/topology.py, chaos_helpers.py).

Every scenario ends with the same check, for clients at every clearance: the events each
one received over all its sockets equal the database's visible list for it — same order,
no gap, no duplicate — and every post was stored exactly once.

- a daphne process is SIGKILLed while clients are connected and posting;
- Redis (a private redis-server both daphne processes use) restarts mid-traffic;
- PostgreSQL goes away mid-traffic (a proxy cuts every connection and refuses new ones,
  which is what a restart looks like to its clients): requests fail cleanly, then recover,
  and nothing is half-written;
- storage fails like a full disk during an upload: a clear error, no orphan blob or row.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from messaging.models import Event, Message
from networks.access import filter_visible
from tests.conftest import require_tool
from tests.integration.chaos_helpers import (
    FAIL_FLAG_ENV,
    ChaosClient,
    PgProxy,
    PrivateRedis,
)
from tests.integration.topology import (
    Daphne,
    Nginx,
    free_port,
    make_workdir,
    nginx_binary,
    request,
    write_nginx,
)
from tests.messaging.conftest import build_room, session_cookie

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

# Clients, by the room's users: (clearance, writes?). Two at OPEN, so one socket's loss
# is compared with another's at the same clearance.
CLIENTS = {
    "open": True,
    "restricted": True,
    "confidential": False,
    "secret": True,
    "moderator": False,
    "observer": False,
}
CLEARANCE = {"open": 0, "restricted": 1, "confidential": 2, "secret": 3, "moderator": 3,
             "observer": 3}
POSTS_PER_WRITER = 24
# Fast limits for the test only: many posts per second from one user.
EXTRA_SETTINGS = """
MESSAGING_FRAME_BURST = 1000
MESSAGING_FRAME_RATE_PER_SECOND = 1000
MESSAGING_USER_WRITES_PER_MINUTE = 100000
"""


@dataclass
class Topology:
    nginx: Nginx
    daphnes: list[Daphne]
    redis: PrivateRedis
    workdir: Path
    pg: PgProxy | None = None
    flag: Path | None = None
    notes: list[str] = field(default_factory=list)

    def logs(self) -> str:
        parts = [f"--- {d.log_path.name}\n{d.log()[-6000:]}" for d in self.daphnes]
        return "\n".join(parts) + f"\n--- nginx error.log\n{self.nginx.error_log()[-3000:]}"


def _require_tools() -> None:
    if nginx_binary() is None:
        require_tool("nginx", "install it with: apt-get install -y nginx")
    require_tool("redis-server", "install it with: apt-get install -y redis-server")


@pytest.fixture
def room(transactional_db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return build_room()


def _start(*, pg_proxy: bool = False, flaky_storage: bool = False) -> Topology:
    _require_tools()
    workdir = make_workdir("workspace-chaos-")
    redis = PrivateRedis(workdir)
    redis.start()
    env = {"REDIS_URL": redis.url}
    extra = EXTRA_SETTINGS
    pg = None
    if pg_proxy:
        db = connection.settings_dict
        pg = PgProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
        pg.up()
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        # conn_max_age=0: a fresh connection per request, so recovery does not wait for
        # a health check; the sockets' persistent connections are health-checked anyway.
        env["DATABASE_URL"] = (f"postgres://{db['USER']}{password}@127.0.0.1:{pg.port}/"
                               f"{db['NAME']}?connect_timeout=2")
    flag = None
    if flaky_storage:
        flag = workdir / "storage-fails"
        env[FAIL_FLAG_ENV] = str(flag)
        extra += ('STORAGES["default"] = '
                  '{"BACKEND": "tests.integration.chaos_helpers.FlakyStorage"}\n')
    daphnes = [Daphne(port=free_port(), workdir=workdir, extra_env=env, extra_settings=extra)
               for _ in range(2)]
    nginx = write_nginx(daphnes, workdir)
    topology = Topology(nginx=nginx, daphnes=daphnes, redis=redis, workdir=workdir, pg=pg,
                        flag=flag)
    try:
        for daphne in daphnes:
            daphne.start()
        nginx.start()
    except Exception:
        _stop(topology)
        raise
    return topology


def _stop(topology: Topology) -> None:
    topology.nginx.stop()
    for daphne in topology.daphnes:
        daphne.stop()
    topology.redis.stop()
    if topology.pg is not None:
        topology.pg.close()
    shutil.rmtree(topology.workdir, ignore_errors=True)


@pytest.fixture
def topology_factory() -> Iterator[Any]:
    started: list[Topology] = []

    def start(**kwargs: Any) -> Topology:
        topology = _start(**kwargs)
        started.append(topology)
        return topology

    yield start
    for topology in started:
        _stop(topology)


# --- the traffic and the final check --------------------------------------------------


def _clients(room: dict[str, Any], port: int) -> dict[str, ChaosClient]:
    space_id = room["space"].pk
    return {who: ChaosClient(who, session_cookie(room["users"][who]), port, space_id)
            for who in CLIENTS}


async def _traffic(room: dict[str, Any], clients: dict[str, ChaosClient], fault: Any,
                   *, fault_at: float = 0.8, budget: float = 40) -> dict[str, list[dict]]:
    """Every client connected; writers post; `fault()` runs (in a thread) mid-traffic;
    each client keeps reconnecting until the writers are done; then a final sync."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    topic_id = room["topic"].pk
    for client in clients.values():
        await client.ensure_connected(deadline)
    done = asyncio.Event()

    async def keep_connected(client: ChaosClient) -> None:
        while not done.is_set():
            await client.ensure_connected(deadline)
            await asyncio.sleep(0.05)

    async def write(client: ChaosClient) -> list[dict]:
        acks = []
        top = CLEARANCE[client.name]
        for i in range(POSTS_PER_WRITER):
            level = i % (top + 1)
            acks.append(await client.post(topic_id, f"{client.name} {i}", level, deadline))
            await asyncio.sleep(0.06)
        return acks

    async def inject() -> None:
        await asyncio.sleep(fault_at)
        await asyncio.to_thread(fault)

    keepers = [asyncio.ensure_future(keep_connected(c)) for c in clients.values()]
    writers = {who: asyncio.ensure_future(write(c)) for who, c in clients.items() if CLIENTS[who]}
    await asyncio.gather(inject(), *writers.values())
    done.set()
    await asyncio.gather(*keepers)
    for client in clients.values():
        await client.finish(deadline)
    return {who: task.result() for who, task in writers.items()}


def _assert_exactly_once(room: dict[str, Any], clients: dict[str, ChaosClient],
                         acks: dict[str, list[dict]]) -> None:
    space_id = room["space"].pk
    events = Event.objects.filter(space_id=space_id)
    # The database itself: seq without holes, one message.new per message, no strays.
    seqs = list(events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    _assert_nothing_half_written()
    total = sum(len(a) for a in acks.values())
    assert Message.objects.filter(space_id=space_id).count() == total
    ids = [a["message_id"] for acked in acks.values() for a in acked]
    assert len(set(ids)) == total, "a retried post was stored twice"
    for who, client in clients.items():
        user = room["users"][who]
        expected = list(filter_visible(events, user).order_by("seq")
                        .values_list("seq", flat=True))
        assert client.resyncs == [], (who, client.resyncs)
        assert client.max_open_sockets == 1, (who, "more than one socket at a time")
        for resumed_from, stream in client.streams:  # the server's promise, per socket
            assert stream == sorted(set(stream)), (who, "a socket repeated or reordered")
            assert not stream or stream[0] > resumed_from, (who, resumed_from, stream[:3])
        assert len(client.delivered) == len(set(client.delivered)), (who, "duplicates")
        assert client.delivered == expected, (who, client.delivered, expected)
        # and the content is the database's: each message event carries its own message
        for frame in client.frames:
            if frame["kind"] == "message.new":
                assert frame["level"] <= CLEARANCE[who]


def _assert_nothing_half_written() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM messaging_message m WHERE NOT EXISTS ("
            " SELECT 1 FROM messaging_event e WHERE e.message_id = m.id"
            " AND e.kind = 'message.new')")
        assert cursor.fetchone()[0] == 0, "a message without its event"
        cursor.execute(
            "SELECT count(*) FROM messaging_event e WHERE e.kind LIKE 'message.%%' AND ("
            " e.message_id IS NULL OR NOT EXISTS ("
            "  SELECT 1 FROM messaging_message m WHERE m.id = e.message_id))")
        assert cursor.fetchone()[0] == 0, "an event without its message"
        cursor.execute(
            "SELECT count(*) FROM messaging_spacesequence q WHERE q.last_seq <> COALESCE(("
            " SELECT max(seq) FROM messaging_event e WHERE e.space_id = q.space_id), 0)")
        assert cursor.fetchone()[0] == 0, "a sequence ahead of (or behind) its events"


async def _close_all(clients: dict[str, ChaosClient]) -> None:
    print("sockets opened per client:", {w: c.connects for w, c in clients.items()},
          "failed attempts:", sum(c.failed_connects for c in clients.values()))
    for client in clients.values():
        await client.close()
    await asyncio.sleep(0.05)  # let the cancelled readers finish inside this loop


async def _live_delivery(room: dict[str, Any], clients: dict[str, ChaosClient],
                         within: float) -> float:
    """One new post must reach every client (no sync) within `within` seconds."""
    loop = asyncio.get_running_loop()
    writer = clients["open"]
    before = {who: len(c.delivered) for who, c in clients.items()}
    start = loop.time()
    ack = await writer.post(room["topic"].pk, "after the fault", 0, start + 20)
    seq = ack["seq"]
    while loop.time() - start < within:
        if all(seq in c.delivered for c in clients.values()):
            return loop.time() - start
        await asyncio.sleep(0.02)
    missing = [w for w, c in clients.items() if seq not in c.delivered[before[w]:]]
    raise AssertionError(f"not delivered live within {within}s to {missing}")


# --- 1. SIGKILL one daphne ---------------------------------------------------------------


def test_sigkill_a_daphne_clients_resume_exactly_once(room, topology_factory):
    topology = topology_factory()
    a, b = topology.daphnes
    clients = _clients(room, topology.nginx.port)

    async def scenario() -> dict[str, list[dict]]:
        try:
            acks = await _traffic(room, clients, a.kill)
            # The survivor serves everyone, live.
            await _live_delivery(room, clients, within=3)
            return acks
        finally:
            await _close_all(clients)

    try:
        acks = asyncio.run(scenario())
    except BaseException:
        print(topology.logs())
        raise
    assert a.process is not None and a.process.returncode == -9
    assert b.process is not None and b.process.poll() is None
    # Sockets on the killed process really were cut and came back through nginx.
    assert sum(c.connects for c in clients.values()) > len(clients), "no client reconnected"
    # The post after the fault is part of the final check too.
    acks["open"].append({"message_id": Message.objects.order_by("-pk").first().pk})
    _assert_exactly_once(room, clients, acks)


# --- 2. Redis restart ------------------------------------------------------------------


def test_redis_restart_mid_traffic_recovers_without_a_manual_step(room, topology_factory):
    topology = topology_factory()
    clients = _clients(room, topology.nginx.port)

    async def scenario() -> tuple[dict[str, list[dict]], float]:
        try:
            acks = await _traffic(room, clients, lambda: topology.redis.restart(0.5))
            # Back to normal: health through the proxy, and a new post delivered live.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while (await asyncio.to_thread(request, topology.nginx.port, "GET",
                                           "/healthz")).status != 200:
                assert loop.time() < deadline, "healthz never recovered"
                await asyncio.sleep(0.2)
            latency = await _live_delivery(room, clients, within=2)
            return acks, latency
        finally:
            await _close_all(clients)

    try:
        acks, latency = asyncio.run(scenario())
    except BaseException:
        print(topology.logs())
        raise
    print(f"live delivery after the Redis restart: {latency * 1000:.0f} ms")
    assert all(d.process is not None and d.process.poll() is None for d in topology.daphnes)
    acks["open"].append({"message_id": Message.objects.order_by("-pk").first().pk})
    _assert_exactly_once(room, clients, acks)


# --- 3. PostgreSQL outage --------------------------------------------------------------


def test_postgres_outage_fails_cleanly_and_leaves_nothing_half_written(room, topology_factory):
    topology = topology_factory(pg_proxy=True)
    assert topology.pg is not None
    clients = _clients(room, topology.nginx.port)
    space, topic = room["space"], room["topic"]
    page = f"/spaces/{space.pk}/topics/{topic.pk}/"
    cookie = session_cookie(room["users"]["open"]).decode()
    observed: dict[str, Any] = {"http": [], "ws": []}

    def outage() -> None:
        topology.pg.down()
        try:
            # During the outage: pages fail with the friendly 5xx page, not a hang or crash.
            for _ in range(4):
                reply = request(topology.nginx.port, "GET", page, headers={"Cookie": cookie},
                                timeout=15)
                observed["http"].append((reply.status, reply.body))
        finally:
            import time

            time.sleep(1.0)
            topology.pg.up()

    async def scenario() -> dict[str, list[dict]]:
        try:
            acks = await _traffic(room, clients, outage, budget=50)
            await _live_delivery(room, clients, within=3)
            return acks
        finally:
            await _close_all(clients)

    try:
        acks = asyncio.run(scenario())
    except BaseException:
        print(topology.logs())
        raise
    statuses = [status for status, _ in observed["http"]]
    assert statuses and all(500 <= s < 600 for s in statuses), statuses
    for _, body in observed["http"]:
        text = body.decode(errors="replace")
        assert "Traceback" not in text and "OperationalError" not in text, text[:500]
        assert "password" not in text and "postgres" not in text.lower(), text[:500]
    # WebSocket side: a frame during the outage got an error frame (then the retry acked).
    errors = [e for c in clients.values() for e in c.errors]
    assert all(e["code"] == "server_error" for e in errors), errors
    assert all(d.process is not None and d.process.poll() is None for d in topology.daphnes)
    # After the outage: pages work again.
    assert request(topology.nginx.port, "GET", page, headers={"Cookie": cookie}).status == 200
    acks["open"].append({"message_id": Message.objects.order_by("-pk").first().pk})
    _assert_exactly_once(room, clients, acks)
    retried = sum(a.get("attempts", 1) > 1 for acked in acks.values() for a in acked)
    print(f"HTTP during outage: {statuses}; WS error frames: {len(errors)}; "
          f"posts retried: {retried}; proxied DB connections: {topology.pg.connections}")


# --- 4. Storage failure during an upload ---------------------------------------------------


def _upload_headers(user: Any) -> dict[str, str]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = secrets.token_hex(16)
    return {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
        "X-CSRFToken": csrf,
        "Content-Type": "application/octet-stream",
    }


def _blobs() -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("failing", ["payload", "header"])
def test_storage_failure_during_upload_leaves_no_orphan(room, topology_factory, failing):
    from documents.crypto import encrypt
    from documents.keys import space_key_current
    from documents.models import Document, DocumentVersion

    topology = topology_factory(flaky_storage=True)
    assert topology.flag is not None
    space = room["space"]
    plaintext = b"minutes\n" + base64.b64encode(os.urandom(300_000)) + b"\n"
    ciphertext = encrypt(plaintext, [space_key_current(space=space).recipient])
    headers = _upload_headers(room["users"]["secret"])

    def upload(title: str) -> Any:
        meta = base64.urlsafe_b64encode(
            json.dumps({"title": title, "filename": "minutes.txt"}).encode()).decode()
        return request(topology.nginx.port, "POST", f"/spaces/{space.pk}/documents/upload/",
                       headers={**headers, "X-Document-Meta": meta.rstrip("=")},
                       body=ciphertext)

    topology.flag.write_text(failing)
    failed = upload("Disk full")
    text = failed.body.decode(errors="replace")
    try:
        assert failed.status == 507, (failed.status, text[:300])
        assert "Traceback" not in text and "No space left" not in text, text[:500]
        assert failed.headers.get("Content-Type", "").startswith("application/json"), text
        assert json.loads(failed.body)["error"] == "storage_full", text
        # Nothing left: no row, no blob (not even the half-written one).
        assert Document.objects.count() == 0 and DocumentVersion.objects.count() == 0
        assert _blobs() == []
        assert all(d.process is not None and d.process.poll() is None for d in topology.daphnes)
    except BaseException:
        print(topology.logs())
        raise
    print(f"storage failure ({failing}): HTTP {failed.status} "
          f"{failed.headers.get('Content-Type')}")

    # The disk has room again: the same upload succeeds, with exactly its two objects.
    topology.flag.unlink()
    ok = upload("After the disk was freed")
    assert ok.status == 201, (ok.status, ok.body[:300])
    version = DocumentVersion.objects.get()
    assert sorted([version.header_name, version.payload_name]) == _blobs()


def test_postgres_outage_page_is_the_friendly_one(room, topology_factory):
    topology = topology_factory(pg_proxy=True)
    assert topology.pg is not None
    space, topic = room["space"], room["topic"]
    cookie = session_cookie(room["users"]["open"]).decode()
    topology.pg.down()
    try:
        replies = [request(topology.nginx.port, "GET", path, headers={"Cookie": cookie},
                           timeout=15)
                   for path in (f"/spaces/{space.pk}/topics/{topic.pk}/", "/")]
    finally:
        topology.pg.up()
    print(topology.logs()[-4000:])
    for reply in replies:
        assert reply.status == 500, reply.status
        assert "Something went wrong" in reply.body.decode(errors="replace")
