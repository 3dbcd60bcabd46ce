"""Fan-out latency on the production topology: Redis layer, two daphne processes, nginx
(`--layer memory`: the in-memory layer and one daphne, as bench_fanout_daphne.py runs it).

One post in a space with N connected members, timed from the send until the last member
that may see it has the `event` frame, against a bare Channels broadcast consumer
(`bench/broadcast_asgi.py`: `group_send` on channels_redis, no auth, no database) on the
same topology in the same run, and against two floors:
- "floor": that consumer plus one row inserted and committed in PostgreSQL before each
  broadcast (`floor_application`), the least a stored-before-sent event costs on this
  database; "vs floor" is ours against it;
- "post floor": that consumer plus, before each broadcast, one indexed read and then the
  seq increment and the event row in one committed statement (`post_floor_application`):
  the least any implementation of the design (a checked frame, a seq under the space
  row's lock, the event stored before it is sent) could pay on this database. Its
  "ratio" is its p95 against the bare p95, as ours is.
All four run as the load test starts them (bench/loadtest.py):
`--daphnes` daphne processes (default 2) behind deploy/nginx.conf (TLS swapped for a plain
listen, tests/integration/topology.py), a private redis-server, and for the workspace
PostgreSQL (`--database-url`, default a dedicated `workspace_fanout_bench` database,
created and migrated if missing).

For each size N: N members of one space at clearances 0..3, each with an MFA
authenticator and a session, each holding a real WebSocket through nginx (round-robin
spreads them over the daphne processes; the sockets each process holds are counted from
/proc/net/tcp, and if one holds none the sockets are reconnected to the processes' ports
directly, in turn, as `--via direct` does from the start) and each past `hello`.
Member 0 (clearance 0) posts an OPEN (level 0, TLP:GREEN) message per round; every
member, the poster too, may see it. The
baseline opens N sockets the same way and one sends a frame that the consumer
broadcasts to all N. Every socket must receive every round's frame exactly once: frames
never received (after the rounds, plus one poll interval) and duplicates are counted.

Skips (exit 0, "skipped: …") when nginx, redis-server or PostgreSQL is unavailable.
Exits 1 when the workspace loses or duplicates an event (the baseline is only reported).

    .venv/bin/python bench/bench_fanout_redis.py [--sizes 10,100,500] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadtest import (  # noqa: E402
    Socket,
    Topology,
    build_users,
    ensure_database,
    raise_fd_limit,
    scrape,
    server_report,
    setup_django,
    start_private_redis,
)

DEFAULT_DATABASE_URL = os.environ.get(
    "FANOUT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/workspace_fanout_bench")
# Only the token buckets: a fast run of many rounds must not be rate limited.
WORKSPACE_OVERRIDES = "MESSAGING_FRAME_BURST = 10_000\nMESSAGING_USER_WRITES_PER_MINUTE = 100_000\n"
ROUND_PAUSE = 0.1  # seconds between one round's last arrival and the next send


# --- which process holds which socket ---------------------------------------------------


def established_to(ports: list[int]) -> dict[int, int]:
    """Established TCP connections to each local port (nginx -> daphne, or ours direct)."""
    counts = dict.fromkeys(ports, 0)
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "01":  # TCP_ESTABLISHED
                port = int(parts[2].rsplit(":", 1)[1], 16)  # the remote end
                if port in counts:
                    counts[port] += 1
    return counts


# --- N sockets and the rounds -------------------------------------------------------------


@dataclass
class Round:
    start: float
    arrivals: dict[int, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Fleet:
    """N sockets; each frame that belongs to a round is counted per socket on arrival."""

    def __init__(self, size: int, *, workspace: bool) -> None:
        self.size = size
        self.workspace = workspace
        self.sockets: list[Socket | None] = [None] * size
        self.rounds: dict[str, Round] = {}
        self.counts: dict[str, list[int]] = {}
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[dict[str, Any]] = []
        self.strays = 0
        self.last_frame = time.perf_counter()

    def handler(self, index: int) -> Callable[[bytes], None]:
        def on_frame(raw: bytes) -> None:
            now = time.perf_counter()
            self.last_frame = now
            if self.workspace and b'"presence"' in raw[:40]:
                return  # each hello and each close tells every member: N^2 of these
            frame = json.loads(raw)
            if not self.workspace:
                self._arrive(index, frame.get("round", ""), now)
                return
            kind = frame.get("type")
            if kind == "event":
                if frame.get("kind") == "message.new":
                    self._arrive(index, frame["data"]["message"].get("client_id", ""), now)
            elif kind in ("ack", "error"):
                if kind == "error":
                    self.errors.append(frame)
                future = self.waiting.pop(frame.get("ref") or "", None)
                if future is not None and not future.done():
                    future.set_result(frame)

        return on_frame

    def _arrive(self, index: int, key: str, now: float) -> None:
        counts = self.counts.get(key)
        if counts is None:
            self.strays += 1
            return
        counts[index] += 1
        if counts[index] == 1:
            current = self.rounds[key]
            current.arrivals[index] = now
            if len(current.arrivals) == self.size:
                current.done.set()

    async def connect(self, ports: list[int], host: str, cookies: list[str | None], *,
                      hello: bool, batch: int = 20) -> None:
        """Socket i goes to ports[i % len(ports)]; `batch` handshakes at a time."""
        loop = asyncio.get_running_loop()

        async def one(index: int) -> None:
            sock = Socket(self.handler(index))
            await asyncio.wait_for(
                sock.connect(ports[index % len(ports)], host, cookies[index]), 30)
            self.sockets[index] = sock
            if not hello:
                return
            ref = str(uuid.uuid4())
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self.waiting[ref] = future
            sock.send_json({"type": "hello", "client_id": ref})
            closed = asyncio.ensure_future(sock.closed.wait())
            try:
                await asyncio.wait([future, closed], timeout=60,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
            if not future.done():
                why = f"closed {sock.close_code}" if sock.closed.is_set() else "no answer in 60 s"
                raise RuntimeError(f"hello on socket {index}: {why}")
            if future.result().get("type") != "ack":
                raise RuntimeError(f"hello on socket {index}: {future.result()}")

        for start in range(0, self.size, batch):
            await asyncio.gather(*(one(i) for i in range(start, min(self.size, start + batch))))

    async def settle(self, quiet: float = 0.5, limit: float = 120) -> None:
        """Until no frame has arrived for `quiet` seconds (presence floods after hellos)."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            idle = time.perf_counter() - self.last_frame
            if idle >= quiet:
                return
            await asyncio.sleep(quiet - idle)

    async def run(self, rounds: int, send: Callable[[str], None],
                  timeout: float) -> tuple[list[float], int]:
        """`rounds` rounds: (seconds from send to the last arrival, rounds timed out)."""
        samples, timeouts = [], 0
        for _ in range(rounds):
            key = str(uuid.uuid4())
            self.counts[key] = [0] * self.size
            current = self.rounds[key] = Round(start=time.perf_counter())
            send(key)
            try:
                await asyncio.wait_for(current.done.wait(), timeout)
            except TimeoutError:
                timeouts += 1
                continue
            samples.append(max(current.arrivals.values()) - current.start)
            await asyncio.sleep(ROUND_PAUSE)
        return samples, timeouts

    async def tally(self, grace: float) -> tuple[int, int]:
        """(lost, duplicated) frames over all rounds, after waiting for stragglers."""
        await self.settle(quiet=1.0, limit=10)
        if any(0 in counts for counts in self.counts.values()):
            await asyncio.sleep(grace)  # a lost doorbell is caught up by the next poll
        lost = sum(counts.count(0) for counts in self.counts.values())
        duplicated = sum(max(0, c - 1) for counts in self.counts.values() for c in counts)
        return lost, duplicated

    def closed_by_server(self) -> int:
        return sum(1 for s in self.sockets if s is not None and s.closed.is_set())

    async def close(self, ports: list[int]) -> None:
        for sock in self.sockets:
            if sock is not None:
                await sock.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(established_to(ports).values()):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # let the processes finish the disconnect work


# --- one measurement ------------------------------------------------------------------------


@dataclass
class Result:
    samples: list[float]
    timeouts: int
    lost: int
    duplicated: int
    placement: dict[int, int]  # daphne port -> sockets held
    via: str
    closed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    server: dict[str, Any] | None = None  # the workspace's /metrics over the rounds

    def pct(self, p: float) -> float:
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000


async def measure(topology: Topology, size: int, rounds: int, *, cookies: list[str | None],
                  workspace: bool, post: dict[str, Any] | None, timeout: float,
                  grace: float, direct: bool) -> Result:
    from tests.integration.topology import HOST

    daphne_ports = [d.port for d in topology.daphnes]
    fleet = Fleet(size, workspace=workspace)
    via = "direct" if direct else "nginx"
    await fleet.connect(daphne_ports if direct else [topology.nginx.port], HOST, cookies,
                        hello=workspace)
    placement = established_to(daphne_ports)
    if not direct and size >= len(daphne_ports) and min(placement.values()) == 0:
        # nginx sent them all to one process: place them in turn instead.
        await fleet.close(daphne_ports)
        fleet = Fleet(size, workspace=workspace)
        via = "direct"
        await fleet.connect(daphne_ports, HOST, cookies, hello=workspace)
        placement = established_to(daphne_ports)
    await fleet.settle()
    sender = fleet.sockets[0]
    assert sender is not None

    def send(key: str) -> None:
        if post is None:
            sender.send_json({"round": key})
        else:
            sender.send_json({**post, "client_id": key})

    # The workspace's own account of the rounds (workspace/runtime_metrics.py): what its
    # database threads and socket handlers spent, summed over the daphne processes.
    before = await scrape(daphne_ports, HOST) if workspace else {}
    started = time.monotonic()
    samples, timeouts = await fleet.run(rounds, send, timeout)
    server = (server_report(before, await scrape(daphne_ports, HOST),
                            time.monotonic() - started, len(daphne_ports))
              if workspace else None)
    lost, duplicated = await fleet.tally(grace)
    result = Result(samples=samples, timeouts=timeouts, lost=lost, duplicated=duplicated,
                    placement=placement, via=via, closed=fleet.closed_by_server(),
                    errors=fleet.errors, server=server)
    await fleet.close(daphne_ports)
    return result


# --- main -------------------------------------------------------------------------------------


def unavailable(database_url: str, *, redis: bool = True) -> str | None:
    """Why this bench cannot run here, or None."""
    from tests.integration.topology import nginx_binary

    if not nginx_binary():
        return "nginx not found"
    if redis and not shutil.which("redis-server"):
        return "redis-server not found"
    if not database_url.startswith("postgres"):
        return f"needs PostgreSQL (--database-url is {database_url.split(':', 1)[0]})"
    os.environ.setdefault("PGCONNECT_TIMEOUT", "5")
    try:
        import psycopg
    except ImportError:
        return "psycopg not installed"
    try:
        ensure_database(database_url)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"PostgreSQL unavailable at {database_url} ({first})"
    return None


def _inside(server: dict[str, Any]) -> str:
    """The post frames' and doorbells' mean cost inside the workspace's processes: the
    database work of a post (its session check, access checks and transaction) is the
    part of a round the bare broadcast does not have."""
    post = server["db_by_function"].get("checked_write", {"calls": 0, "run_ms": 0.0})
    rung = server["handlers"].get("space.event", {"n": 0, "ms": 0.0})
    return (f"post frame's database work {post['calls']:.0f} x {post['run_ms']:.2f} ms "
            f"({server['db_wait_ms']:.2f} ms queued for a database thread); "
            f"doorbells {rung['n']:.0f} x {rung['ms']:.2f} ms; "
            f"loop lag {server['loop_lag_ms']:.2f} ms")


def _p95_ratio(result: Result, baseline: Result) -> float:
    if not (result.samples and baseline.samples):
        return float("nan")
    return result.pct(0.95) / baseline.pct(0.95)


def _held(result: Result) -> str:
    return "/".join(str(n) for n in result.placement.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,500",
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--layer", choices=["redis", "memory"], default="redis",
                        help="redis (default): the production layer on a private "
                             "redis-server; memory: the in-memory layer, one daphne process")
    parser.add_argument("--daphnes", type=int, default=None,
                        help="daphne processes (default 2 on Redis; the in-memory layer "
                             "is one process's)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Django setting for the workspace's daphne processes "
                             "(Python literal), e.g. --set MESSAGING_BATCH_WINDOW_SECONDS=0")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--timeout", type=float, default=15,
                        help="seconds a round may take before it counts as timed out")
    parser.add_argument("--grace", type=float, default=6,
                        help="seconds to wait for missing frames after the rounds "
                             "(one MESSAGING_POLL_SECONDS and a margin)")
    parser.add_argument("--via", choices=["nginx", "direct"], default="nginx",
                        help="connect through nginx (default), or to the daphne ports in turn")
    args = parser.parse_args(argv)
    memory = args.layer == "memory"
    if args.daphnes is None:
        args.daphnes = 1 if memory else 2
    if memory and args.daphnes != 1:
        parser.error("the in-memory layer reaches the sockets of one process: --daphnes 1")
    t_start = time.monotonic()
    raise_fd_limit()

    title = "fan-out on the in-memory layer" if memory else "fan-out on Redis"
    why = unavailable(args.database_url, redis=not memory)
    if why:
        print(f"{title}: skipped: {why}")
        return 0
    setup_django(args.database_url)
    from django.conf import settings

    workdir = Path(tempfile.mkdtemp(prefix="bench-fanout-redis-"))
    workdir.chmod(0o755)  # nginx workers drop privileges
    redis_process: subprocess.Popen | None = None
    topologies: list[Topology] = []
    try:
        if memory:
            redis_url = ""  # the workspace's daphne runs the in-memory layer without it
            os.environ["BROADCAST_REDIS_URL"] = "memory"
        else:
            try:
                redis_process, redis_url = start_private_redis(workdir)
            except (RuntimeError, OSError) as exc:
                print(f"{title}: skipped: redis-server did not start ({exc})")
                return 0
            # The baseline's own Redis database, so its group never meets the workspace's.
            os.environ["BROADCAST_REDIS_URL"] = redis_url.rsplit("/", 1)[0] + "/1"
        settings.MEDIA_ROOT = str(workdir / "media")  # the daphne processes inherit it
        os.environ["BROADCAST_FLOOR_DATABASE_URL"] = args.database_url
        for name in ("bare", "floor", "post_floor", "app"):
            (workdir / name).mkdir(mode=0o755)
        bare = Topology(workdir / "bare", args.daphnes, redis_url,
                        "bench.broadcast_asgi:application")
        topologies.append(bare)
        bare.start()
        floor = Topology(workdir / "floor", args.daphnes, redis_url,
                         "bench.broadcast_asgi:floor_application")
        topologies.append(floor)
        floor.start()
        post_floor = Topology(workdir / "post_floor", args.daphnes, redis_url,
                              "bench.broadcast_asgi:post_floor_application")
        topologies.append(post_floor)
        post_floor.start()
        app = Topology(workdir / "app", args.daphnes, redis_url, "workspace",
                       extra_settings=WORKSPACE_OVERRIDES + "".join(
                           f"{item.split('=', 1)[0]} = {item.split('=', 1)[1]}\n"
                           for item in args.set))
        topologies.append(app)
        app.start()
        load = Path("/proc/loadavg").read_text().split()[0]
        layer = "in-memory layer" if memory else "private redis-server"
        print(f"{title.replace('fan-out', 'fan-out latency')} (ms): {args.daphnes} daphne "
              f"process(es) behind nginx, {layer}, "
              f"{args.database_url.rsplit('/', 1)[-1]} on PostgreSQL; "
              f"{args.rounds} rounds, send to last receipt; load average {load}", flush=True)
        rows = []
        for size in args.sizes:
            t0 = time.monotonic()
            users = build_users(size, size, tag=uuid.uuid4().hex[:8])
            built = time.monotonic() - t0
            poster = users[0]
            post = {"type": "post", "space_id": poster.space_id, "topic_id": poster.topic_id,
                    "body": f"Fan-out round to {size} members", "level": 0, "tlp": "GREEN"}
            base = asyncio.run(measure(bare, size, args.rounds, cookies=[None] * size,
                                       workspace=False, post=None, timeout=args.timeout,
                                       grace=args.grace, direct=args.via == "direct"))
            least = asyncio.run(measure(floor, size, args.rounds, cookies=[None] * size,
                                        workspace=False, post=None, timeout=args.timeout,
                                        grace=args.grace, direct=args.via == "direct"))
            least_post = asyncio.run(measure(post_floor, size, args.rounds,
                                             cookies=[None] * size, workspace=False, post=None,
                                             timeout=args.timeout, grace=args.grace,
                                             direct=args.via == "direct"))
            ours = asyncio.run(measure(app, size, args.rounds,
                                       cookies=[u.cookie for u in users], workspace=True,
                                       post=post, timeout=args.timeout, grace=args.grace,
                                       direct=args.via == "direct"))
            rows.append((size, base, least, least_post, ours))
            print(f"  {size} members: users built in {built:.0f} s, measured in "
                  f"{time.monotonic() - t0 - built:.0f} s; sockets per daphne: bare "
                  f"{_held(base)} ({base.via}), ours {_held(ours)} ({ours.via}); load average "
                  f"{Path('/proc/loadavg').read_text().split()[0]}", flush=True)
            if ours.server is not None:
                print(f"    ours in the daphnes: {_inside(ours.server)}", flush=True)
            for label, r in (("bare", base), ("floor", least), ("post floor", least_post),
                             ("ours", ours)):
                if r.timeouts or r.closed or r.errors:
                    print(f"    {label}: {r.timeouts} rounds timed out, {r.closed} sockets "
                          f"closed by the server, errors {r.errors[:3]}", flush=True)
    finally:
        for topology in topologies:
            topology.stop()
        if redis_process is not None:
            redis_process.kill()
            redis_process.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{'members':>8} | {'bare p50':>8} {'p95':>7} {'p99':>7} | "
          f"{'floor p50':>9} {'p95':>7} | {'post floor p50':>14} {'p95':>7} {'ratio':>7} | "
          f"{'ours p50':>8} {'p95':>7} {'p99':>7} | {'p95 ratio':>9} | {'vs floor':>8} | "
          f"{'lost/dup bare':>13} {'ours':>6}")
    broken = False
    for size, base, least, least_post, ours in rows:
        ratio, vs_floor = (_p95_ratio(ours, other) for other in (base, least))
        print(f"{size:>8} | {base.pct(0.5):8.1f} {base.pct(0.95):7.1f} {base.pct(0.99):7.1f} | "
              f"{least.pct(0.5):9.1f} {least.pct(0.95):7.1f} | "
              f"{least_post.pct(0.5):14.1f} {least_post.pct(0.95):7.1f} "
              f"{_p95_ratio(least_post, base):6.2f}x | "
              f"{ours.pct(0.5):8.1f} {ours.pct(0.95):7.1f} {ours.pct(0.99):7.1f} | "
              f"{ratio:8.2f}x | {vs_floor:7.2f}x | {f'{base.lost}/{base.duplicated}':>13} "
              f"{f'{ours.lost}/{ours.duplicated}':>6}")
        broken |= bool(ours.lost or ours.duplicated)
    expected = sum(size * args.rounds for size in args.sizes)
    print(f"each side expected {expected} deliveries (members x rounds); "
          f"lost = never received, dup = received more than once; "
          f"total {time.monotonic() - t_start:.0f} s")
    if broken:
        print("FAIL: the workspace lost or duplicated an event")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
