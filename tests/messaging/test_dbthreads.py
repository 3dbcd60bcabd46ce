"""Where the sockets' database work runs: one thread on SQLite, a pool when configured."""

from __future__ import annotations

import asyncio
import threading

import pytest

from messaging import dbthreads
from workspace.accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def _where() -> tuple[str, int]:
    return threading.current_thread().name, User.objects.count()


def test_automatic_size_follows_the_database_unless_told(settings):
    from django.db import connection

    settings.MESSAGING_DB_THREADS = 0
    assert dbthreads.db_threads() == (4 if connection.vendor == "postgresql" else 1)
    settings.MESSAGING_DB_THREADS = 3
    assert dbthreads.db_threads() == 3


def test_the_pool_runs_calls_concurrently_on_its_own_threads(settings, world):
    from django.db import connections

    settings.MESSAGING_DB_THREADS = 2
    barrier = threading.Barrier(2, timeout=5)

    def meet() -> str:
        barrier.wait()  # only returns if two calls run at the same time
        return threading.current_thread().name

    async def run() -> list:
        return await asyncio.gather(
            dbthreads.in_db_thread(meet)(), dbthreads.in_db_thread(meet)(),
            dbthreads.in_db_thread(_where)(),
        )

    def close_mine() -> None:  # so no connection is left on the test database
        barrier.wait()
        connections.close_all()

    async def close() -> None:
        await asyncio.gather(dbthreads.in_db_thread(close_mine)(),
                             dbthreads.in_db_thread(close_mine)())

    first, second, (name, users) = asyncio.run(run())
    asyncio.run(close())
    assert first.startswith("ws-db") and second.startswith("ws-db") and first != second
    assert name.startswith("ws-db") and users == User.objects.count() > 0
