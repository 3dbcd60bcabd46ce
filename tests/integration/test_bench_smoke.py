"""Short runs of the fan-out benchmarks' machinery, which `make test` does not otherwise
run: a bench that no longer starts, or whose workspace side loses an event, fails here
rather than in the next session's `make bench`. Latencies are not checked (that is the
benchmarks' business, on a quiet machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.topology import ROOT, nginx_binary, owner_database_url


def _run(script: str, *args: str, timeout: int = 240) -> str:
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "skipped" not in result.stdout, output[-6000:]
    return result.stdout


def test_the_post_frame_bench_on_sqlite(tmp_path: Path) -> None:
    out = _run("bench_post_frame.py", "--frames", "5", "--pause", "0.01",
               "--database-url", f"sqlite:///{tmp_path}/bench.sqlite3")
    assert "sqlite: one post frame" in out, out
    rows = [line for line in out.splitlines() if line.strip().startswith(("hot", "idle"))]
    assert len(rows) == 2 and all(line.count("x") == 2 for line in rows), out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_post_frame_bench_on_postgresql() -> None:
    out = _run("bench_post_frame.py", "--frames", "5", "--pause", "0.01",
               "--database-url", owner_database_url())
    assert "postgresql: one post frame" in out, out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_fanout_bench_on_the_in_memory_layer_with_one_daphne() -> None:
    if nginx_binary() is None:
        require_tool("nginx", "install it with: apt-get install -y nginx")
    out = _run("bench_fanout_daphne.py", "--sizes", "3", "--rounds", "3",
               "--database-url", owner_database_url())
    assert "in-memory layer" in out and "sockets per daphne: bare 3 (nginx), ours 3" in out, out
    # The workspace's own account: three post frames, and the doorbells of two sockets.
    assert "ours in the daphnes: post frame's database work 3 x " in out, out
    [row] = [line for line in out.splitlines() if line.strip().startswith("3 |")]
    assert row.split()[-1] == "0/0", out  # ours: nothing lost, nothing duplicated
    # Every side, the two floors included, timed every round.
    assert "nan" not in row and "timed out" not in out, out
    assert "FAIL" not in out, out
