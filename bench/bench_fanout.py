"""Fan-out latency: one post in a space with N connected members, until the last one has it.

Compared in the same run with a bare baseline consumer (group_send to a group, no auth, no
database), and with a "floor": the bare consumer plus one durable write committed before
its broadcast, the least any stored-before-sent event costs on this database. All run
in this process on the in-memory channel layer, driven through channels'
WebsocketCommunicator (no network), so the ratio isolates the server's work:
authentication, the database write, the per-socket visibility query and serialisation;
"vs floor" is ours against the floor, what the workspace adds beyond the write itself.

    .venv/bin/python bench/bench_fanout.py [--sizes 10,100,500] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_tmp = tempfile.mkdtemp(prefix="bench-fanout-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["WORKSPACE_DATA_DIR"] = _tmp
# --conn-max-age N keeps the consumers' database connection open (Django's CONN_MAX_AGE);
# the project default, 0, reconnects on every database_sync_to_async call.
_age = sys.argv[sys.argv.index("--conn-max-age") + 1] if "--conn-max-age" in sys.argv else "0"
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3?conn_max_age={int(_age)}"
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402


class BareConsumer(AsyncWebsocketConsumer):
    """The baseline: what any Channels fan-out costs."""

    async def connect(self) -> None:
        await self.channel_layer.group_add("bench", self.channel_name)
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.channel_layer.group_send("bench", {"type": "bench.message", "text": text_data})

    async def bench_message(self, message: dict) -> None:
        await self.send(text_data=message["text"])

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard("bench", self.channel_name)


class FloorConsumer(BareConsumer):
    """The bare consumer plus the one thing a stored-before-sent event cannot skip: a
    durable write, committed before the broadcast (one row, one transaction, on the same
    database and thread pool as the workspace's sockets). What the workspace adds beyond
    this is its own cost; this much is the database's."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        from messaging.dbthreads import in_db_thread

        await in_db_thread(_durable_write)(text_data)
        await self.channel_layer.group_send("bench", {"type": "bench.message", "text": text_data})


def _durable_write(text: str) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (body) VALUES (%s)", [text])


bare_app = URLRouter([path("ws/", BareConsumer.as_asgi())])
floor_app = URLRouter([path("ws/", FloorConsumer.as_asgi())])


def setup_world(members: int) -> tuple[int, int, list[bytes]]:
    """A space with `members` MFA users (level 0..3), one session cookie each."""
    from allauth.mfa.models import Authenticator
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from messaging.services import topic_create
    from networks.models import Network, Space
    from networks.services import membership_set
    from workspace.accounts.models import User
    from workspace.accounts.receivers import SESSION_LOGIN_AT

    call_command("migrate", verbosity=0)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, body TEXT)")
    network = Network.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}")
    space = Space.objects.create(network=network, name="Bench space", slug="bench")
    admin = User.objects.create_user(f"admin-{uuid.uuid4().hex[:6]}@bench.example")
    cookies = []
    users = []
    for i in range(members):
        user = User.objects.create_user(f"m{i}-{uuid.uuid4().hex[:6]}@bench.example")
        Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={})
        membership_set(space=space, user=user, clearance=i % 4, acting_user=admin)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session[SESSION_LOGIN_AT] = int(time.time())
        session.create()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode())
        users.append(user)
    topic = topic_create(space=space, name=f"Bench {members}", acting_user=users[-1])
    return space.pk, topic.pk, cookies


async def _next_matching(communicator: WebsocketCommunicator, predicate) -> None:  # noqa: ANN001
    while True:
        output = await communicator.output_queue.get()
        if output["type"] == "websocket.send" and predicate(json.loads(output["text"])):
            return


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)

    def pick(p: float) -> float:
        return samples[min(len(samples) - 1, round(p * (len(samples) - 1)))] * 1000

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


async def bench_bare(members: int, rounds: int, app: Any = bare_app) -> dict[str, float]:
    sockets = [WebsocketCommunicator(app, "/ws/") for _ in range(members + 1)]
    for s in sockets:
        assert (await s.connect())[0]
    sender, receivers = sockets[0], sockets[1:]
    samples = []
    for r in range(rounds):
        waits = [asyncio.ensure_future(_next_matching(s, lambda f, r=r: f.get("n") == r))
                 for s in receivers]
        start = time.perf_counter()
        await sender.send_to(text_data=json.dumps({"n": r}))
        await asyncio.gather(*waits)
        samples.append(time.perf_counter() - start)
        await _next_matching(sender, lambda f, r=r: f.get("n") == r)
    for s in sockets:
        await s.disconnect()
    return _percentiles(samples)


async def bench_workspace(space_id: int, topic_id: int, cookies: list[bytes],
                          rounds: int) -> dict[str, float]:
    from workspace.asgi import application

    headers = [(b"origin", b"http://testserver")]
    sockets = [WebsocketCommunicator(application, "/ws/", headers=[*headers, (b"cookie", c)])
               for c in cookies]
    for s in sockets:
        assert (await s.connect())[0]
        await s.send_to(text_data=json.dumps({"type": "hello", "client_id": str(uuid.uuid4())}))
        await _next_matching(s, lambda f: f["type"] == "ack")
    # Drop the presence frames the hellos set off (N sockets tell N sockets), and wait
    # until they have stopped arriving: the rounds time a post, not the connection storm.
    quiet = 0
    while quiet < 3:
        await asyncio.sleep(0.2)
        drained = 0
        for s in sockets:
            while not s.output_queue.empty():
                s.output_queue.get_nowait()
                drained += 1
        quiet = quiet + 1 if drained == 0 else 0
    sender, receivers = sockets[-1], sockets  # the poster (SECRET) receives its own event too
    samples = []
    for r in range(rounds):
        body = f"round {r}"
        waits = [asyncio.ensure_future(_next_matching(
            s, lambda f, body=body: f["type"] == "event"
            and f["data"].get("message", {}).get("body") == body)) for s in receivers]
        start = time.perf_counter()
        await sender.send_to(text_data=json.dumps({
            "type": "post", "client_id": str(uuid.uuid4()), "space_id": space_id,
            "topic_id": topic_id, "body": body, "level": 0, "tlp": "GREEN"}))
        await asyncio.gather(*waits)
        samples.append(time.perf_counter() - start)
    for s in sockets:
        await s.disconnect()
    return _percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--conn-max-age", type=int, default=0)
    args = parser.parse_args()
    settings.MESSAGING_FRAME_BURST = 10_000
    settings.MESSAGING_USER_WRITES_PER_MINUTE = 100_000
    print(f"fan-out latency, in-memory layer, one process (ms); {args.rounds} rounds; "
          f"CONN_MAX_AGE={args.conn_max_age}")
    print(f"{'members':>8} | {'bare p50':>8} {'p95':>7} {'p99':>7} | "
          f"{'floor p50':>9} {'p95':>7} | "
          f"{'ours p50':>8} {'p95':>7} {'p99':>7} | {'p95 ratio':>9} | {'vs floor':>8}")
    for size in [int(s) for s in args.sizes.split(",")]:
        space_id, topic_id, cookies = setup_world(size)
        rounds = args.rounds if size < 500 else max(10, args.rounds // 2)
        bare = asyncio.run(bench_bare(size, rounds))
        floor = asyncio.run(bench_bare(size, rounds, floor_app))
        ours = asyncio.run(bench_workspace(space_id, topic_id, cookies, rounds))
        print(f"{size:>8} | {bare['p50']:8.1f} {bare['p95']:7.1f} {bare['p99']:7.1f} | "
              f"{floor['p50']:9.1f} {floor['p95']:7.1f} | "
              f"{ours['p50']:8.1f} {ours['p95']:7.1f} {ours['p99']:7.1f} | "
              f"{ours['p95'] / bare['p95']:8.2f}x | {ours['p95'] / floor['p95']:7.2f}x")


if __name__ == "__main__":
    main()
