"""A short run of `make loadtest` (bench/loadtest.py): ~20 users for ~15 s against two
daphne processes behind nginx, on the test database and a private Redis, and the bare
echo baseline. It checks the machinery and that no request failed, not the latency
limits (those are the benchmark's business, on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.topology import ROOT, database_url, nginx_binary

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_loadtest_smoke(tmp_path: Path) -> None:
    if nginx_binary() is None:
        require_tool("nginx", "install it with: apt-get install -y nginx")
    require_tool("redis-server", "install it with: apt-get install -y redis-server")
    report = tmp_path / "report.json"
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "bench" / "loadtest.py"), "--steps", "20", "--hold", "15",
         "--speedup", "15", "--page-rate", "0.3", "--upload-rate", "0.2",
         "--baseline-hold-fraction", "0.34", "--max-minutes", "3", "--warmup", "3",
         "--database-url", database_url(), "--json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "max users held" in result.stdout and "p99" in result.stdout, output[-6000:]
    data = json.loads(report.read_text())
    for key in ("baseline", "workspace"):
        steps = data[key]["steps"]
        assert steps and steps[0]["users"] == 20, (key, output[-4000:])
        step = steps[0]
        assert step["requests"] > 20, (key, step)
        assert step["errors"] == 0, (key, step["error_kinds"], output[-4000:])
        assert data[key]["disconnects"] == 0, (key, output[-4000:])
        assert step["connected"] == 20 and step["reconnects"] == 0, (key, output[-4000:])
    # Where the servers' time went, scraped from both daphnes' /metrics over the hold
    # (workspace/runtime_metrics.py): the sockets' database threads ran the posts and
    # deliveries, the watcher refreshed access about once a second, the probe ran.
    server = data["workspace"]["steps"][0]["server"]
    assert server["db_calls"] > 20 and server["db_run_ms"] > 0, server
    assert server["refreshes"] >= 10, server
    assert 0 <= server["loop_lag_ms"] < 1000, server
    # Every user's post frames, and the doorbells of the others' posts, were handled.
    assert server["handlers"]["websocket.receive"]["n"] >= 20, server
    assert server["handlers"]["space.event"]["n"] > 0, server
    assert "server: gc " in result.stdout, output[-4000:]
    kinds = data["workspace"]["steps"][0]["by_kind"]
    assert kinds.get("post", {}).get("n", 0) >= 20, kinds  # every user posted (~4 s apart)
    print(result.stdout)
