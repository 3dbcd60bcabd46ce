"""The backup and recovery drill of docs/operations.md, run block by block as written.

A real workspace (an uploaded document, a key rotation, a second version) is backed up
with the `drill:` command blocks of the guide, restored into a fresh directory (and, on
PostgreSQL, a fresh database), verified with `audit_verify`, and each version is
decrypted from the restored blobs with the real `age` CLI through
`export_space_identity`. The live test database is only ever read by a subprocess
(SQLite's POSIX locks would drop if this process opened and closed the file).
"""

from __future__ import annotations

import base64
import io
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.models import DocumentVersion, SpaceKey
from documents.services import DocumentMeta, document_upload
from tests.conftest import require_tool
from tests.integration.topology import ROOT, database_url
from workspace.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

GUIDE = ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"^( *)```sh drill:(\S+)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def drill_blocks() -> dict[str, str]:
    blocks = {}
    for indent, name, body in BLOCK.findall(GUIDE.read_text()):
        lines = [
            line[len(indent) :] if line.startswith(indent) else line for line in body.splitlines()
        ]
        blocks[name] = "\n".join(lines) + "\n"
    return blocks


def run_drill(names: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run the guide's blocks, in order, in one bash that stops at the first error."""
    blocks = drill_blocks()
    missing = [name for name in names if name not in blocks]
    assert not missing, f"docs/operations.md lost its drill blocks {missing}"
    script = "set -euo pipefail\n" + "".join(blocks[name] for name in names)
    result = subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{names} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _env(**values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "WORKSPACE_")) and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(DJANGO_DEBUG="1", DJANGO_SECRET_KEY="drill-" + "d" * 50, APP=str(ROOT))
    env.update(values)
    return env


def _plaintext(tag: bytes) -> bytes:
    # Several 64 KiB age chunks of text (the sniffer accepts .txt content).
    return b"seizure report " + tag + b"\n" + base64.b64encode(os.urandom(300_000)) + b"\n"


def _upload(world, plaintext: bytes, *, document=None) -> DocumentVersion:  # type: ignore[no-untyped-def]
    space = world["space"]
    ciphertext = encrypt(plaintext, [space_key_current(space=space).recipient])
    return document_upload(
        space=space,
        acting_user=world["users"]["member_secret"],
        stream=io.BytesIO(ciphertext),
        content_length=len(ciphertext),
        filename="seizures 2024.txt",
        meta=None if document else DocumentMeta(title="Seizure figures", level=1, tlp="AMBER"),
        document=document,
    )


def _drill(world, tmp_path: Path, *, backend: str, fresh_database_url: str) -> None:  # type: ignore[no-untyped-def]
    require_tool("age", "install it with: apt-get install -y age")
    if os.environ.get("WORKSPACE_MASTER_KEY"):
        pytest.skip("the drill backs up the master key file; unset WORKSPACE_MASTER_KEY")
    space = world["space"]
    admin = world["users"]["network_admin"]
    first, second = _plaintext(b"v1"), _plaintext(b"v2")
    document = _upload(world, first).document

    live = _env(
        DATABASE_URL=database_url(),
        SQLITE_DB=str(connection.settings_dict["NAME"]),
        WORKSPACE_DATA_DIR=str(tmp_path / "live-data"),
        WORKSPACE_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        WORKSPACE_MASTER_KEY_FILE=str(settings.WORKSPACE_MASTER_KEY_FILE),
        BACKUP=str(tmp_path / "backups" / "2025-01-31"),
        KEY_BACKUP=str(tmp_path / "offline-keys"),
        SPACE=space.slug,
    )
    # Rotate as the guide says, then add a version under the new key.
    run_drill(["rotate"], live, tmp_path)
    assert SpaceKey.objects.filter(space=space, destroyed_at__isnull=False).count() == 1
    _upload(world, second, document=document)

    # --- Backup, on the live system ---------------------------------------------------
    head = run_drill(
        ["backup-audit-head", f"backup-{backend}", "backup-blobs", "backup-master-key"],
        live,
        tmp_path,
    ).strip()
    assert re.fullmatch(r"head: seq \d+ hash [0-9a-f]{64}", head), head
    backup = Path(live["BACKUP"])
    assert not any(p.name == "master.key" for p in backup.rglob("*")), "key stored with the data"

    # --- Restore, on a "fresh machine" (nothing shared with the live paths) ------------
    fresh = tmp_path / "fresh"
    restored_sqlite = fresh / "data" / "workspace.sqlite3"
    restored = _env(
        DATABASE_URL=fresh_database_url or f"sqlite:///{restored_sqlite}",
        SQLITE_DB=str(restored_sqlite),
        WORKSPACE_DATA_DIR=str(fresh / "data"),
        WORKSPACE_MEDIA_ROOT=str(fresh / "media"),
        WORKSPACE_MASTER_KEY_FILE=str(fresh / "keys" / "master.key"),
        BACKUP=live["BACKUP"],
        KEY_BACKUP=live["KEY_BACKUP"],
        SPACE=space.slug,
        ADMIN_EMAIL=admin.email,
        RECOVERY=str(tmp_path / "recovery"),
    )
    verified = run_drill(
        ["restore-files", f"restore-{backend}", "restore-verify"], restored, tmp_path
    )
    assert verified.strip().splitlines()[-1] == head
    assert (fresh / "keys" / "master.key").stat().st_mode & 0o777 == 0o600

    # --- Disaster recovery: each version, from the restored blobs, with the age CLI ----
    for number, plaintext in ((1, first), (2, second)):
        env = {**restored, "DOCUMENT": str(document.pk), "VERSION": str(number)}
        run_drill(["decrypt-locate", "decrypt"], env, tmp_path)
        recovered = tmp_path / "recovery" / "seizures_2024.txt"
        assert recovered.read_bytes() == plaintext, f"version {number}"
        recovered.unlink()
        assert not (tmp_path / "recovery" / "id.txt").exists(), "identity file left behind"

    # The restored copy is independent: the exports were audited there, not here.
    assert not AuditEvent.objects.filter(action="space_key.exported").exists()


def test_backup_restore_and_age_decrypt_on_sqlite(world, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("this variant backs up the SQLite test database")
    _drill(world, tmp_path, backend="sqlite", fresh_database_url="")


@pytest.mark.postgres
def test_backup_restore_and_age_decrypt_on_postgresql(world, tmp_path):
    require_tool("pg_dump", "install it with: apt-get install -y postgresql-client")
    require_tool("psql", "install it with: apt-get install -y postgresql-client")
    db = connection.settings_dict
    name = f"workspace_drill_{secrets.token_hex(4)}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    server = f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    admin_url = f"{server}/postgres"
    subprocess.run(
        ["psql", "--quiet", "-d", admin_url, "-c", f'CREATE DATABASE "{name}"'],
        check=True,
        capture_output=True,
    )
    try:
        _drill(world, tmp_path, backend="postgres", fresh_database_url=f"{server}/{name}")
    finally:
        subprocess.run(
            [
                "psql",
                "--quiet",
                "-d",
                admin_url,
                "-c",
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            ],
            check=False,
            capture_output=True,
        )
