"""Encrypted documents: verified uploads, streamed downloads, hostile input, rotation."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from documents.crypto import Encryptor, decrypt, encrypt, generate_identity
from documents.keys import space_key_current, space_key_identity
from documents.models import Document, DocumentVersion, SpaceKey
from documents.services import (
    DocumentMeta,
    TamperedBlob,
    document_upload,
    space_delete,
    space_key_rotate,
)
from tests.conftest import require_tool
from workspace.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

MARKER = b"NIGHTJAR-PLAINTEXT-MARKER-93c1"


def _meta_header(**fields) -> str:
    raw = json.dumps({"title": "Seizure statistics", "filename": "stats.txt", **fields})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _recipient(world) -> str:
    return space_key_current(space=world["space"]).recipient


def _upload(client, world, body: bytes, *, user="member_secret", **meta):
    client.force_login(world["users"][user])
    return client.post(
        f"/spaces/{world['space'].pk}/documents/upload/",
        data=body,
        content_type="application/octet-stream",
        HTTP_X_DOCUMENT_META=_meta_header(**meta),
    )


def _stored_files() -> list[Path]:
    root = Path(default_storage.location)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _nothing_stored(before: list[Path]) -> bool:
    return _stored_files() == before and not DocumentVersion.objects.exists()


def test_upload_and_download_round_trip(client, world):
    plaintext = MARKER + os.urandom(200_000)
    plaintext = b"report\n" + base64.b64encode(plaintext) + b"\n"
    response = _upload(client, world, encrypt(plaintext, [_recipient(world)]), level=1)
    assert response.status_code == 201, response.content
    version = DocumentVersion.objects.get()
    assert version.size == len(plaintext)
    assert version.content_type == "text/plain"
    # Only ciphertext at rest.
    for path in _stored_files():
        assert MARKER not in path.read_bytes()
        assert base64.b64encode(MARKER)[:20] not in path.read_bytes()
    download = client.get(f"/documents/{version.document_id}/versions/1/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == plaintext
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Cache-Control"] == "no-store"
    assert "sandbox" in download["Content-Security-Policy"]
    assert download["Content-Length"] == str(len(plaintext))
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"document.uploaded", "document.downloaded"} <= actions


def test_upload_from_the_age_cli(client, world, tmp_path):
    age = require_tool("age", "install it with: apt-get install -y age")
    source = tmp_path / "minutes.pdf"
    source.write_bytes(b"%PDF-1.7\n" + MARKER + b"\n%%EOF\n")
    ciphertext = subprocess.run(
        [age, "-r", _recipient(world), str(source)], capture_output=True, check=True
    ).stdout
    response = _upload(client, world, ciphertext, filename="minutes.pdf")
    assert response.status_code == 201, response.content
    assert DocumentVersion.objects.get().content_type == "application/pdf"


def test_stored_blob_decrypts_with_the_age_cli(client, world, tmp_path):
    age = require_tool("age", "install it with: apt-get install -y age")
    _upload(client, world, encrypt(b"hello operator\n", [_recipient(world)]))
    version = DocumentVersion.objects.get()
    blob = tmp_path / "doc.age"
    with (
        default_storage.open(version.header_name) as h,
        default_storage.open(version.payload_name) as p,
    ):
        blob.write_bytes(h.read() + p.read())
    identity_file = tmp_path / "id.txt"
    call_command(
        "export_space_identity",
        str(world["space"].pk),
        "--as",
        world["users"]["network_admin"].email,
        "--out",
        str(identity_file),
    )
    assert identity_file.stat().st_mode & 0o777 == 0o600
    out = subprocess.run(
        [age, "-d", "-i", str(identity_file), str(blob)], capture_output=True, check=True
    ).stdout
    assert out == b"hello operator\n"
    assert AuditEvent.objects.filter(action="space_key.exported").exists()


def test_export_identity_is_for_network_admins_only(world, tmp_path):
    with pytest.raises(CommandError):
        call_command(
            "export_space_identity",
            str(world["space"].pk),
            "--as",
            world["users"]["moderator"].email,
            "--out",
            str(tmp_path / "x"),
        )
    assert not (tmp_path / "x").exists()


def _tamper(data: bytes, offset: int) -> bytes:
    mutable = bytearray(data)
    mutable[offset] ^= 0x01
    return bytes(mutable)


def _three_chunk_ciphertext(recipient: str) -> tuple[bytes, int]:
    encryptor = Encryptor([recipient])
    header = encryptor.header()  # header + 16-byte nonce
    body = encryptor.update(b"A" * (3 * 65536 - 5)) + encryptor.finalize()
    return header + body, len(header)


@pytest.mark.parametrize(
    "region",
    [
        "header",
        "stanza",
        "mac",
        "nonce",
        "first_chunk",
        "middle_chunk",
        "last_chunk",
        "truncated_mid_chunk",
        "truncated_at_boundary",
        "appended",
        "not_age",
        "empty",
    ],
)
def test_tampered_uploads_store_nothing(client, world, region):
    data, payload_start = _three_chunk_ciphertext(_recipient(world))
    header_end = payload_start - 16
    mac_line = data.rindex(b"--- ", 0, header_end)
    chunk = 65536 + 16
    variants = {
        "header": _tamper(data, 3),
        "stanza": _tamper(data, data.index(b"\n", 30) + 5),
        "mac": _tamper(data, mac_line + 6),
        "nonce": _tamper(data, header_end + 3),
        "first_chunk": _tamper(data, payload_start + 10),
        "middle_chunk": _tamper(data, payload_start + chunk + 10),
        "last_chunk": _tamper(data, len(data) - 3),
        "truncated_mid_chunk": data[: payload_start + chunk + 100],
        "truncated_at_boundary": data[: payload_start + 2 * chunk],
        "appended": data + b"\x00extra",
        "not_age": b"%PDF-1.7 plaintext pretending",
        "empty": b"",
    }
    before = _stored_files()
    response = _upload(client, world, variants[region])
    assert response.status_code == 400, (region, response.content)
    assert response.json()["message"]
    assert _nothing_stored(before)
    assert not Document.objects.exists()


def test_wrong_or_old_key_is_a_clear_please_reload(client, world):
    _identity, stranger = generate_identity()
    response = _upload(client, world, encrypt(b"hello", [stranger]))
    assert response.status_code == 400
    assert response.json()["error"] == "old_key"
    old_recipient = _recipient(world)
    space_key_rotate(space=world["space"])
    response = _upload(client, world, encrypt(b"hello", [old_recipient]))
    assert response.json()["error"] == "old_key"
    assert "reload" in response.json()["message"]


def test_extra_recipient_stanza_is_refused(client, world):
    _identity, extra = generate_identity()
    response = _upload(client, world, encrypt(b"hello", [_recipient(world), extra]))
    assert response.status_code == 400
    assert response.json()["error"] == "recipients"


def test_content_length_lie_is_refused_before_reading(client, world, settings):
    settings.WORKSPACE_MAX_UPLOAD_BYTES = 1000
    client.force_login(world["users"]["member_secret"])
    response = client.generic(
        "POST",
        f"/spaces/{world['space'].pk}/documents/upload/",
        b"x" * 10,
        content_type="application/octet-stream",
        HTTP_X_DOCUMENT_META=_meta_header(),
        CONTENT_LENGTH="999999999",
    )
    assert response.status_code == 413


def test_size_limit_while_reading(client, world, settings):
    settings.WORKSPACE_MAX_UPLOAD_BYTES = 100_000
    before = _stored_files()
    big = encrypt(b"B" * 300_000, [_recipient(world)])
    response = _upload(client, world, big)
    assert response.status_code == 413
    assert _nothing_stored(before)


def test_size_limit_without_content_length(world, settings):
    """A chunked body has no Content-Length: the limit still holds while reading."""
    settings.WORKSPACE_MAX_UPLOAD_BYTES = 100_000
    from documents.services import UploadRejected

    big = encrypt(b"B" * 300_000, [_recipient(world)])
    with pytest.raises(UploadRejected) as exc:
        document_upload(
            space=world["space"],
            acting_user=world["users"]["member_secret"],
            stream=io.BytesIO(big),
            content_length=None,
            filename="b.txt",
            meta=DocumentMeta(title="big"),
        )
    assert exc.value.status == 413
    assert not DocumentVersion.objects.exists()


@pytest.mark.parametrize(
    "meta, code",
    [
        ({"level": 3}, "level_above_own"),  # member_confidential is at 2
        ({"level": 9}, "unknown_level"),
        ({"tlp": "PURPLE"}, "unknown_tlp"),
        ({"tlp": "RED"}, "red_recipients"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"level": "SECRET"}, "meta"),
        ({"recipients": ["1; drop"]}, "meta"),
        ({"level": True}, "meta"),
    ],
)
def test_bad_metadata_changes_nothing(client, world, meta, code):
    before = _stored_files()
    response = _upload(
        client, world, encrypt(b"hi", [_recipient(world)]), user="member_confidential", **meta
    )
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert _nothing_stored(before)


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("path", ["upload", "upload_start"])
def test_a_nul_character_is_a_clear_400_and_stores_nothing(client, world, field, path):
    """As a form's CharField refuses it (PostgreSQL cannot store one): a 400 that names
    the field, on both JSON paths, with nothing stored."""
    from documents.models import UploadSession

    before = _stored_files()
    meta = {field: "Seizure\x00statistics"}
    if path == "upload":
        response = _upload(client, world, encrypt(b"hi", [_recipient(world)]), **meta)
    else:
        client.force_login(world["users"]["member_secret"])
        body = {"title": "Seizure statistics", "filename": "stats.txt", "size": 100, **meta}
        response = client.post(
            f"/spaces/{world['space'].pk}/documents/uploads/",
            data=json.dumps(body),
            content_type="application/json",
        )
    assert response.status_code == 400
    assert response.json() == {"error": field, "message": "Null characters are not allowed."}
    assert _nothing_stored(before)
    assert not Document.objects.exists() and not UploadSession.objects.exists()


def test_red_recipients_must_be_cleared_members(client, world):
    users = world["users"]
    body = encrypt(b"hi", [_recipient(world)])
    under_cleared = _upload(
        client,
        world,
        body,
        user="member_secret",
        tlp="RED",
        level=2,
        recipients=[users["member_open"].pk],
    )
    assert under_cleared.json()["error"] == "bad_recipients"
    outsider = _upload(
        client,
        world,
        body,
        user="member_secret",
        tlp="RED",
        level=0,
        recipients=[users["non_member"].pk],
    )
    assert outsider.json()["error"] == "bad_recipients"
    ok = _upload(
        client,
        world,
        body,
        user="member_secret",
        tlp="RED",
        level=2,
        recipients=[users["member_confidential"].pk],
    )
    assert ok.status_code == 201


@pytest.mark.parametrize(
    "header",
    [
        "!!!not-base64!!!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(b"{bad json").decode(),
        "",
        "A" * 40_000,
    ],
)
def test_malformed_meta_header(client, world, header):
    client.force_login(world["users"]["member_secret"])
    response = client.post(
        f"/spaces/{world['space'].pk}/documents/upload/",
        data=b"x",
        content_type="application/octet-stream",
        HTTP_X_DOCUMENT_META=header,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "meta"


@pytest.mark.parametrize(
    "filename, accepted, shown",
    [
        ("../../etc/passwd.txt", True, "passwd.txt"),
        ("..\\..\\boot.ini.txt", True, "boot.ini.txt"),
        ("report\x00.txt", True, "report.txt"),
        ("invoice\u202etxt.exe", False, None),  # RTL override hides .exe
        ("CON.txt", True, "_CON.txt"),
        ("a" * 500 + ".txt", True, "a" * 146 + ".txt"),
        ("payload.exe", False, None),
        ("noextension", False, None),
        ("photo.png", False, None),  # text content with an image extension
    ],
)
def test_hostile_filenames(client, world, filename, accepted, shown):
    response = _upload(
        client, world, encrypt(b"plain text\n", [_recipient(world)]), filename=filename
    )
    if not accepted:
        assert response.status_code == 400
        assert response.json()["error"] == "type"
        return
    assert response.status_code == 201, response.content
    version = DocumentVersion.objects.get()
    assert version.filename == shown
    assert "/" not in version.header_name.split("documents/", 1)[1].split("/", 1)[1]
    download = client.get(f"/documents/{version.document_id}/versions/1/download/")
    disposition = download["Content-Disposition"]
    assert "\u202e" not in disposition and "\x00" not in disposition and "../" not in disposition


def test_tampered_blob_stops_the_download_and_is_audited(client, world):
    data, payload_start = _three_chunk_ciphertext(_recipient(world))
    _upload(client, world, data)
    version = DocumentVersion.objects.get()
    path = Path(default_storage.path(version.payload_name))
    blob = bytearray(path.read_bytes())
    blob[16 + 65536 + 16 + 50] ^= 1  # inside the second chunk
    path.write_bytes(bytes(blob))
    response = client.get(f"/documents/{version.document_id}/versions/1/download/")
    received = bytearray()
    with pytest.raises(TamperedBlob):
        for piece in response.streaming_content:
            received += piece
    assert bytes(received) == b"A" * 65536  # only the authenticated first chunk
    assert AuditEvent.objects.filter(action="document.tampered").exists()


def test_documents_of_another_space_are_not_reachable(client, world):
    _upload(client, world, encrypt(b"hello", [_recipient(world)]))
    version = DocumentVersion.objects.get()
    client.force_login(world["users"]["other_moderator"])
    for url in (
        f"/documents/{version.document_id}/",
        f"/documents/{version.document_id}/versions/1/download/",
    ):
        response = client.get(url)
        assert response.status_code == 404
    response = client.post(f"/documents/{version.document_id}/delete/")
    assert response.status_code == 404
    assert Document.objects.exists()
    # An uploader of the other space cannot add a version to this document either.
    other_upload = client.post(
        f"/documents/{version.document_id}/versions/upload/",
        data=encrypt(b"x", [_recipient(world)]),
        content_type="application/octet-stream",
        HTTP_X_DOCUMENT_META=_meta_header(),
    )
    assert other_upload.status_code == 404
    assert DocumentVersion.objects.count() == 1


MISSING_ID = 999_999


def _document_routes(document_id: int) -> list[tuple[str, str, dict]]:
    """(method, url, request arguments) of every route with a document id."""
    version = encrypt(b"v2", [space_key_current(space=Document.objects.first().space).recipient])
    return [
        ("get", f"/documents/{document_id}/", {}),
        ("get", f"/documents/{document_id}/versions/1/download/", {}),
        ("post", f"/documents/{document_id}/delete/", {}),
        (
            "post",
            f"/documents/{document_id}/versions/upload/",
            {
                "data": version,
                "content_type": "application/octet-stream",
                "HTTP_X_DOCUMENT_META": _meta_header(filename="v2.txt"),
            },
        ),
        (
            "post",
            f"/documents/{document_id}/versions/uploads/",
            {
                "data": json.dumps({"filename": "v2.txt", "size": 100}),
                "content_type": "application/json",
            },
        ),
    ]


def _answer(client, method: str, url: str, kwargs: dict) -> tuple[int, str, str]:
    response = getattr(client, method)(url, **kwargs)
    template = response.templates[0].name if response.templates else ""
    return response.status_code, template, response.content.decode()


@pytest.mark.parametrize(
    "document_key, user_key",
    [
        ("secret", "member_confidential"),  # above the clearance
        ("secret", "member_expired"),  # SECRET, but the clearance has expired
        ("secret", "observer"),
        ("red", "member_open"),  # TLP:RED, not a recipient
        ("red", "moderator"),  # a moderator is no recipient either
        ("secret", "other_moderator"),  # another space of the network
        ("secret", "non_member"),
        ("secret", "suspended"),
    ],
)
def test_a_hidden_document_is_answered_as_a_missing_one(client, world, document_key, user_key):
    """Every route of a document: the same 404 for a document the user may not see as for
    an id that no document has, so sequential ids reveal nothing (issue #35)."""
    users = world["users"]
    if document_key == "secret":
        _upload(client, world, encrypt(b"x", [_recipient(world)]), title="Kept title", level=3)
    else:
        _upload(
            client,
            world,
            encrypt(b"x", [_recipient(world)]),
            title="Kept title",
            tlp="RED",
            recipients=[users["member_restricted"].pk],
        )
    document = Document.objects.get()
    client.force_login(users[user_key])
    for (method, url, kwargs), (_m, missing_url, missing_kwargs) in zip(
        _document_routes(document.pk), _document_routes(MISSING_ID), strict=True
    ):
        hidden = _answer(client, method, url, kwargs)
        missing = _answer(client, method, missing_url, missing_kwargs)
        assert hidden[:2] == missing[:2] and hidden[0] == 404, (url, hidden[:2], missing[:2])
        assert "Kept title" not in hidden[2] and world["space"].name not in hidden[2]
    assert DocumentVersion.objects.count() == 1 and Document.objects.count() == 1


def test_a_right_lacking_on_a_visible_document_is_a_403(client, world):
    """Hidden is a 404; seen but not managed (not the author, not a moderator) is a 403."""
    _upload(client, world, encrypt(b"x", [_recipient(world)]), title="Kept title", level=1)
    document = Document.objects.get()
    client.force_login(world["users"]["member_restricted"])
    assert client.get(f"/documents/{document.pk}/").status_code == 200
    for method, url, kwargs in _document_routes(document.pk)[2:]:
        assert getattr(client, method)(url, **kwargs).status_code == 403, url
    assert DocumentVersion.objects.count() == 1


def test_list_is_filtered_by_level_and_tlp(client, world):
    users = world["users"]
    recipient = _recipient(world)
    for level in range(4):
        _upload(
            client,
            world,
            encrypt(b"x", [recipient]),
            title=f"Doc level {level}",
            level=level,
            user="member_secret",
        )
    _upload(
        client,
        world,
        encrypt(b"x", [recipient]),
        title="Doc red",
        tlp="RED",
        level=0,
        recipients=[users["member_restricted"].pk],
        user="member_secret",
    )
    expected = {
        "member_open": {"Doc level 0"},
        "member_expired": {"Doc level 0"},
        "member_restricted": {"Doc level 0", "Doc level 1", "Doc red"},
        "member_confidential": {"Doc level 0", "Doc level 1", "Doc level 2"},
        "member_secret": {"Doc level 0", "Doc level 1", "Doc level 2", "Doc level 3", "Doc red"},
    }
    for key, titles in expected.items():
        client.force_login(users[key])
        body = client.get(f"/spaces/{world['space'].pk}/documents/").content.decode()
        seen = {
            t
            for t in ("Doc level 0", "Doc level 1", "Doc level 2", "Doc level 3", "Doc red")
            if t in body
        }
        assert seen == titles, key


def test_new_version_and_delete(client, world):
    _upload(client, world, encrypt(b"v1", [_recipient(world)]))
    document = Document.objects.get()
    response = client.post(
        f"/documents/{document.pk}/versions/upload/",
        data=encrypt(b"v2 text", [_recipient(world)]),
        content_type="application/octet-stream",
        HTTP_X_DOCUMENT_META=_meta_header(filename="stats-v2.txt"),
    )
    assert response.status_code == 201
    assert list(document.versions.values_list("number", flat=True)) == [2, 1]
    download = client.get(f"/documents/{document.pk}/versions/2/download/")
    assert b"".join(download.streaming_content) == b"v2 text"
    client.post(f"/documents/{document.pk}/delete/")
    assert not Document.objects.exists()
    assert AuditEvent.objects.filter(action="document.deleted").exists()


@pytest.mark.django_db(transaction=True)
def test_delete_removes_blobs_after_commit(client, world):
    _upload(client, world, encrypt(b"v1", [_recipient(world)]))
    version = DocumentVersion.objects.get()
    names = [version.header_name, version.payload_name]
    client.post(f"/documents/{version.document_id}/delete/")
    assert not any(default_storage.exists(n) for n in names)


def test_rotation_rewraps_headers_only(client, world):
    space = world["space"]
    for i in range(3):
        _upload(
            client,
            world,
            encrypt(f"doc {i} ".encode() * 30_000, [_recipient(world)]),
            title=f"d{i}",
        )
    before = {
        v.pk: (v.header_name, default_storage.open(v.payload_name).read())
        for v in DocumentVersion.objects.all()
    }
    old_key = space_key_current(space=space)
    progress = []
    new_key = space_key_rotate(space=space, progress=lambda d, t: progress.append((d, t)))
    assert progress[-1] == (3, 3)
    assert new_key.pk != old_key.pk
    old_key.refresh_from_db()
    assert old_key.destroyed_at is not None and bytes(old_key.wrapped_identity) == b""
    identity = space_key_identity(new_key)
    for version in DocumentVersion.objects.all():
        old_header, old_payload = before[version.pk]
        assert version.space_key_id == new_key.pk
        assert version.header_name != old_header
        assert not default_storage.exists(old_header)
        payload = default_storage.open(version.payload_name).read()
        assert payload == old_payload  # payload bytes untouched
        header = default_storage.open(version.header_name).read()
        assert decrypt(header + payload, [identity]).startswith(b"doc ")
    assert AuditEvent.objects.filter(action="space_key.rotated").exists()


def test_rotation_command_resumes(world, capsys):
    space = world["space"]
    version = document_upload(
        space=space,
        acting_user=world["users"]["member_secret"],
        stream=io.BytesIO(encrypt(b"x", [_recipient(world)])),
        content_length=None,
        filename="x.txt",
        meta=DocumentMeta(title="x"),
    )
    # Simulate an interrupted rotation: the old key is retired but the version still uses it.
    SpaceKey.objects.filter(pk=version.space_key_id).update(retired_at="2026-01-01T00:00Z")
    call_command("rotate_space_key", space.slug)
    assert "1/1" in capsys.readouterr().out
    version.refresh_from_db()
    assert version.space_key.retired_at is None
    assert SpaceKey.objects.filter(destroyed_at__isnull=False).count() == 1


def test_space_delete_shreds_keys_then_blobs(client, world):
    _upload(client, world, encrypt(b"x", [_recipient(world)]))
    version = DocumentVersion.objects.get()
    names = [version.header_name, version.payload_name]
    space_delete(space=world["space"], acting_user=world["users"]["network_admin"])
    assert not SpaceKey.objects.exists()
    assert not any(default_storage.exists(n) for n in names)
    assert AuditEvent.objects.filter(action="space.deleted").exists()


def test_wrapped_key_is_bound_to_its_space(world):
    from documents.keys import KeyDestroyed
    from tests.factories import SpaceFactory
    from workspace.keys import KeyUnwrapError

    key = space_key_current(space=world["space"])
    other = space_key_current(space=SpaceFactory())
    SpaceKey.objects.filter(pk=other.pk).update(wrapped_identity=key.wrapped_identity)
    other.refresh_from_db()
    with pytest.raises(KeyUnwrapError):
        space_key_identity(other)
    SpaceKey.objects.filter(pk=other.pk).update(wrapped_identity=b"")
    other.refresh_from_db()
    with pytest.raises(KeyDestroyed):
        space_key_identity(other)
