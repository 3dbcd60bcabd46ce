"""One post frame's database work, the part of a fan-out round the bare broadcast does not
have: `handlers.checked_write(handlers.post, ...)`, as a socket's database thread runs it
(the session check, the access checks, the message, its revision and its event stored
in one transaction, the doorbell handed to an event loop after commit).

Timed in the same run against two baselines on the same connection and thread:
- `select 1`: one round trip, the least any database call costs;
- `floor`: one row inserted and committed, the least a stored-before-sent event costs
  (what bench_fanout_redis.py's floor consumer does before its broadcast).

Each is timed back to back ("hot") and after an idle pause ("idle", `--pause`, default
0.1 s, as between the fan-out bench's rounds). On a virtual machine the first round trip
after a pause waits for the database process to be woken, and a long Python path runs
with cold caches: a post frame costs more in a daphne process between rounds than in a
loop.

    .venv/bin/python bench/bench_post_frame.py [--frames 200] [--pause 0.1]
        [--database-url URL]

Without --database-url: SQLite (a temporary file), then PostgreSQL at
FANOUT_DATABASE_URL or postgres://postgres@127.0.0.1:5432/workspace_post_frame_bench
(skipped, saying so, when it is not reachable).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = os.environ.get(
    "FANOUT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/workspace_post_frame_bench")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def measure(database_url: str, frames: int, pause: float) -> None:
    from bench.loadtest import build_users, ensure_database, setup_django

    ensure_database(database_url)
    setup_django(database_url)
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction

    from messaging import handlers, protocol
    from workspace.realtime import DOORBELL_LOOP

    settings.MESSAGING_USER_WRITES_PER_MINUTE = 10**9
    poster = build_users(4, 4, tag=uuid.uuid4().hex[:8])[0]
    session_key = poster.cookie.split(";", 1)[0].split("=", 1)[1]
    user_id = int(SessionStore(session_key=session_key).load()["_auth_user_id"])
    key = "integer" if connection.vendor == "sqlite" else "bigserial"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS bench_floor (id {key} PRIMARY KEY, body text)")

    # Doorbells go to a running event loop, as from a daphne's database thread.
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    DOORBELL_LOOP.set(loop)

    def select_one(_: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def floor(i: int) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_floor (body) VALUES (%s)", [f"round {i}"])

    def post(i: int) -> None:
        frame = protocol.parse({
            "type": "post", "client_id": str(uuid.uuid4()), "space_id": poster.space_id,
            "topic_id": poster.topic_id, "body": f"round {i}", "level": 0, "tlp": "GREEN"})
        user, result = handlers.checked_write(handlers.post, (session_key, user_id), frame)
        assert user is not None and "seq" in result, result

    def timed(fn: Callable[[int], None], idle: float) -> list[float]:
        for i in range(20):  # warm-up: prepared statements, caches
            fn(i)
        samples = []
        for i in range(frames):
            if idle:
                time.sleep(idle)
            started = time.perf_counter()
            fn(i)
            samples.append(time.perf_counter() - started)
        return samples

    results: dict[tuple[str, str], tuple[float, float]] = {}
    # Interleaved, so that a slow minute of the machine falls on every column.
    for _ in range(2):
        for mode, idle in (("hot", 0.0), ("idle", pause)):
            for name, fn in (("select 1", select_one), ("floor", floor), ("post", post)):
                p50, p95 = _percentiles(timed(fn, idle))
                old = results.get((name, mode))
                results[name, mode] = (p50, p95) if old is None else (
                    min(old[0], p50), min(old[1], p95))
    print(f"{connection.vendor}: one post frame on one thread (ms; best of two interleaved "
          f"runs of {frames}; idle = after a {pause:.2f} s pause)")
    print(f"{'':>9} | {'select 1 p50':>12} {'p95':>6} | {'floor p50':>9} {'p95':>6} | "
          f"{'post p50':>8} {'p95':>6} | {'post/floor p50':>14} {'p95':>6}")
    for mode in ("hot", "idle"):
        s, f, p = (results[name, mode] for name in ("select 1", "floor", "post"))
        print(f"{mode:>9} | {s[0]:12.2f} {s[1]:6.2f} | {f[0]:9.2f} {f[1]:6.2f} | "
              f"{p[0]:8.2f} {p[1]:6.2f} | {p[0] / f[0]:13.1f}x {p[1] / f[1]:5.1f}x")


def postgres_unavailable(database_url: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg not installed"
    base = database_url.rsplit("/", 1)[0]
    try:
        psycopg.connect(f"{base}/postgres", connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"PostgreSQL unavailable at {base} ({str(exc).strip().splitlines()[0]})"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.database_url:
        measure(args.database_url, args.frames, args.pause)
        return 0
    # One process per database: Django is set up once per process.
    failed = 0
    sqlite = f"sqlite:///{tempfile.mkdtemp(prefix='bench-post-frame-')}/bench.sqlite3"
    why = postgres_unavailable(DEFAULT_POSTGRES)
    for url in (sqlite, DEFAULT_POSTGRES):
        if url == DEFAULT_POSTGRES and why:
            print(f"postgresql: skipped: {why}")
            continue
        run = subprocess.run(  # noqa: S603 - this script, fixed arguments
            [sys.executable, __file__, "--database-url", url, "--frames", str(args.frames),
             "--pause", str(args.pause)], cwd=ROOT)
        failed += run.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
