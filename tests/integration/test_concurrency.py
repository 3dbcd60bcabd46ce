"""A daphne process runs at most WORKSPACE_MAX_CONCURRENT_REQUESTS requests at once, so
it holds at most that many PostgreSQL connections for requests however many arrive, and
every request still succeeds (it waits its turn). Without the limit each concurrent
request ran on its own thread with its own connection, and the load test's ramp ran
PostgreSQL out of them ("too many clients already", 500s).

Real daphne processes on the test database; connections are counted in pg_stat_activity.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.integration.topology import Daphne, database_url, free_port, make_workdir, request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BURST = 48
APP_NAME = "workspace-concurrency-test"  # the daphne's connections, told apart from this process's


def _peak_connections_during_burst(
    limit: int, pool: int = 0
) -> tuple[int, list[int], set[int]]:
    """Start a daphne with this request limit and connection pool size, send BURST
    concurrent /healthz requests (each reads the database), and return (the most
    connections its process held, statuses, the backends seen: one per connection)."""
    workdir = make_workdir("workspace-concurrency-")
    daphne = Daphne(
        port=free_port(),
        workdir=workdir,
        extra_env={
            "DATABASE_URL": f"{database_url()}?application_name={APP_NAME}",
            "WORKSPACE_MAX_CONCURRENT_REQUESTS": str(limit),
            "WORKSPACE_REQUEST_QUEUE_SECONDS": "60",
            "WORKSPACE_DB_POOL_SIZE": str(pool),
        },
    )
    peak, done = 0, threading.Event()
    backends: set[int] = set()
    try:
        daphne.start()

        with psycopg.connect(database_url(), autocommit=True) as watcher:

            def count() -> int:
                pids = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                    [APP_NAME],
                ).fetchall()
                backends.update(pid for (pid,) in pids)
                return len(pids)

            def watch() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, count())
                    time.sleep(0.002)

            watcher_thread = threading.Thread(target=watch)
            watcher_thread.start()
            barrier = threading.Barrier(BURST)

            def one(_: int) -> int:
                barrier.wait()
                return request(daphne.port, "GET", "/healthz", timeout=60).status

            with ThreadPoolExecutor(max_workers=BURST) as pool:
                statuses = list(pool.map(one, range(BURST)))
            done.set()
            watcher_thread.join()
        return peak, statuses, backends
    finally:
        done.set()
        daphne.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_burst_of_requests_stays_within_the_limit():
    peak, statuses, backends = _peak_connections_during_burst(limit=3)
    assert statuses == [200] * BURST
    assert 1 <= peak <= 3, peak
    assert len(backends) > 6, backends  # without a pool, each request opens its own


def test_without_the_limit_the_same_burst_opens_more_connections():
    """The control: the burst above is concurrent enough to need more than 3."""
    peak, statuses, _ = _peak_connections_during_burst(limit=0)
    assert statuses == [200] * BURST
    assert peak > 3, peak


def test_with_a_pool_the_burst_borrows_the_pools_connections():
    """WORKSPACE_DB_POOL_SIZE: even without the request limit, the process holds at most
    the pool's connections, opens no more than that, and every request succeeds."""
    peak, statuses, backends = _peak_connections_during_burst(limit=0, pool=6)
    assert statuses == [200] * BURST
    assert 1 <= peak <= 6, peak
    assert 1 <= len(backends) <= 6, backends
