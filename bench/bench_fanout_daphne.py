"""Fan-out latency on the in-memory layer with one daphne process (the issue's first
topology), measured as bench_fanout_redis.py measures the production one: real WebSockets
through nginx, PostgreSQL, a bare broadcast consumer and its floor in the same run.

bench_fanout.py times the same in-process, through channels' WebsocketCommunicator; this
adds what a real server does for each socket (framing, the socket writes, nginx).

    .venv/bin/python bench/bench_fanout_daphne.py [--sizes 10,100,500] [--rounds 30]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_fanout_redis import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--layer", "memory", *sys.argv[1:]]))
