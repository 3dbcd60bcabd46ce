"""workspace/asgi.py freezes what the process loaded at startup, so that the garbage
collector's full collections (about 80 ms over it, pausing the whole event loop) skip it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc, time
import workspace.asgi
frozen = gc.get_freeze_count()
start = time.perf_counter()
gc.collect(2)
print(frozen, len(gc.get_objects()), time.perf_counter() - start)
"""


def test_the_server_process_freezes_its_startup_objects():
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    frozen, tracked, _seconds = result.stdout.split()
    # Django and the apps are tens of thousands of objects; a full collection now walks
    # only what was made after startup.
    assert int(frozen) > 50_000
    assert int(tracked) < int(frozen) // 10
