"""The daphne process's garbage collector: startup's objects frozen, young ones collected
less often (workspace/gc_tuning.py)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from workspace import gc_tuning

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restored_collector():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_configure_freezes_what_exists_and_raises_the_youngest_threshold(restored_collector):
    before = gc.get_threshold()
    gc.unfreeze()
    gc_tuning.configure(12_345)
    assert gc.get_threshold() == (12_345, before[1], before[2])
    assert gc.get_freeze_count() > 1000  # the modules, Django, this test run


def test_zero_leaves_the_collector_as_it_is(restored_collector):
    gc.unfreeze()
    before = gc.get_threshold()
    gc_tuning.configure(0)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def _asgi_process(env_extra: dict[str, str]) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WORKSPACE_"))},
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
        "DJANGO_SECRET_KEY": "gc-test-" + "s" * 50,
        "WORKSPACE_DATA_DIR": tempfile.mkdtemp(prefix="gc-test-"),
        **env_extra,
    }
    code = "import gc, workspace.asgi; print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True,
    ).stdout.split()


def test_the_asgi_entry_point_configures_the_collector_from_the_setting():
    """What daphne loads: the production settings' default, and the variable."""
    assert _asgi_process({}) == ["20000", "True"]
    assert _asgi_process({"WORKSPACE_GC_THRESHOLD": "5000"}) == ["5000", "True"]
    assert _asgi_process({"WORKSPACE_GC_THRESHOLD": "0"}) == [str(gc.get_threshold()[0]), "False"]
