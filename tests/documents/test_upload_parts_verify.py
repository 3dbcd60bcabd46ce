"""Each part is verified as it arrives; finishing authenticates the final chunk and
concatenates. Every guarantee of the one-pass verification holds: bad bytes anywhere are
refused and store nothing, and what is stored is byte for byte what the client sent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from documents.crypto import CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, encrypt, generate_identity
from documents.keys import space_key_current
from documents.models import Document, DocumentVersion, UploadSession
from documents.services import space_key_rotate
from tests.documents.test_storage_errors import flag  # noqa: F401 (fixture)
from tests.documents.test_upload_parts import (  # noqa: F401 (_small_parts: autouse fixture)
    PART,
    _ciphertext,
    _part,
    _send_all,
    _small_parts,
    _staged,
    _start,
)

pytestmark = pytest.mark.django_db

ECS = ENCRYPTED_CHUNK_SIZE


def _stored() -> list[Path]:
    root = Path(default_storage.location) / "documents"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _nothing_left() -> bool:
    return (
        not _staged()
        and not _stored()
        and not UploadSession.objects.exists()
        and not DocumentVersion.objects.exists()
        and not Document.objects.exists()
    )


def _split(data: bytes, size: int = PART) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _upload(client, world, data: bytes, size: int = PART, **meta):
    """Start, send every part (stopping at the first refusal), finish; the last answer."""
    session = _start(client, world, len(data), **meta).json()
    for index, part in enumerate(_split(data, size)):
        response = _part(client, session, index, part)
        if response.status_code != 200:
            return response
    return client.post(session["finish_url"])


def _stored_bytes(version: DocumentVersion) -> bytes:
    with (
        default_storage.open(version.header_name, "rb") as h,
        default_storage.open(version.payload_name, "rb") as p,
    ):
        return h.read() + p.read()


def _text(size: int) -> bytes:
    return (b"maritime route, container, port of transit\n" * (size // 40 + 1))[:size]


@pytest.mark.parametrize(
    ("plain_size", "part_size"),
    [
        (1, PART),
        (CHUNK_SIZE - 100, PART),  # the whole file is one (final) chunk, in two parts
        (CHUNK_SIZE, PART),  # a full final chunk
        (CHUNK_SIZE + 1, PART),
        (3 * CHUNK_SIZE, ECS),  # parts end exactly on chunk boundaries (but for the header)
        (200_000, 3 * ECS),
        (200_000, 1000),  # parts much smaller than a chunk: the carry spans many parts
        (200_000, 8 * 1024 * 1024),  # one part holds everything
    ],
)
def test_stored_object_is_byte_identical_and_hashed(client, world, settings, plain_size, part_size):
    settings.WORKSPACE_UPLOAD_PART_BYTES = part_size
    client.force_login(world["users"]["member_secret"])
    plaintext = _text(plain_size)
    data = encrypt(plaintext, [space_key_current(space=world["space"]).recipient])
    response = _upload(client, world, data, part_size)
    assert response.status_code == 201, response.content
    version = DocumentVersion.objects.get()
    assert _stored_bytes(version) == data
    assert version.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert version.size == plain_size and version.ciphertext_size == len(data)
    assert version.content_type.startswith("text/plain")
    assert not _staged() and not UploadSession.objects.exists()
    download = client.get(f"/documents/{version.document_id}/versions/1/download/")
    assert b"".join(download.streaming_content) == plaintext


def test_each_part_is_verified_on_arrival(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    for index, part in enumerate(_split(data)):
        assert _part(client, session, index, part).status_code == 200
        row = UploadSession.objects.get()
        # everything but the held-back bytes is authenticated already
        verified_end = len(row.prefix) + row.chunks_verified * ECS
        assert verified_end + len(row.carry) == row.bytes_received
        assert 0 < len(row.carry) <= ECS
    assert row.content_type.startswith("text/plain")


def test_tampered_middle_part_is_refused_on_arrival(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    tampered = bytearray(data)
    tampered[PART + PART // 2] ^= 0x40
    response = _upload(client, world, bytes(tampered))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_ciphertext"
    assert _nothing_left()


@pytest.mark.parametrize("region", ["version", "mac", "stanza", "nonce"])
def test_a_bad_header_is_refused_with_part_zero(client, world, region):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    tampered = bytearray(data)
    header_end = data.index(b"\n---") + 1 + 48
    offset = {"version": 3, "stanza": 40, "mac": header_end - 5, "nonce": header_end + 3}
    if region == "stanza":
        # another valid base64 character: the stanza still parses, the ephemeral share is
        # wrong (a flipped bit could leave the alphabet, and the header would not parse)
        tampered[40] = ord("B") if tampered[40] == ord("A") else ord("A")
    else:
        tampered[offset[region]] ^= 0x01
    session = _start(client, world, len(data)).json()
    response = _part(client, session, 0, bytes(tampered[:PART]))
    if region == "nonce":  # another payload key: chunk 0 (held back in part 0) fails next
        assert response.status_code == 200
        response = _part(client, session, 1, data[PART : 2 * PART])
    assert response.status_code == 400
    # a damaged stanza no longer opens with the space key: the same answer as a wrong key
    expected = "old_key" if region == "stanza" else "invalid_ciphertext"
    assert response.json()["error"] == expected
    assert _nothing_left()


def test_a_file_for_another_key_or_two_recipients_is_refused(client, world):
    client.force_login(world["users"]["member_secret"])
    _identity, other = generate_identity()
    ours = space_key_current(space=world["space"]).recipient
    for recipients, error in (([other], "old_key"), ([ours, other], "recipients")):
        data = encrypt(_text(100_000), recipients)
        response = _upload(client, world, data)
        assert response.status_code == 400 and response.json()["error"] == error
        assert _nothing_left()


def test_a_key_rotated_mid_upload_is_a_reload_error(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    assert _part(client, session, 0, data[:PART]).status_code == 200
    space_key_rotate(space=world["space"])
    response = _part(client, session, 1, data[PART : 2 * PART])
    assert response.status_code == 400 and response.json()["error"] == "old_key"
    assert _nothing_left()


@pytest.mark.parametrize("cut", [1, 16, 100, ECS])
def test_a_truncated_last_part_is_refused_at_finish(client, world, cut):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    response = _upload(client, world, data[:-cut])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_ciphertext"
    assert _nothing_left()


@pytest.mark.parametrize("extra", [1, 16, ECS - 1, ECS, ECS + 7])
def test_trailing_data_after_the_final_chunk_is_refused(client, world, extra):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    response = _upload(client, world, data + b"\xa5" * extra)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_ciphertext"
    assert _nothing_left()


def test_a_final_chunk_appended_twice_is_refused(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    last = data[-(len(data) - data.index(b"\n---") - 65) % ECS :]
    response = _upload(client, world, data + last)
    assert response.status_code == 400
    assert _nothing_left()


def test_reordered_or_duplicated_parts_are_refused(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    parts = _split(data)
    for order in ([0, 2, 1, 3], [0, 1, 1, 2, 3], [1, 0, 2, 3]):
        body = b"".join(parts[i] for i in order)[: len(data)]
        response = _upload(client, world, body)
        assert response.status_code == 400, order
        assert _nothing_left()


def test_a_part_resent_after_the_next_one_changes_nothing(client, world):
    client.force_login(world["users"]["member_secret"])
    plaintext, data = _ciphertext(world)
    parts = _split(data)
    session = _start(client, world, len(data)).json()
    assert _part(client, session, 0, parts[0]).status_code == 200
    assert _part(client, session, 1, parts[1]).status_code == 200
    before = UploadSession.objects.values().get()
    resent = _part(client, session, 0, parts[0])
    assert resent.status_code == 400 and resent.json()["error"] == "part_order"
    forged = _part(client, session, 1, b"\x00" * len(parts[1]))  # the last one: a no-op
    assert forged.status_code == 200
    assert UploadSession.objects.values().get() == before
    for index, part in enumerate(parts[2:], start=2):
        assert _part(client, session, index, part).status_code == 200
    assert client.post(session["finish_url"]).status_code == 201
    version = DocumentVersion.objects.get()
    assert _stored_bytes(version) == data
    assert version.sha256 == hashlib.sha256(plaintext).hexdigest()


def test_two_sessions_interleaved(client, world):
    client.force_login(world["users"]["member_secret"])
    plain_a, data_a = _ciphertext(world, 200_000)
    plain_b = _text(150_000).replace(b"port", b"pier")
    data_b = encrypt(plain_b, [space_key_current(space=world["space"]).recipient])
    a = _start(client, world, len(data_a), title="A").json()
    b = _start(client, world, len(data_b), title="B").json()
    parts_a, parts_b = _split(data_a), _split(data_b)
    # a part of B sent to A: refused (another file key), and A is gone
    c = _start(client, world, len(data_a), title="C").json()
    assert _part(client, c, 0, parts_a[0]).status_code == 200
    assert _part(client, c, 1, parts_b[1]).status_code == 400
    assert not UploadSession.objects.filter(pk=c["upload"]).exists()
    for index in range(max(len(parts_a), len(parts_b))):
        for session, parts in ((a, parts_a), (b, parts_b)):
            if index < len(parts):
                assert _part(client, session, index, parts[index]).status_code == 200
    assert client.post(b["finish_url"]).status_code == 201
    assert client.post(a["finish_url"]).status_code == 201
    for title, data, plain in (("A", data_a, plain_a), ("B", data_b, plain_b)):
        version = DocumentVersion.objects.get(document__title=title)
        assert _stored_bytes(version) == data
        assert version.sha256 == hashlib.sha256(plain).hexdigest()
    assert not _staged()


def test_finish_twice(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    _send_all(client, session, data)
    # a finish already running elsewhere (another daphne process) claimed the session
    UploadSession.objects.update(finishing=True)
    busy = client.post(session["finish_url"])
    assert busy.status_code == 400 and busy.json()["error"] == "finishing"
    assert _part(client, session, 3, _split(data)[3]).status_code == 400
    assert len(_staged()) == 4 and not DocumentVersion.objects.exists()
    UploadSession.objects.update(finishing=False)
    assert client.post(session["finish_url"]).status_code == 201
    assert client.post(session["finish_url"]).status_code == 404  # finished: gone
    assert DocumentVersion.objects.count() == 1 and not _staged()


def test_another_user_cannot_finish_or_send(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    _send_all(client, session, data)
    client.force_login(world["users"]["moderator"])
    assert client.post(session["finish_url"]).status_code == 404  # as a missing upload
    assert _part(client, session, 4, b"x").status_code == 404
    assert not UploadSession.objects.get().finishing
    assert not DocumentVersion.objects.exists()


def test_a_type_not_allowed_is_refused_with_the_first_chunk(client, world):
    client.force_login(world["users"]["member_secret"])
    data = encrypt(
        b"%PDF-1.7\n" + _text(150_000), [space_key_current(space=world["space"]).recipient]
    )
    session = _start(client, world, len(data)).json()  # announced as routes.txt
    response = _part(client, session, 0, data[:PART])
    assert response.status_code == 200  # chunk 0 is still held back
    response = _part(client, session, 1, data[PART : 2 * PART])
    assert response.status_code == 400 and response.json()["error"] == "type"
    assert _nothing_left()


def test_a_header_spanning_parts_falls_back_to_one_pass(client, world, settings):
    settings.WORKSPACE_UPLOAD_PART_BYTES = 100
    client.force_login(world["users"]["member_secret"])
    plaintext = _text(500)
    data = encrypt(plaintext, [space_key_current(space=world["space"]).recipient])
    session = _start(client, world, len(data)).json()
    for index, part in enumerate(_split(data, 100)):
        assert _part(client, session, index, part).status_code == 200
    assert UploadSession.objects.get().verify_parts is False
    assert client.post(session["finish_url"]).status_code == 201
    version = DocumentVersion.objects.get()
    assert _stored_bytes(version) == data
    assert version.sha256 == hashlib.sha256(plaintext).hexdigest()
    tampered = bytearray(data)
    tampered[-3] ^= 1
    response = _upload(client, world, bytes(tampered), 100)
    assert response.status_code == 400 and DocumentVersion.objects.count() == 1


def test_storage_failing_mid_part_changes_nothing(client, world, flag):  # noqa: F811
    client.force_login(world["users"]["member_secret"])
    plaintext, data = _ciphertext(world)
    parts = _split(data)
    session = _start(client, world, len(data)).json()
    assert _part(client, session, 0, parts[0]).status_code == 200
    before = UploadSession.objects.values().get()
    flag.write_text("part")
    failed = _part(client, session, 1, parts[1])
    assert failed.status_code == 507
    assert UploadSession.objects.values().get() == before
    assert len(_staged()) == 1
    flag.unlink()
    for index, part in enumerate(parts[1:], start=1):
        assert _part(client, session, index, part).status_code == 200
    flag.write_text("payload")
    assert client.post(session["finish_url"]).status_code == 507
    assert _nothing_left()
    flag.unlink()
    assert _upload(client, world, data).status_code == 201
    version = DocumentVersion.objects.get()
    assert _stored_bytes(version) == data
    assert version.sha256 == hashlib.sha256(plaintext).hexdigest()


def test_the_plaintext_hash_survives_a_corrupt_saved_state(client, world):
    """The saved hash state is checked before libcrypto sees it."""
    from documents.sha256state import ResumableSHA256, StateError

    state = bytearray(ResumableSHA256().state())
    state[104] = 200  # `num`: the pending block length
    with pytest.raises(StateError):
        ResumableSHA256(bytes(state))
    with pytest.raises(StateError):
        ResumableSHA256(b"short")


def test_new_version_metadata_is_rechecked_at_finish(client, world):
    client.force_login(world["users"]["member_secret"])
    _plaintext, data = _ciphertext(world)
    session = _start(client, world, len(data)).json()
    _send_all(client, session, data)
    UploadSession.objects.update(meta={**UploadSession.objects.get().meta, "level": 9})
    response = client.post(session["finish_url"])
    assert response.status_code == 400
    assert _nothing_left()
