"""Uploads in parts: no request body is large, and each part is verified as it arrives."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.models import DocumentVersion, UploadSession
from documents.services import upload_sessions_purge
from networks.models import Membership
from networks.services import membership_set_status

pytestmark = pytest.mark.django_db

PART = 64 * 1024


@pytest.fixture(autouse=True)
def _small_parts(settings):
    settings.WORKSPACE_UPLOAD_PART_BYTES = PART


def _staged() -> list[Path]:
    root = Path(default_storage.location) / "staging"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _start(client, world, size, **meta):
    body = {"title": "Route analysis", "filename": "routes.txt", "size": size, **meta}
    return client.post(
        f"/spaces/{world['space'].pk}/documents/uploads/",
        data=json.dumps(body),
        content_type="application/json",
    )


def _part(client, session, index, data):
    return client.post(
        f"{session['parts_url']}{index}/", data=data, content_type="application/octet-stream"
    )


def _ciphertext(world, size=200_000) -> tuple[bytes, bytes]:
    plaintext = (b"maritime route, container, port of transit\n" * (size // 40 + 1))[:size]
    return plaintext, encrypt(plaintext, [space_key_current(space=world["space"]).recipient])


def _send_all(client, session, data):
    for index, offset in enumerate(range(0, len(data), PART)):
        assert _part(client, session, index, data[offset : offset + PART]).status_code == 200


def test_upload_in_parts_round_trip(client, world):
    client.force_login(world["users"]["member_secret"])
    plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    assert session["part_size"] == PART
    _send_all(client, session, data)
    assert len(_staged()) == 4
    finished = client.post(session["finish_url"])
    assert finished.status_code == 201, finished.content
    assert not _staged() and not UploadSession.objects.exists()
    version = DocumentVersion.objects.get()
    download = client.get(f"/documents/{version.document_id}/versions/1/download/")
    assert b"".join(download.streaming_content) == plaintext


def test_retrying_the_last_part_is_harmless(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    assert _part(client, session, 0, data[:PART]).status_code == 200
    assert _part(client, session, 0, data[:PART]).status_code == 200
    assert UploadSession.objects.get().bytes_received == PART


def test_parts_out_of_order_are_refused(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    response = _part(client, session, 2, data[:PART])
    assert response.status_code == 400 and response.json()["error"] == "part_order"
    assert not _staged()


def test_part_too_large_or_more_than_announced(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, PART + 10).json()
    assert _part(client, session, 0, data[: PART + 1]).status_code == 413
    assert _part(client, session, 0, data[:PART]).status_code == 200
    assert _part(client, session, 1, data[PART : PART + 11]).status_code == 413
    assert UploadSession.objects.get().bytes_received == PART


def test_declared_size_over_the_limit_is_refused(client, world, settings):
    settings.WORKSPACE_MAX_UPLOAD_BYTES = 1000
    client.force_login(world["users"]["member_secret"])
    assert _start(client, world, 10**9).status_code == 413
    assert not UploadSession.objects.exists()


@pytest.mark.parametrize("size", [0, -5, "big", True, None])
def test_bad_declared_size(client, world, size):
    client.force_login(world["users"]["member_secret"])
    response = _start(client, world, size)
    assert response.status_code == 400
    assert not UploadSession.objects.exists()


def test_bad_metadata_is_refused_before_any_byte(client, world):
    client.force_login(world["users"]["member_confidential"])
    response = _start(client, world, 100, level=3)
    assert response.json()["error"] == "level_above_own"
    bad_json = client.post(
        f"/spaces/{world['space'].pk}/documents/uploads/",
        data=b"{not json",
        content_type="application/json",
    )
    assert bad_json.status_code == 400
    assert not UploadSession.objects.exists()


def test_incomplete_upload_is_refused_and_discarded(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    _part(client, session, 0, data[:PART])
    response = client.post(session["finish_url"])
    assert response.status_code == 400 and response.json()["error"] == "incomplete"
    assert not _staged() and not UploadSession.objects.exists()


def test_tampered_parts_store_nothing(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    tampered = bytearray(data)
    tampered[PART + 100] ^= 1
    session = _start(client, world, len(data)).json()
    assert _part(client, session, 0, bytes(tampered[:PART])).status_code == 200
    # Verified as it arrives: the part holding the bad chunk is refused, the upload ends.
    response = _part(client, session, 1, bytes(tampered[PART : 2 * PART]))
    assert response.status_code == 400 and response.json()["error"] == "invalid_ciphertext"
    assert client.post(session["finish_url"]).status_code == 404  # the upload has ended
    assert not _staged() and not DocumentVersion.objects.exists()
    assert not UploadSession.objects.exists()
    stored = Path(default_storage.location) / "documents"
    assert not stored.exists() or not any(p.is_file() for p in stored.rglob("*"))


def test_someone_elses_session_is_answered_as_a_missing_one(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    client.force_login(world["users"]["member_confidential"])
    missing = {
        "parts_url": "/uploads/00000000-0000-4000-8000-000000000000/parts/",
        "finish_url": "/uploads/00000000-0000-4000-8000-000000000000/finish/",
    }
    for target in (session, missing):
        assert _part(client, target, 0, data[:PART]).status_code == 404
        assert client.post(target["finish_url"]).status_code == 404
    assert UploadSession.objects.get().parts_received == 0


def test_suspension_mid_upload_stops_it(client, world):
    uploader = world["users"]["member_secret"]
    client.force_login(uploader)
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    _part(client, session, 0, data[:PART])
    membership_set_status(
        membership=Membership.objects.get(user=uploader, space=world["space"]),
        status="suspended",
        acting_user=world["users"]["network_admin"],
    )
    assert _part(client, session, 1, data[PART : 2 * PART]).status_code == 403
    assert client.post(session["finish_url"]).status_code == 403
    assert not DocumentVersion.objects.exists()


def test_new_version_in_parts(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    _send_all(client, session, data)
    document_id = client.post(session["finish_url"]).json()["id"]
    plaintext2, data2 = _ciphertext(world, 90_000)
    start = client.post(
        f"/documents/{document_id}/versions/uploads/",
        data=json.dumps({"filename": "routes-v2.txt", "size": len(data2)}),
        content_type="application/json",
    ).json()
    _send_all(client, start, data2)
    assert client.post(start["finish_url"]).status_code == 201
    download = client.get(f"/documents/{document_id}/versions/2/download/")
    assert b"".join(download.streaming_content) == plaintext2


def test_abandoned_uploads_are_purged(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    _part(client, session, 0, data[:PART])
    UploadSession.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert upload_sessions_purge(older_than=timedelta(hours=24)) == 1
    assert not _staged() and not UploadSession.objects.exists()


def test_purge_command(client, world, capsys):
    from django.core.management import call_command

    client.force_login(world["users"]["member_secret"])
    _start(client, world, 100)
    call_command("purge_uploads", "--older-than-hours", "1")
    assert UploadSession.objects.count() == 1  # too young
    UploadSession.objects.update(created_at=timezone.now() - timedelta(hours=2))
    call_command("purge_uploads", "--older-than-hours", "1")
    assert not UploadSession.objects.exists()
    assert "Purged 1" in capsys.readouterr().out
