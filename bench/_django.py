"""Set up Django for a benchmark: a fresh database (temp SQLite, or DATABASE_URL)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("WORKSPACE_DATA_DIR", tempfile.mkdtemp(prefix="workspace-bench-"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
