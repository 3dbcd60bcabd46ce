"""Storage that fails mid-write (disk full, I/O error): a clear JSON answer, nothing kept.

The storage is the real filesystem storage, made to fail after writing part of a file
(`FlakyStorage`, the one the chaos tests use behind nginx): no mock of the write path.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import translation

from documents.models import Document, DocumentVersion, UploadSession
from tests.documents.test_documents import _upload
from tests.documents.test_upload_parts import PART, _ciphertext, _part, _start
from tests.integration.chaos_helpers import FAIL_FLAG_ENV, FlakyStorage

pytestmark = pytest.mark.django_db


@pytest.fixture
def flag(settings, tmp_path, monkeypatch):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.integration.chaos_helpers.FlakyStorage"},
    }
    settings.WORKSPACE_UPLOAD_PART_BYTES = PART
    path = tmp_path / "storage-fails"
    monkeypatch.setenv(FAIL_FLAG_ENV, str(path))
    return path


def _files() -> list[Path]:
    root = Path(default_storage.location)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("failing", ["payload", "header"])
def test_disk_full_during_an_upload_is_a_507_and_leaves_nothing(client, world, flag, failing):
    _plaintext, data = _ciphertext(world)
    flag.write_text(failing)
    response = _upload(client, world, data)
    assert isinstance(default_storage._wrapped, FlakyStorage)
    assert response.status_code == 507, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "storage_full"
    assert "full" in body["message"] and "No space" not in body["message"]
    assert str(default_storage.location) not in response.content.decode()
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    assert _files() == []
    flag.unlink()  # room again: the same upload now succeeds
    assert _upload(client, world, data).status_code == 201
    assert len(_files()) == 2


def test_disk_full_on_a_part_keeps_the_session_and_the_retry_succeeds(client, world, flag):
    client.force_login(world["users"]["member_secret"])
    plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    assert _part(client, session, 0, data[:PART]).status_code == 200
    flag.write_text("part")
    failed = _part(client, session, 1, data[PART : 2 * PART])
    assert failed.status_code == 507 and failed.json()["error"] == "storage_full"
    assert UploadSession.objects.get().parts_received == 1
    assert len(_files()) == 1  # part 0 only: the half-written part 1 is gone
    flag.unlink()
    for index, offset in enumerate(range(PART, len(data), PART), start=1):
        assert _part(client, session, index, data[offset : offset + PART]).status_code == 200
    finished = client.post(session["finish_url"])
    assert finished.status_code == 201, finished.content
    version = DocumentVersion.objects.get()
    download = client.get(f"/documents/{version.document_id}/versions/1/download/")
    assert b"".join(download.streaming_content) == plaintext


def test_disk_full_when_finishing_parts_is_a_507_and_frees_the_staging(client, world, flag):
    """Finishing discards the staged parts whatever the outcome; on a full disk that is
    what an operator wants too. The client starts the upload again."""
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    for index, offset in enumerate(range(0, len(data), PART)):
        assert _part(client, session, index, data[offset : offset + PART]).status_code == 200
    flag.write_text("payload")
    failed = client.post(session["finish_url"])
    assert failed.status_code == 507 and failed.json()["error"] == "storage_full"
    assert not DocumentVersion.objects.exists() and not UploadSession.objects.exists()
    assert _files() == []
    flag.unlink()
    again = _start(client, world, len(data)).json()
    for index, offset in enumerate(range(0, len(data), PART)):
        assert _part(client, again, index, data[offset : offset + PART]).status_code == 200
    assert client.post(again["finish_url"]).status_code == 201


def test_other_storage_errors_are_a_503(client, world, settings, monkeypatch, flag):
    _plaintext, data = _ciphertext(world)

    def broken(self, name, content):
        raise OSError(errno.EIO, "Input/output error", name)

    monkeypatch.setattr(FlakyStorage, "_save", broken)
    response = _upload(client, world, data)
    assert response.status_code == 503
    assert response.json()["error"] == "storage_unavailable"
    assert not Document.objects.exists() and _files() == []


def test_the_storage_error_message_is_translated(client, world, flag):
    _plaintext, data = _ciphertext(world)
    flag.write_text("payload")
    with translation.override("es"):
        client.cookies["django_language"] = "es"
        response = _upload(client, world, data)
    assert response.status_code == 507
    assert response.json()["message"] != (
        "The document store is full. Nothing was saved; please tell an administrator."
    )
