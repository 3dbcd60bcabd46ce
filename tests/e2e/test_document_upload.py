"""In a real browser against a real daphne: uploads are encrypted before they leave.

A file carrying a random marker is uploaded through the page; afterwards the temp
directories, the media root and the database are scanned for the marker. Sizes cover a
small body, one above daphne's 100,000-byte spool threshold, and one above Django's
2.5 MB FILE_UPLOAD_MAX_MEMORY_SIZE.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from documents.models import DocumentVersion
from tests.e2e.conftest import login_context

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRACK_PROGRESS = """
window.addEventListener('DOMContentLoaded', () => {
  const bar = document.getElementById('upload-progress');
  if (!bar) return;
  setInterval(() => {
    const seen = Number(sessionStorage.getItem('maxProgress') || 0);
    if (bar.value > seen) sessionStorage.setItem('maxProgress', String(bar.value));
  }, 5);
});
"""


def _make_file(directory: Path, size: int, marker: bytes) -> Path:
    # Text (so it passes the type allow-list) with the marker at the start, middle, end.
    line = b"seizure statistics, port of transit, kilograms\n"
    body = bytearray(marker + b"\n")
    while len(body) < size // 2:
        body += line
    body += marker + b"\n"
    while len(body) < size - len(marker) - 1:
        body += line
    body += marker + b"\n"
    path = directory / "statistics.txt"
    path.write_bytes(bytes(body))
    return path


def _assert_age_cli_decrypts(world, version, source: Path, workdir: Path) -> None:
    """What the browser library produced is a standard age file: the CLI reads it."""
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from tests.conftest import require_tool

    age = require_tool("age", "install it with: apt-get install -y age")
    blob = workdir / "stored.age"
    with (
        default_storage.open(version.header_name) as h,
        default_storage.open(version.payload_name) as p,
    ):
        blob.write_bytes(h.read() + p.read())
    identity = workdir / "identity.txt"
    call_command(
        "export_space_identity",
        str(world["space"].pk),
        "--as",
        world["users"]["network_admin"].email,
        "--out",
        str(identity),
    )
    result = subprocess.run([age, "-d", "-i", str(identity), str(blob)], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == source.read_bytes()


def _sqlite_files() -> list[Path]:
    if connection.vendor != "sqlite":
        return []
    db = Path(connection.settings_dict["NAME"])
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def _scan(roots: list[Path], marker: bytes, since: float, exclude: list[Path]) -> list[Path]:
    found = []
    # os.walk, not rglob: other processes share /tmp, and a directory that disappears
    # mid-walk must not end the scan (rglob raises; os.walk skips it).
    paths = (
        Path(folder) / name
        for root in roots
        for folder, _dirs, files in os.walk(root)
        for name in files
    )
    for path in paths:
        if any(part in path.parents or part == path for part in exclude):
            continue
        try:
            if not path.is_file() or path.stat().st_mtime < since - 1:
                continue
            if marker in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


@pytest.mark.parametrize("size", [2_000, 150_000, 3_000_000], ids=["small", "150KB", "3MB"])
def test_no_plaintext_reaches_the_server(world, daphne_server, browser, size):
    started = time.time()
    marker = b"MARKER-" + secrets.token_hex(16).encode()
    source_dir = Path(tempfile.mkdtemp(prefix="workspace-e2e-source-"))
    source = _make_file(source_dir, size, marker)
    space = world["space"]
    context = login_context(browser, daphne_server, world["users"]["member_secret"])
    context.add_init_script(TRACK_PROGRESS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"/spaces/{space.pk}/documents/new/")
    page.fill("#doc-title", "Port statistics")
    page.select_option("#doc-level", "1")
    page.set_input_files("#doc-file", str(source))
    page.click("#upload-form button[type=submit]")
    try:
        page.wait_for_url(re.compile(r"/documents/\d+/$"), timeout=60_000)
    except Exception:
        status = page.text_content("#upload-status")
        raise AssertionError(f"upload did not finish: {status!r}; console: {errors}") from None
    assert page.evaluate("sessionStorage.getItem('maxProgress')") == "100"
    assert not errors, errors

    version = DocumentVersion.objects.get()
    assert version.size == source.stat().st_size
    download = context.request.get(f"/documents/{version.document_id}/versions/1/download/")
    assert download.status == 200
    assert download.body() == source.read_bytes()
    _assert_age_cli_decrypts(world, version, source, source_dir)

    roots = [Path(tempfile.gettempdir()), daphne_server.tmpdir, Path(settings.MEDIA_ROOT)]
    # This process must not open the live SQLite files itself: closing any descriptor
    # of a file drops the process's POSIX locks on it. They are scanned by grep below.
    db_files = _sqlite_files()
    leaks = _scan(roots, marker, started, exclude=[source_dir, *db_files])
    leaks = [p for p in leaks if "playwright" not in str(p)]  # the browser's own profile
    assert _scan([source_dir], marker, started, exclude=[]), "the scanner must see the source"
    assert not leaks, f"plaintext marker found on the server side: {leaks}"
    if connection.vendor == "sqlite":
        for path in db_files:
            found = subprocess.run(["grep", "-F", "-q", "-a", marker.decode(), str(path)])
            assert found.returncode == 1, f"plaintext marker found in {path}"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT string_agg(t::text, '') FROM documents_documentversion t")
            assert marker.decode() not in (cursor.fetchone()[0] or "")
    context.close()
    os.remove(source)
