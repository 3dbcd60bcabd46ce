"""`make loadtest`: simulated users against the production topology, ramped until a limit breaks.

Topology (all on loopback): N daphne processes (production settings, DEBUG off) behind
deploy/nginx.conf (TLS swapped for a plain listen, as in tests/integration/topology.py),
sharing PostgreSQL (`--database-url`, default a `workspace_loadtest` database, created and
migrated if missing) and Redis (a private redis-server on a free port, or `--redis-url`).

Each simulated user has a real session created up front in the database (no login
traffic), is a member of one space of `--space-size` members at a clearance 0..3, and:
opens a socket (`/ws/`, `hello`), reads the history (GET the topic page), then every
~60 s / `--speedup` posts a message (WebSocket `post`, timed to its `ack`) at a level up
to its clearance, now and then GETs a page (topic list, topic page, documents) and
sometimes uploads a small document (one-shot route, age ciphertext from
`documents.crypto.encrypt`).

Users are added in steps (`--steps`); each step is held for `--hold` seconds, measured
from when every user has connected and read the history, every request started during
the ramp has finished (the ramp line prints that wait, "settled in"), and `--warmup`
more seconds have passed at the step's steady pace (default 15; its numbers are printed
on a "warm-up" line and never judged: a ramp leaves deliveries and refreshes behind for
a while after its own requests are done). A step
passes when all of Mattermost's published pass criteria hold over its hold window:
average request < 100 ms, p99 < 2 s, errors < 0.025 %, CPU < 85 % (the daphne processes'
share of the machine's cores, from /proc/<pid>/stat). The first failing step ends the
ramp; the last passing one is "max users held".

The baseline, in the same run: a bare Channels echo consumer (`bench/echo_asgi.py`) on
as many daphne processes behind the same nginx config, driven with the same users and
steps (socket + one echoed frame per post interval; no HTTP, no database).

    .venv/bin/python bench/loadtest.py --steps 1000,2000,3000 --hold 40 --speedup 2

Bounded: at most `--max-minutes` in total (default 20), at most max(--steps) users.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET_KEY = "loadtest-only-secret-" + "s" * 40
MASTER_KEY = "42" * 32
LIMITS = {"avg_ms": 100.0, "p99_ms": 2000.0, "error_pct": 0.025, "cpu_pct": 85.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


# --- measurement -----------------------------------------------------------------------


@dataclass
class Window:
    """Samples of one measured window: every request's and every delivery's (seconds into
    the window when it finished, seconds it took), so the slow ones can be told apart as
    spread over the window or bunched (a ramp's aftermath, a stall)."""

    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    started: float = field(default_factory=time.monotonic)
    timeline: list[tuple[float, float]] = field(default_factory=list)  # requests
    delivery_timeline: list[tuple[float, float]] = field(default_factory=list)  # posts

    @property
    def latencies(self) -> list[float]:  # seconds, every request that succeeded
        return [seconds for _, seconds in self.timeline]

    @property
    def deliveries(self) -> list[float]:  # post committed -> received
        return [seconds for _, seconds in self.delivery_timeline]

    def ok(self, kind: str, seconds: float) -> None:
        self.requests += 1
        self.by_kind.setdefault(kind, []).append(seconds)
        self.timeline.append((time.monotonic() - self.started, seconds))

    def delivered(self, seconds: float) -> None:
        self.delivery_timeline.append((time.monotonic() - self.started, seconds))

    def fail(self, kind: str, why: str) -> None:
        self.requests += 1
        key = f"{kind}:{why}"
        self.errors[key] = self.errors.get(key, 0) + 1

    @staticmethod
    def by_slice(timeline: list[tuple[float, float]], p: float,
                 slice_seconds: float = 5.0) -> list[float]:
        """The `p` percentile (ms) in each `slice_seconds` of the window, in order."""
        slices: dict[int, list[float]] = {}
        for at, seconds in timeline:
            slices.setdefault(int(at // slice_seconds), []).append(seconds)
        return [pct(slices.get(i, []), p) for i in range(max(slices, default=-1) + 1)]


class Stats:
    def __init__(self) -> None:
        self.window = Window()
        # Requests in flight, by the generation in which they started: the hold waits
        # until every request the ramp started has finished (`settle`).
        self.generation = 0
        self.inflight: dict[int, int] = {}

    def begin(self) -> int:
        self.inflight[self.generation] = self.inflight.get(self.generation, 0) + 1
        return self.generation

    def end(self, generation: int) -> None:
        self.inflight[generation] -= 1

    async def settle(self, limit: float) -> float:
        """Wait (at most `limit` seconds) until every request started so far has finished;
        the requests users start meanwhile are steady-state traffic. Returns the wait."""
        done_with = self.generation
        self.generation += 1
        start = time.monotonic()
        while time.monotonic() - start < limit and any(
            n for g, n in self.inflight.items() if g <= done_with
        ):
            await asyncio.sleep(0.1)
        return time.monotonic() - start

    def reset(self) -> Window:
        window, self.window = self.window, Window()
        return window


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))] * 1000


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total


def machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values), idle


# --- a small WebSocket and HTTP client ----------------------------------------------------


class Socket:
    """RFC 6455 client over asyncio streams, with the Host/Origin nginx expects."""

    def __init__(self, on_frame: Any) -> None:
        self.on_frame = on_frame
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.closed = asyncio.Event()
        self.close_code = 1006  # until a close frame says otherwise
        self.task: asyncio.Task[None] | None = None

    async def connect(self, port: int, host: str, cookie: str | None) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /ws/ HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", f"Origin: https://{host}"]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            self.writer.close()
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        buffer = b""
        try:
            while True:
                b1, b2 = await self.reader.readexactly(2)
                length = b2 & 0x7F
                if length == 126:
                    length = int.from_bytes(await self.reader.readexactly(2), "big")
                elif length == 127:
                    length = int.from_bytes(await self.reader.readexactly(8), "big")
                payload = await self.reader.readexactly(length)
                opcode = b1 & 0x0F
                if opcode == 0x8:
                    self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                    return
                if opcode == 0x9:
                    self._send(0xA, payload)
                elif opcode in (0x0, 0x1):
                    buffer += payload
                    if b1 & 0x80:
                        self.on_frame(buffer)
                        buffer = b""
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.closed.set()

    def _send(self, opcode: int, payload: bytes) -> None:
        assert self.writer is not None
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        elif n < 1 << 16:
            header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        # XOR with a repeated mask, as one big integer (fast in CPython).
        reps = mask * (n // 4 + 1)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(
            n, "big") if n else b""
        self.writer.write(header + mask + masked)

    def send_json(self, frame: dict[str, Any]) -> None:
        self._send(0x1, json.dumps(frame).encode())

    async def close(self) -> None:
        if self.writer is not None:
            try:
                self._send(0x8, (1000).to_bytes(2, "big"))
                self.writer.close()
            except (ConnectionError, RuntimeError, OSError):
                pass
        if self.task is not None:
            self.task.cancel()


async def http(port: int, host: str, method: str, path: str, *, cookie: str = "",
               headers: dict[str, str] | None = None, body: bytes = b"",
               timeout: float = 30) -> tuple[int, bytes]:
    async def go() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close",
                     f"Content-Length: {len(body)}"]
            if cookie:
                lines.append(f"Cookie: {cookie}")
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            data = await reader.read()
        finally:
            writer.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
        return status, data.split(b"\r\n\r\n", 1)[-1]

    return await asyncio.wait_for(go(), timeout)


async def scrape(ports: list[int], host: str) -> dict[str, float]:
    """The daphne processes' `/metrics` (straight to each, on loopback), summed by series."""
    totals: dict[str, float] = {}
    for port in ports:
        try:
            status, body = await http(port, host, "GET", "/metrics", timeout=10)
        except (OSError, TimeoutError):
            continue
        if status != 200:
            continue
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                totals[series] = totals.get(series, 0.0) + float(value)
    return totals


def server_report(before: dict[str, float], after: dict[str, float], seconds: float,
                  processes: int) -> dict[str, Any]:
    """Where the servers' time went between two scrapes (workspace/runtime_metrics.py)."""
    def delta(name: str, **labels: str) -> float:
        wanted = [f'{key}="{value}"' for key, value in labels.items()]
        return sum(value - before.get(series, 0.0) for series, value in after.items()
                   if series.split("{", 1)[0] == name and all(w in series for w in wanted))

    def ms_per(total: str, count: str, **labels: str) -> float:
        n = delta(count, **labels)
        return 1000 * delta(total, **labels) / n if n else 0.0

    def per_call(name: str, **labels: str) -> float:
        return ms_per(name, "db_thread_calls_total", **labels)

    def labels_of(name: str, label: str) -> list[str]:
        return sorted({series.split(f'{label}="', 1)[1].split('"', 1)[0] for series in after
                       if series.startswith(name + "{") and f'{label}="' in series})

    functions = labels_of("db_thread_calls_total", "fn")
    return {
        "gc_ms_per_s": 1000 * delta("process_gc_pause_seconds_total") / seconds / processes,
        "gc_full": delta("process_gc_collections_total", generation="2"),
        "loop_lag_ms": ms_per("event_loop_lag_seconds_total", "event_loop_probes_total"),
        "loop_stalls": delta("event_loop_stalls_total"),
        "loop_long_stalls": delta("event_loop_long_stalls_total"),
        "handlers": {
            kind: {"n": delta("ws_handlers_total", type=kind),
                   "ms": ms_per("ws_handler_seconds_total", "ws_handlers_total", type=kind),
                   "slow": delta("ws_handlers_slow_total", type=kind)}
            for kind in labels_of("ws_handlers_total", "type")},
        "db_calls": delta("db_thread_calls_total", pool="ws-db"),
        "db_wait_ms": per_call("db_thread_wait_seconds_total", pool="ws-db"),
        "db_run_ms": per_call("db_thread_run_seconds_total", pool="ws-db"),
        "db_by_function": {
            fn: {"calls": delta("db_thread_calls_total", pool="ws-db", fn=fn),
                 "run_ms": per_call("db_thread_run_seconds_total", pool="ws-db", fn=fn)}
            for fn in functions},
        "refreshes": delta("db_thread_calls_total", pool="ws-refresh"),
        "refresh_ms": per_call("db_thread_run_seconds_total", pool="ws-refresh"),
        "http_wait_ms": ms_per("http_request_wait_seconds_total", "http_requests_total"),
    }


def format_server(report: dict[str, Any]) -> str:
    return (f"gc {report['gc_ms_per_s']:.0f} ms/s ({report['gc_full']:.0f} full); "
            f"loop lag {report['loop_lag_ms']:.1f} ms ({report['loop_stalls']:.0f} stalls, "
            f"{report['loop_long_stalls']:.0f} over 1 s); handlers ("
            + ", ".join(f"{kind} {v['n']:.0f} x {v['ms']:.1f} ms, {v['slow']:.0f} slow"
                        for kind, v in report["handlers"].items() if v["n"])
            + "); "
            f"db threads {report['db_calls']:.0f} calls, wait {report['db_wait_ms']:.1f} ms, "
            f"run {report['db_run_ms']:.1f} ms ("
            + ", ".join(f"{fn} {v['calls']:.0f} x {v['run_ms']:.1f}"
                        for fn, v in report["db_by_function"].items() if v["calls"])
            + f"); refresh {report['refreshes']:.0f} x "
            f"{report['refresh_ms']:.0f} ms; request slot wait {report['http_wait_ms']:.1f} ms")


# --- the world: users, spaces, sessions ------------------------------------------------


@dataclass
class SimUser:
    index: int
    cookie: str
    csrf: str
    clearance: int
    space_id: int
    topic_id: int
    recipient: str  # the space's age recipient, for uploads


def setup_django(database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "workspace.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SECRET_KEY"] = SECRET_KEY
    os.environ["DJANGO_ALLOWED_HOSTS"] = "workspace.example.org,127.0.0.1"
    os.environ["WORKSPACE_MASTER_KEY"] = MASTER_KEY
    os.environ.setdefault("WORKSPACE_DATA_DIR", tempfile.mkdtemp(prefix="workspace-load-"))
    os.environ.pop("REDIS_URL", None)  # this process only writes fixtures
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ensure_database(database_url: str) -> None:
    """Create the named PostgreSQL database if it does not exist (never drops one)."""
    if not database_url.startswith("postgres"):
        return
    import psycopg

    base, name = database_url.rsplit("/", 1)
    name = name.split("?", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def build_users(count: int, space_size: int, tag: str) -> list[SimUser]:
    from allauth.mfa.models import Authenticator
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from documents.keys import space_key_current
    from messaging.services import topic_create
    from networks.models import Network, Space
    from networks.services import membership_set
    from workspace.accounts.mfa_session import session_mark_mfa
    from workspace.accounts.models import User
    from workspace.accounts.receivers import SESSION_LOGIN_AT

    network = Network.objects.create(name=f"Load {tag}", slug=f"load-{tag}")
    admin = User.objects.create_user(f"admin-{tag}@load.example")
    users = [User(email=f"u{i}-{tag}@load.example") for i in range(count)]
    for u in users:
        u.set_unusable_password()  # before saving: the session hash derives from it
    users = User.objects.bulk_create(users, batch_size=1000)
    Authenticator.objects.bulk_create(
        [Authenticator(user=u, type=Authenticator.Type.TOTP, data={}) for u in users],
        batch_size=1000)
    spaces: list[tuple[int, int, str]] = []
    store = SessionStore()
    sessions, result = [], []
    expire = timezone.now() + timezone.timedelta(days=1)
    for i, user in enumerate(users):
        if i % space_size == 0:
            current_space = Space.objects.create(
                network=network, name=f"Load space {i // space_size}",
                slug=f"load-{tag}-{i // space_size}")
        clearance = i % 4
        membership_set(space=current_space, user=user, clearance=clearance, acting_user=admin)
        if i % space_size == 0:  # the space's first member opens its topic
            topic = topic_create(space=current_space, name="General", acting_user=user)
            recipient = space_key_current(space=current_space).recipient
            spaces.append((current_space.pk, topic.pk, recipient))
        key = secrets.token_hex(16)
        data = {SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash(),
                SESSION_LOGIN_AT: int(time.time())}
        session_mark_mfa(data, user_id=user.pk, how="totp")  # as after the login's TOTP step
        sessions.append(Session(session_key=key, session_data=store.encode(data),
                                expire_date=expire))
        space_id, topic_id, recipient = spaces[-1]
        csrf = secrets.token_hex(16)
        result.append(SimUser(
            index=i,
            cookie=f"{settings.SESSION_COOKIE_NAME}={key}; {settings.CSRF_COOKIE_NAME}={csrf}",
            csrf=csrf, clearance=clearance, space_id=space_id, topic_id=topic_id,
            recipient=recipient))
    Session.objects.bulk_create(sessions, batch_size=1000)
    return result


# --- processes ------------------------------------------------------------------------


class Topology:
    def __init__(self, workdir: Path, daphnes: int, redis_url: str, app: str,
                 extra_settings: str = "", db_pool: int = 24) -> None:
        from tests.integration.topology import Daphne, write_nginx

        self.daphnes = [Daphne(port=_free_port(), workdir=workdir,
                               extra_env={"REDIS_URL": redis_url,
                                          "WORKSPACE_MASTER_KEY": MASTER_KEY,
                                          "WORKSPACE_LOG_LEVEL": "WARNING",
                                          "WORKSPACE_DB_POOL_SIZE": str(db_pool)},
                               extra_settings=extra_settings)
                        for _ in range(daphnes)]
        self.app = app
        self.nginx = write_nginx(self.daphnes, workdir)

    def start(self) -> None:
        for daphne in self.daphnes:
            if self.app == "workspace":
                daphne.start()
            else:
                _start_plain_daphne(daphne, self.app)
        self.nginx.start()

    def pids(self) -> list[int]:
        return [d.process.pid for d in self.daphnes if d.process is not None]

    def stop(self) -> None:
        self.nginx.stop()
        for daphne in self.daphnes:
            daphne.stop()


def _start_plain_daphne(daphne: Any, app: str) -> None:
    from tests.integration.topology import wait_for_port

    log = open(daphne.log_path, "ab")  # noqa: SIM115 - the child keeps it
    daphne.process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(daphne.port), app],
        cwd=ROOT, env={**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
                       "PYTHONPATH": str(ROOT)}, stdout=log,
        stderr=subprocess.STDOUT)
    log.close()
    if not wait_for_port(daphne.port, daphne.process):
        raise RuntimeError(f"{app} did not start: {daphne.log()}")


def _free_port() -> int:
    from tests.integration.topology import free_port

    return free_port()


def start_private_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir),
         "--maxclients", "20000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    from tests.integration.topology import wait_for_port

    if not wait_for_port(port, process, timeout=10):
        raise RuntimeError("redis-server did not start")
    return process, f"redis://127.0.0.1:{port}/0"


# --- simulated users ---------------------------------------------------------------------


class Load:
    def __init__(self, port: int, host: str, args: argparse.Namespace, stats: Stats,
                 *, echo: bool) -> None:
        self.port, self.host, self.args, self.stats, self.echo = port, host, args, stats, echo
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.interval = 60.0 / args.speedup
        self.disconnects = 0
        self.ready = 0  # users past their socket + hello + history read
        self.retries = 0  # connections that failed (refused, timed out, hello unanswered)

    async def user(self, sim: SimUser, rng: random.Random) -> None:
        pending: dict[str, tuple[asyncio.Future[dict[str, Any]], float]] = {}
        stats = self.stats
        loop = asyncio.get_running_loop()

        def on_frame(raw: bytes) -> None:
            frame = json.loads(raw)
            if self.echo:
                ref = frame.get("client_id")
            else:
                ref = frame.get("ref")
                if frame.get("type") == "event" and frame.get("kind") == "message.new":
                    created = frame["data"]["message"]["created_at"]
                    sent = datetime.fromisoformat(created).timestamp()
                    stats.window.delivered(max(0.0, time.time() - sent))
            entry = pending.get(ref or "")
            if entry is not None and not entry[0].done():
                entry[0].set_result(frame)

        async def call(kind: str, frame: dict[str, Any]) -> bool:
            """Send a frame and time it to its reply; True when acked."""
            ref = str(uuid.uuid4())
            frame["client_id"] = ref
            future = loop.create_future()
            start = loop.time()
            pending[ref] = (future, start)
            generation = stats.begin()
            try:
                sock.send_json(frame)
                done, _ = await asyncio.wait([future, closed], timeout=10,
                                             return_when=asyncio.FIRST_COMPLETED)
                if future in done:
                    reply = future.result()
                    if reply.get("type") == "error":
                        stats.window.fail(kind, reply.get("code", "error"))
                        return False
                    stats.window.ok(kind, loop.time() - start)
                    return True
                stats.window.fail(kind, "socket_closed" if closed in done else "timeout")
                return False
            finally:
                pending.pop(ref, None)
                stats.end(generation)

        async def get(kind: str, path: str) -> None:
            start = loop.time()
            generation = stats.begin()
            try:
                status, _ = await http(self.port, self.host, "GET", path, cookie=sim.cookie)
            except (TimeoutError, OSError) as exc:
                stats.window.fail(kind, type(exc).__name__)
                return
            finally:
                stats.end(generation)
            if status == 200:
                stats.window.ok(kind, loop.time() - start)
            else:
                stats.window.fail(kind, f"http_{status}")

        async def upload() -> None:
            from documents.crypto import encrypt

            plaintext = f"load test note {uuid.uuid4()}\n".encode() * rng.randint(10, 200)
            ciphertext = encrypt(plaintext, [sim.recipient])
            meta = base64.urlsafe_b64encode(json.dumps(
                {"title": f"Note {sim.index}", "filename": "note.txt"}).encode()).decode()
            start = loop.time()
            generation = stats.begin()
            try:
                status, _ = await http(
                    self.port, self.host, "POST", f"/spaces/{sim.space_id}/documents/upload/",
                    cookie=sim.cookie, body=ciphertext,
                    headers={"X-CSRFToken": sim.csrf, "Content-Type": "application/octet-stream",
                             "X-Document-Meta": meta.rstrip("=")})
            except (TimeoutError, OSError) as exc:
                stats.window.fail("upload", type(exc).__name__)
                return
            finally:
                stats.end(generation)
            if status == 201:
                stats.window.ok("upload", loop.time() - start)
            else:
                stats.window.fail("upload", f"http_{status}")

        # connect + hello, retried with jittered backoff like the browser client's
        # (messaging/static/messaging/realtime.js: 1 s doubling to 30 s; shorter here, 0.5 s
        # to 8 s, so a step settles within the ramp's wait): a user counts as held only
        # once its socket said hello.
        backoff = 0.5
        while True:
            start = loop.time()
            sock = Socket(on_frame)
            closed = None
            try:
                await asyncio.wait_for(
                    sock.connect(self.port, self.host, None if self.echo else sim.cookie), 10)
                closed = asyncio.ensure_future(sock.closed.wait())
                if self.echo:
                    stats.window.ok("connect", loop.time() - start)
                    break
                if await call("hello", {"type": "hello"}):
                    break
            except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                stats.window.fail("connect", type(exc).__name__)
            if closed is not None:
                closed.cancel()
            await sock.close()
            if self.stop.is_set():
                return
            self.retries += 1
            await asyncio.sleep(backoff * rng.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 8.0)
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            if not self.echo:
                await get("history", f"/spaces/{sim.space_id}/topics/{sim.topic_id}/")
            self.ready += 1
            # spread the users' timers over the interval
            await asyncio.sleep(rng.uniform(0, self.interval))
            n = 0
            while not self.stop.is_set() and not closed.done():
                n += 1
                if self.echo:
                    await call("echo", {"type": "post", "body": f"message {n}"})
                else:
                    level = rng.randint(0, sim.clearance)
                    await call("post", {"type": "post", "space_id": sim.space_id,
                                        "topic_id": sim.topic_id, "body": f"message {n}",
                                        "level": level, "tlp": "GREEN"})
                    roll = rng.random()
                    if roll < self.args.page_rate:
                        path = rng.choice([
                            f"/spaces/{sim.space_id}/topics/{sim.topic_id}/",
                            f"/spaces/{sim.space_id}/topics/",
                            f"/spaces/{sim.space_id}/documents/",
                        ])
                        await get("page", path)
                    elif roll < self.args.page_rate + self.args.upload_rate:
                        await upload()
                await asyncio.wait([closed, stopping],
                                   timeout=self.interval * rng.uniform(0.8, 1.2),
                                   return_when=asyncio.FIRST_COMPLETED)
            if closed.done() and not self.stop.is_set():
                self.disconnects += 1
                stats.window.fail("socket", f"closed_by_server_{sock.close_code}")
        finally:
            closed.cancel()
            stopping.cancel()
            await sock.close()

    async def grow(self, users: list[SimUser], rate: float) -> None:
        """Start `users`, at most `rate` new connections a second."""
        for i, sim in enumerate(users):
            rng = random.Random(sim.index)
            self.tasks.append(asyncio.ensure_future(self.user(sim, rng)))
            if i % 10 == 9:
                await asyncio.sleep(10 / rate)

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# --- the ramp ---------------------------------------------------------------------------


async def ramp(label: str, topology: Topology, users: list[SimUser], args: argparse.Namespace,
               *, echo: bool, deadline: float) -> dict[str, Any]:
    from tests.integration.topology import HOST

    stats = Stats()
    load = Load(topology.nginx.port, HOST, args, stats, echo=echo)
    steps = [s for s in args.steps if s <= len(users)]
    hold = args.hold if not echo else max(5.0, args.hold * args.baseline_hold_fraction)
    warmup = args.warmup if not echo else 0.0
    print(f"\n== {label}: steps {steps}, hold {hold:.0f} s each, post every "
          f"{load.interval:.0f} s per user ==", flush=True)
    print(f"{'users':>6} {'reqs':>7} {'errors':>7} {'avg ms':>7} {'p50':>7} {'p95':>7} "
          f"{'p99':>7} {'deliv p95':>9} {'cpu app%':>8} {'cpu all%':>8} {'gen%':>5}  verdict",
          flush=True)
    started = 0
    results = []
    max_held = 0
    failed_once = False
    self_pid = os.getpid()
    for target in steps:
        if time.monotonic() + warmup + hold + 15 > deadline:
            print("(time budget reached)", flush=True)
            break
        ramp_start = time.monotonic()
        await load.grow(users[started:target], rate=args.connect_rate)
        started = target
        # The window measures the steady state: every user has connected, said hello and
        # read the history (those requests are reported on the "ramp" line).
        while load.ready < target and time.monotonic() - ramp_start < 120:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        # A step counts only if all its users hold a socket that said hello: users still
        # retrying when the hold starts (after 120 s) break it.
        connected = load.ready - load.disconnects
        # ... and every request the ramp started has finished: a ramp faster than the
        # servers can take leaves a backlog (history reads queued for seconds), which is
        # the ramp's, not the held step's. The wait is printed on the ramp line.
        settled = await stats.settle(60)
        ramp = stats.reset()
        ramp_kinds = ", ".join(
            f"{k} n={len(v)} p50={pct(v, 0.5):.0f} p99={pct(v, 0.99):.0f}"
            for k, v in sorted(ramp.by_kind.items()))
        print(f"       ramp to {target} in {time.monotonic() - ramp_start:.0f} s "
              f"(settled in {settled:.1f} s; {connected} connected, "
              f"{load.retries} reconnects, {sum(ramp.errors.values())} errors): {ramp_kinds}",
              flush=True)
        if ramp.errors:
            print(f"       ramp errors: {dict(ramp.errors)}", flush=True)
        if warmup > 0:
            # The step's users, at their steady pace, before the measured hold: a ramp
            # leaves the servers busy for a while after its requests have finished
            # (deliveries catching up, refreshes behind). Printed, never judged.
            await asyncio.sleep(warmup)
            warm = stats.reset()
            warm_avg = (sum(warm.latencies) / len(warm.latencies) * 1000
                        if warm.latencies else 0.0)
            print(f"       warm-up {warmup:.0f} s: {warm.requests} requests, "
                  f"{sum(warm.errors.values())} errors, avg {warm_avg:.1f} ms, "
                  f"p99 {pct(warm.latencies, 0.99):.0f} ms, delivery p95 "
                  f"{pct(warm.deliveries, 0.95):.0f} ms", flush=True)
        ports = [d.port for d in topology.daphnes]
        metrics0 = await scrape(ports, HOST) if not echo else {}
        app0, gen0 = cpu_ticks(topology.pids()), cpu_ticks([self_pid])
        all0, idle0 = machine_ticks()
        t0 = time.monotonic()
        await asyncio.sleep(hold)
        elapsed = time.monotonic() - t0
        server = (server_report(metrics0, await scrape(ports, HOST), elapsed, len(ports))
                  if not echo else {})
        window = stats.reset()
        app = (cpu_ticks(topology.pids()) - app0) / CLK_TCK / elapsed / NCPU * 100
        gen = (cpu_ticks([self_pid]) - gen0) / CLK_TCK / elapsed / NCPU * 100
        all1, idle1 = machine_ticks()
        machine = 100 * (1 - (idle1 - idle0) / max(1, all1 - all0))
        errors = sum(window.errors.values())
        error_pct = 100 * errors / window.requests if window.requests else 100.0
        avg = sum(window.latencies) / len(window.latencies) * 1000 if window.latencies else 0
        row = {
            "users": target, "requests": window.requests, "errors": errors,
            "error_pct": error_pct, "avg_ms": avg, "p50_ms": pct(window.latencies, 0.5),
            "p95_ms": pct(window.latencies, 0.95), "p99_ms": pct(window.latencies, 0.99),
            "delivery_p50_ms": pct(window.deliveries, 0.5),
            "delivery_p95_ms": pct(window.deliveries, 0.95),
            "cpu_app_pct": app, "cpu_machine_pct": machine, "cpu_generator_pct": gen,
            "connected": connected, "reconnects": load.retries,
            "by_kind": {k: {"n": len(v), "p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99)}
                        for k, v in window.by_kind.items()},
            "error_kinds": window.errors,
            "p99_by_5s_ms": Window.by_slice(window.timeline, 0.99),
            "delivery_p95_by_5s_ms": Window.by_slice(window.delivery_timeline, 0.95),
            "server": server,
        }
        broken = [name for name, bad in (
            ("avg", avg >= LIMITS["avg_ms"]), ("p99", row["p99_ms"] >= LIMITS["p99_ms"]),
            ("errors", error_pct >= LIMITS["error_pct"]), ("cpu", app >= LIMITS["cpu_pct"]),
            (f"{target - connected} not connected", connected < target),
            ("no requests", window.requests == 0)) if bad]
        row["broken"] = broken
        results.append(row)
        verdict = "PASS" if not broken else "FAIL: " + ", ".join(broken)
        print(f"{target:>6} {window.requests:>7} {errors:>7} {avg:>7.1f} "
              f"{row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['p99_ms']:>7.1f} "
              f"{row['delivery_p95_ms']:>9.1f} {app:>8.1f} {machine:>8.1f} {gen:>5.0f}  "
              f"{verdict}", flush=True)
        kinds = ", ".join(f"{k} n={v['n']} p50={v['p50_ms']:.0f} p99={v['p99_ms']:.0f}"
                          for k, v in sorted(row["by_kind"].items()))
        row["loadavg"] = Path("/proc/loadavg").read_text().split()[0]
        print(f"       by kind (ms): {kinds}; delivered n={len(window.deliveries)} "
              f"p50={row['delivery_p50_ms']:.0f} p95={row['delivery_p95_ms']:.0f}; "
              f"load average {row['loadavg']}", flush=True)
        print("       by 5 s of the hold (ms): p99 "
              + ", ".join(f"{v:.0f}" for v in row["p99_by_5s_ms"]) + "; delivery p95 "
              + ", ".join(f"{v:.0f}" for v in row["delivery_p95_by_5s_ms"]), flush=True)
        if server:
            print(f"       server: {format_server(server)}", flush=True)
        if window.errors:
            print(f"       errors: {window.errors}", flush=True)
        if broken:
            failed_once = True
            # --keep-going: record how the next steps degrade, unless they fall apart.
            if not args.keep_going or error_pct > 5 or row["p99_ms"] > 10_000:
                break
        elif not failed_once:
            max_held = target
    await load.shutdown()
    print(f"{label}: max users held = {max_held}", flush=True)
    return {"label": label, "max_users_held": max_held, "steps": results,
            "disconnects": load.disconnects}


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="250,500,1000,1500,2000,2500,3000",
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--hold", type=float, default=30, help="seconds measured per step")
    parser.add_argument("--warmup", type=float, default=15,
                        help="seconds at each step's users before its hold (printed, not "
                             "judged); 0 measures from the end of the ramp")
    parser.add_argument("--speedup", type=float, default=1.0,
                        help="post every 60/speedup seconds per user (1: the issue's "
                             "load model, a post a minute)")
    parser.add_argument("--space-size", type=int, default=50)
    parser.add_argument("--daphnes", type=int, default=NCPU)
    parser.add_argument("--page-rate", type=float, default=0.2,
                        help="chance of a page GET after each post")
    parser.add_argument("--upload-rate", type=float, default=0.02,
                        help="chance of an upload after each post")
    parser.add_argument("--connect-rate", type=float, default=50,
                        help="new sockets per second while ramping")
    parser.add_argument("--database-url",
                        default=os.environ.get("LOADTEST_DATABASE_URL",
                                               "postgres://postgres@127.0.0.1:5432/"
                                               "workspace_loadtest"))
    parser.add_argument("--redis-url", default="", help="default: a private redis-server")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--keep-going", action="store_true",
                        help="measure the remaining steps after the first failure")
    parser.add_argument("--baseline-hold-fraction", type=float, default=0.5)
    parser.add_argument("--max-minutes", type=float, default=20)
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("--db-pool", type=int, default=24,
                        help="WORKSPACE_DB_POOL_SIZE of the daphne processes (0: no pool)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Django setting for the daphne processes (Python literal), "
                             "e.g. --set MESSAGING_POLL_SECONDS=30")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.max_minutes * 60
    raise_fd_limit()

    ensure_database(args.database_url)
    setup_django(args.database_url)
    workdir = Path(tempfile.mkdtemp(prefix="workspace-loadtest-"))
    workdir.chmod(0o755)
    redis_process = None
    redis_url = args.redis_url
    if not redis_url:
        redis_process, redis_url = start_private_redis(workdir)
    from django.conf import settings

    settings.MEDIA_ROOT = str(workdir / "media")  # the daphne processes inherit it
    top = max(args.steps)
    t0 = time.monotonic()
    users = build_users(top, args.space_size, tag=uuid.uuid4().hex[:8])
    print(f"machine: {NCPU} cores, Python {sys.version.split()[0]}, "
          f"{args.daphnes} daphne processes behind nginx; database {args.database_url}; "
          f"{top} users in spaces of {args.space_size} created in "
          f"{time.monotonic() - t0:.0f} s", flush=True)
    report: dict[str, Any] = {"date": datetime.now().astimezone().isoformat(timespec="seconds"),
                              "cores": NCPU, "daphnes": args.daphnes, "limits": LIMITS,
                              "args": {k: v for k, v in vars(args).items()}}
    try:
        if not args.no_baseline:
            (workdir / "echo").mkdir(mode=0o755)
            echo = Topology(workdir / "echo", args.daphnes, redis_url,
                            "bench.echo_asgi:application")
            echo.start()
            try:
                report["baseline"] = asyncio.run(
                    ramp("baseline: bare Channels echo consumer", echo, users, args,
                         echo=True, deadline=deadline))
            finally:
                echo.stop()
        app_dir = workdir / "app"
        app_dir.mkdir(mode=0o755)
        overrides = "".join(f"{item.split('=', 1)[0]} = {item.split('=', 1)[1]}\n"
                            for item in args.set)
        app = Topology(app_dir, args.daphnes, redis_url, "workspace", extra_settings=overrides,
                       db_pool=args.db_pool)
        app.start()
        try:
            report["workspace"] = asyncio.run(
                ramp("workspace", app, users, args, echo=False, deadline=deadline))
        finally:
            app.stop()
    finally:
        if redis_process is not None:
            redis_process.kill()
            redis_process.wait()
        if os.environ.get("LOADTEST_KEEP_LOGS"):
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print("\n== summary ==")
    for key in ("baseline", "workspace"):
        if key not in report:
            continue
        result = report[key]
        held = result["max_users_held"]
        last = next((s for s in result["steps"] if s["users"] == held), None)
        line = f"{result['label']}: max users held {held}"
        if last:
            line += (f" (avg {last['avg_ms']:.1f} ms, p50 {last['p50_ms']:.1f}, "
                     f"p95 {last['p95_ms']:.1f}, p99 {last['p99_ms']:.1f} ms, "
                     f"errors {last['error_pct']:.3f} %, app CPU {last['cpu_app_pct']:.0f} %)")
        print(line)
    print("Mattermost's published reference: 200 users per 2-vCPU app node "
          "(separate database server)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
