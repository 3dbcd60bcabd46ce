"""Document writes: verified ciphertext uploads, deletion, key rotation, crypto-shredding.

The server never receives plaintext: the browser (or any age client) encrypts to the
space's current recipient. Uploads are verified in constant memory, stored through
Django's storage API, and nothing is stored unless every check passes.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import ProhibitNullCharactersValidator
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from documents import sha256state
from documents.crypto import (
    CHUNK_SIZE,
    ENCRYPTED_CHUNK_SIZE,
    NONCE_SIZE,
    AgeError,
    Decryptor,
    Header,
    NoMatchError,
    PayloadDecryptor,
    PayloadError,
    open_payload,
    rewrap_header,
)
from documents.filenames import safe_filename
from documents.keys import (
    space_key_create,
    space_key_current,
    space_key_destroy,
    space_key_identity,
)
from documents.models import Document, DocumentVersion, SpaceKey, UploadSession
from documents.sniff import ALLOWED_EXTENSIONS, content_type_for
from networks.access import Action, ItemLabels, access_item, access_space, clearance_in_effect
from networks.clearance import TLP, validate_level
from networks.models import Membership, MembershipStatus, Role, Space
from workspace.audit.services import audit_record
from workspace.notifications import services as notifications

logger = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
DOWNLOAD_READ_SIZE = 1024 * 1024


class UploadRejected(Exception):
    """A clear, user-facing reason; `status` is 400, 413, or 507/503 when storage fails.
    Nothing was stored."""

    def __init__(self, message: str, *, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def max_upload_bytes() -> int:
    return int(getattr(settings, "WORKSPACE_MAX_UPLOAD_BYTES", 1024 * 1024 * 1024))


@dataclass
class DocumentMeta:
    title: str
    description: str = ""
    level: int = 0
    tlp: str = TLP.GREEN
    recipient_ids: list[int] = field(default_factory=list)


# The validator of every form's CharField, so the JSON path says what the forms say.
_no_null_characters = ProhibitNullCharactersValidator()


def document_labels(document: Document) -> ItemLabels:
    return ItemLabels(
        space_id=document.space_id,
        level=document.level,
        tlp=document.tlp,
        author_id=document.author_id,
        recipient_ids=frozenset(document.recipients.values_list("pk", flat=True)),
    )


def _validate_meta(meta: DocumentMeta, *, space: Space, membership: Membership) -> None:
    if not meta.title.strip() or len(meta.title) > 200:
        raise ValidationError(_("A title of 1 to 200 characters is required."), code="title")
    if len(meta.description) > 5000:
        raise ValidationError(_("The description is too long."), code="description")
    # As a form's CharField refuses them: PostgreSQL cannot store a NUL in text or JSON.
    for code, value in (("title", meta.title), ("description", meta.description)):
        try:
            _no_null_characters(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages[0], code=code) from None
    validate_level(meta.level)
    if meta.level > clearance_in_effect(membership):
        raise ValidationError(
            _("You cannot classify above your own clearance."), code="level_above_own"
        )
    if meta.tlp not in TLP.values:
        raise ValidationError(_("Unknown TLP label."), code="unknown_tlp")
    if meta.tlp == TLP.RED:
        if not meta.recipient_ids:
            raise ValidationError(_("TLP:RED needs named recipients."), code="red_recipients")
        recipients = Membership.objects.filter(
            space=space, user_id__in=meta.recipient_ids, status=MembershipStatus.ACTIVE
        )
        eligible = {m.user_id for m in recipients if clearance_in_effect(m) >= meta.level}
        if eligible != set(meta.recipient_ids):
            raise ValidationError(
                _("Every recipient must be an active member cleared for this level."),
                code="bad_recipients",
            )
    elif meta.recipient_ids:
        raise ValidationError(_("Named recipients are only for TLP:RED."), code="recipients")


def _old_key() -> UploadRejected:
    return UploadRejected(
        _(
            "The file was encrypted to an old key of this space. Please reload the "
            "page and upload again."
        ),
        code="old_key",
    )


@contextmanager
def _age_errors() -> Iterator[None]:
    """The crypto engine's errors as the user-facing refusals."""
    try:
        yield
    except NoMatchError:
        raise _old_key() from None
    except AgeError as exc:
        raise UploadRejected(
            _("The upload is not a valid encrypted file (%(reason)s).")
            % {"reason": type(exc).__name__},
            code="invalid_ciphertext",
        ) from None


def _require_one_x25519(header: Header) -> None:
    stanzas = header.stanzas
    if len(stanzas) != 1 or stanzas[0].type != "X25519":
        raise UploadRejected(
            _("The file must be encrypted to this space's key only."), code="recipients"
        )


def _sniff_type(head: bytes, filename: str) -> str:
    content_type = content_type_for(head, filename)
    if content_type is None:
        raise UploadRejected(
            _(
                "This type of file is not accepted, or its extension does not match its "
                "content. Accepted: %(extensions)s."
            )
            % {"extensions": ", ".join(ALLOWED_EXTENSIONS)},
            code="type",
        )
    return content_type


class _VerifyingReader:
    """A file-like over uploaded ciphertext whose `read()` returns only the payload (nonce
    and STREAM chunks) while proving it: the header must hold exactly one X25519 stanza
    that opens with the space key, the MAC must verify, every chunk must authenticate,
    the first plaintext bytes must be an allowed type for the filename, and the size must
    stay under the limit. Storage pulls from it, so the ciphertext is written once, to its
    final object; any failure raises from `read()` and the caller deletes what was
    written. Plaintext exists only chunk by chunk in memory.
    """

    def __init__(
        self, stream: Any, *, identity: str, filename: str, content_length: int | None
    ) -> None:
        self.limit = max_upload_bytes() + 64 * 1024  # headroom for the header and tags
        if content_length is not None and content_length > self.limit:
            raise UploadRejected(_("The file is too large."), code="too_large", status=413)
        self._stream = stream
        self._filename = filename
        self._decryptor = Decryptor([identity])
        self._digest = hashlib.sha256()
        self._prefix = bytearray()
        self._head = b""
        self._eof = False
        self.header: bytes | None = None
        self.content_type: str | None = None
        self.size = 0  # plaintext bytes
        self.ciphertext_size = 0

    def _take(self, plain_chunks: list[bytes]) -> None:
        for chunk in plain_chunks:
            if self.content_type is None:
                self._head += chunk[: 8192 - len(self._head)]
                if len(self._head) >= 8192:
                    self._sniff()
            self._digest.update(chunk)
            self.size += len(chunk)

    def _sniff(self) -> None:
        self.content_type = _sniff_type(self._head, self._filename)

    def _pull(self) -> bytes:
        """Payload bytes from the next piece of input ('' only at the verified end)."""
        chunk = self._stream.read(READ_SIZE)
        if not chunk:
            self._eof = True
            self._take(self._decryptor.close())
            if self.header is None:
                raise UploadRejected(
                    _("The upload is empty or truncated."), code="invalid_ciphertext"
                )
            if self.content_type is None:
                self._sniff()
            return b""
        self.ciphertext_size += len(chunk)
        if self.ciphertext_size > self.limit:
            raise UploadRejected(_("The file is too large."), code="too_large", status=413)
        self._take(self._decryptor.feed(chunk))
        if self.header is not None:
            return chunk
        self._prefix += chunk
        if self._decryptor.header_length is None:
            return b""
        assert self._decryptor.header is not None
        _require_one_x25519(self._decryptor.header)
        length = self._decryptor.header_length
        self.header = bytes(self._prefix[:length])
        payload = bytes(self._prefix[length:])
        self._prefix = bytearray()
        return payload

    def read(self, size: int = -1) -> bytes:
        with _age_errors():
            while not self._eof:
                data = self._pull()
                if data:
                    return data
            return b""

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def _blob_names(space_id: int) -> tuple[str, str]:
    stem = f"documents/{space_id}/{uuid.uuid4().hex}"
    return f"{stem}.header", f"{stem}.payload"


def _storage_failed(exc: OSError) -> UploadRejected:
    """Storage refused a write (disk full, quota, I/O error): a clear answer, no details."""
    logger.error("document storage write failed: errno %s", exc.errno)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UploadRejected(
            _("The document store is full. Nothing was saved; please tell an administrator."),
            code="storage_full",
            status=507,
        )
    return UploadRejected(
        _("The document store is unavailable. Nothing was saved; please try again later."),
        code="storage_unavailable",
        status=503,
    )


def _store_blobs(
    space_id: int, payload: File, header: Callable[[], bytes | None]
) -> tuple[str, str]:
    """Write the payload object (pulled from `payload`), then the header object."""
    header_name, payload_name = _blob_names(space_id)
    try:
        payload_name = default_storage.save(payload_name, payload)
        header_bytes = header()
        assert header_bytes is not None
        header_name = default_storage.save(header_name, ContentFile(header_bytes))
    except BaseException as exc:
        default_storage.delete(payload_name)
        default_storage.delete(header_name)
        if isinstance(exc, OSError):
            raise _storage_failed(exc) from exc
        raise
    return header_name, payload_name


def _verify_and_store(reader: _VerifyingReader, space_id: int) -> tuple[str, str]:
    """Stream the payload into storage while verifying it, then write the header."""
    return _store_blobs(space_id, File(reader, name="payload"), lambda: reader.header)


def _may_manage(membership: Membership, document: Document) -> bool:
    return document.author_id == membership.user_id or membership.role == Role.MODERATOR


def access_document_manage(user: Any, document: Document, *, action: Action) -> Membership:
    """The author or a moderator who may see the document; else PermissionDenied."""
    membership = access_item(user, document_labels(document), action=action)
    if not _may_manage(membership, document):
        raise PermissionDenied
    return membership


def _upload_allowed(
    *, space: Space, acting_user: Any, meta: DocumentMeta | None, document: Document | None
) -> None:
    membership = access_space(acting_user, space.pk, action=Action.UPLOAD)
    if document is not None:
        if document.space_id != space.pk:
            raise PermissionDenied
        access_document_manage(acting_user, document, action=Action.UPLOAD)
    else:
        assert meta is not None
        _validate_meta(meta, space=space, membership=membership)


def document_upload(
    *,
    space: Space,
    acting_user: Any,
    stream: Any,
    content_length: int | None,
    filename: str,
    meta: DocumentMeta | None = None,
    document: Document | None = None,
    request: HttpRequest | None = None,
) -> DocumentVersion:
    """A new document (with `meta`) or a new version of `document`, from age ciphertext."""
    _upload_allowed(space=space, acting_user=acting_user, meta=meta, document=document)
    display_name = safe_filename(filename)
    key = space_key_current(space=space)
    verified = _VerifyingReader(
        stream,
        identity=space_key_identity(key),
        filename=display_name,
        content_length=content_length,
    )
    header_name, payload_name = _verify_and_store(verified, space.pk)
    assert verified.content_type is not None
    return _version_record(
        space=space,
        acting_user=acting_user,
        key=key,
        meta=meta,
        document=document,
        blobs=(header_name, payload_name),
        filename=display_name,
        content_type=verified.content_type,
        size=verified.size,
        ciphertext_size=verified.ciphertext_size,
        sha256=verified.sha256,
        request=request,
    )


def _version_record(
    *,
    space: Space,
    acting_user: Any,
    key: SpaceKey,
    meta: DocumentMeta | None,
    document: Document | None,
    blobs: tuple[str, str],
    filename: str,
    content_type: str,
    size: int,
    ciphertext_size: int,
    sha256: str,
    request: HttpRequest | None,
) -> DocumentVersion:
    """The rows for stored, verified blobs: document (if new), version, audit, notice."""
    header_name, payload_name = blobs
    try:
        with transaction.atomic():
            if document is None:
                assert meta is not None
                document = Document.objects.create(
                    space=space,
                    title=meta.title.strip(),
                    description=meta.description,
                    level=meta.level,
                    tlp=meta.tlp,
                    author=acting_user,
                )
                if meta.recipient_ids:
                    document.recipients.set(meta.recipient_ids)
                number = 1
            else:
                document = Document.objects.select_for_update().get(pk=document.pk)
                number = (
                    document.versions.order_by("-number").values_list("number", flat=True).first()
                    or 0
                ) + 1
                document.updated_at = timezone.now()
                document.save(update_fields=["updated_at"])
            version = DocumentVersion.objects.create(
                document=document,
                number=number,
                header_name=header_name,
                payload_name=payload_name,
                filename=filename,
                content_type=content_type,
                size=size,
                ciphertext_size=ciphertext_size,
                sha256=sha256,
                space_key=key,
                uploaded_by=acting_user,
            )
            audit_record(
                action="document.uploaded",
                actor=acting_user,
                request=request,
                space_id=space.pk,
                target=f"document:{document.pk}",
                details={
                    "version": number,
                    "size": size,
                    "sha256": sha256,
                    "level": document.level,
                    "tlp": document.tlp,
                },
            )
            if number == 1:  # a new document; new versions notify nobody
                notifications.document_added(document=document, labels=document_labels(document))
    except Exception:
        # No orphan blobs: a failed row write removes what was stored.
        default_storage.delete(header_name)
        default_storage.delete(payload_name)
        raise
    return version


class TamperedBlob(Exception):
    """A stored blob failed authentication during download."""


def version_open(
    *, version: DocumentVersion, acting_user: Any, request: HttpRequest | None = None
) -> Any:
    """Access-checked, audited plaintext iterator over a version, chunk by chunk."""
    document = version.document
    access_item(acting_user, document_labels(document), action=Action.VIEW)
    identity = space_key_identity(version.space_key)
    audit_record(
        action="document.downloaded",
        actor=acting_user,
        request=request,
        space_id=document.space_id,
        target=f"document:{document.pk}",
        details={"version": version.number},
    )
    return _plaintext_chunks(version, identity, acting_user)


def _plaintext_chunks(version: DocumentVersion, identity: str, acting_user: Any) -> Any:
    decryptor = Decryptor([identity])
    try:
        with default_storage.open(version.header_name, "rb") as header:
            yield from decryptor.feed(header.read())
        with default_storage.open(version.payload_name, "rb") as payload:
            while piece := payload.read(DOWNLOAD_READ_SIZE):
                # One write per storage read: fewer, larger response messages.
                plain = decryptor.feed(piece)
                if plain:
                    yield b"".join(plain)
        tail = decryptor.close()
        if tail:
            yield b"".join(tail)
    except AgeError as exc:
        audit_record(
            action="document.tampered",
            actor=acting_user,
            space_id=version.document.space_id,
            target=f"document:{version.document_id}",
            details={"version": version.number, "error": type(exc).__name__},
        )
        raise TamperedBlob(str(version.pk)) from exc


async def aiter_in_thread(chunks: Any) -> Any:
    """Serve a blocking iterator to an ASGI response one item at a time.

    Django consumes a *synchronous* streaming iterator whole before sending it under
    ASGI; this async wrapper keeps memory at one chunk.
    """
    from asgiref.sync import sync_to_async

    iterator = iter(chunks)
    done = object()
    step = sync_to_async(next, thread_sensitive=True)
    while (chunk := await step(iterator, done)) is not done:
        yield chunk


@transaction.atomic
def document_delete(
    *, document: Document, acting_user: Any, request: HttpRequest | None = None
) -> None:
    access_document_manage(acting_user, document, action=Action.VIEW)
    names = list(document.versions.values_list("header_name", "payload_name"))
    document_id, space_id = document.pk, document.space_id
    document.delete()
    audit_record(
        action="document.deleted",
        actor=acting_user,
        request=request,
        space_id=space_id,
        target=f"document:{document_id}",
    )

    def remove_blobs() -> None:
        for header_name, payload_name in names:
            default_storage.delete(header_name)
            default_storage.delete(payload_name)

    transaction.on_commit(remove_blobs)


def space_key_rotate(
    *,
    space: Space,
    acting_user: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> SpaceKey:
    """New current key; re-wrap each version's header only; destroy the old key(s).

    Resumable: versions still on a retired key are re-wrapped on the next run, and a
    retired key is destroyed once nothing references it.
    """
    with transaction.atomic():
        Space.objects.select_for_update().get(pk=space.pk)
        old = SpaceKey.objects.filter(space=space, retired_at__isnull=True).first()
        if old is not None:
            old.retired_at = timezone.now()
            old.save(update_fields=["retired_at"])
        new = space_key_create(space=space)
        audit_record(
            action="space_key.rotated",
            actor=acting_user,
            space_id=space.pk,
            target=f"space_key:{new.key_id}",
            details={"old": str(old.key_id) if old else None},
        )
    pending = DocumentVersion.objects.filter(
        document__space=space, space_key__retired_at__isnull=False
    ).select_related("space_key")
    total = pending.count()
    for done, version in enumerate(pending.iterator(chunk_size=200), start=1):
        _rewrap_version(version, new)
        if progress:
            progress(done, total)
    for retired in SpaceKey.objects.filter(
        space=space, retired_at__isnull=False, destroyed_at__isnull=True
    ):
        if not retired.versions.exists():
            space_key_destroy(key=retired)
    return new


def _rewrap_version(version: DocumentVersion, new_key: SpaceKey) -> None:
    with default_storage.open(version.header_name, "rb") as f:
        old_header = f.read()
    new_header = rewrap_header(
        old_header,
        old_identity=space_key_identity(version.space_key),
        new_recipients=[new_key.recipient],
    )
    stem = version.header_name.rsplit("/", 1)[0]
    new_name = default_storage.save(f"{stem}/{uuid.uuid4().hex}.header", ContentFile(new_header))
    old_name = version.header_name
    updated = DocumentVersion.objects.filter(pk=version.pk, space_key=version.space_key).update(
        header_name=new_name, space_key=new_key
    )
    default_storage.delete(old_name if updated else new_name)


def space_delete(*, space: Space, acting_user: Any) -> None:
    """Crypto-shred first (keys), then blobs, then rows."""
    for key in SpaceKey.objects.filter(space=space):
        space_key_destroy(key=key)
    names = list(
        DocumentVersion.objects.filter(document__space=space).values_list(
            "header_name", "payload_name"
        )
    )
    for header_name, payload_name in names:
        default_storage.delete(header_name)
        default_storage.delete(payload_name)
    with transaction.atomic():
        audit_record(
            action="space.deleted", actor=acting_user, space_id=space.pk, target=f"space:{space.pk}"
        )
        DocumentVersion.objects.filter(document__space=space).delete()
        SpaceKey.objects.filter(space=space).delete()
        space.delete()


# --- Uploads in parts ----------------------------------------------------------------
# daphne queues a whole request body in memory before the application reads it, so a
# large file travels as parts of at most `part_size()` bytes, staged as ciphertext in
# storage. Each part is verified as it arrives (header and MAC in part 0, then every
# STREAM chunk that is followed by more bytes, so it must be non-final); what the next
# request needs is in the session row. Finishing authenticates the held-back final chunk
# and concatenates the staged parts into the payload object, without decrypting again.

UPLOAD_SESSION_LIFETIME = timedelta(hours=24)
COPY_READ_SIZE = 1024 * 1024  # measured: 8 MiB reads copy 3-4x slower (fresh pages per read)


def part_size() -> int:
    return int(getattr(settings, "WORKSPACE_UPLOAD_PART_BYTES", 8 * 1024 * 1024))


def upload_session_start(
    *,
    space: Space,
    acting_user: Any,
    filename: str,
    size: int,
    meta: DocumentMeta | None = None,
    document: Document | None = None,
) -> UploadSession:
    """Validate everything that can be validated before the bytes arrive."""
    _upload_allowed(space=space, acting_user=acting_user, meta=meta, document=document)
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValidationError(_("The upload size is missing."), code="size")
    if size > max_upload_bytes() + 64 * 1024:
        raise UploadRejected(_("The file is too large."), code="too_large", status=413)
    upload_sessions_purge(older_than=UPLOAD_SESSION_LIFETIME, user=acting_user)
    return UploadSession.objects.create(
        space=space,
        user=acting_user,
        document=document,
        filename=safe_filename(filename),
        declared_size=size,
        meta=asdict(meta) if meta is not None else {},
        verify_parts=sha256state.available(),
    )


def _own_session(session_id: Any, acting_user: Any) -> UploadSession:
    session = (
        UploadSession.objects.select_related("space", "document")
        .filter(pk=session_id, user_id=acting_user.pk)
        .first()
    )
    if session is None:  # another user's, finished or missing: the view's 404 for all
        raise UploadSession.DoesNotExist
    # Rights may have changed since the session started: check again on every part.
    access_space(acting_user, session.space_id, action=Action.UPLOAD)
    return session


def _finishing_error() -> ValidationError:
    return ValidationError(_("This upload is already being finished."), code="finishing")


def upload_session_part(
    *, session_id: Any, acting_user: Any, index: int, stream: Any, content_length: int | None
) -> UploadSession:
    """Verify and store part `index` (0-based, in order). Re-sending the last stored part
    is a no-op, so a client whose response got lost can retry safely.

    Out-of-order, oversized or unstorable parts change nothing. A part whose ciphertext
    fails verification ends the upload: it can never succeed, so the staging goes."""
    session = _own_session(session_id, acting_user)
    if session.finishing:
        raise _finishing_error()
    if index == session.parts_received - 1:
        return session
    if index != session.parts_received:
        raise ValidationError(_("Parts must be sent in order."), code="part_order")
    limit = part_size()
    if content_length is not None and content_length > limit:
        raise UploadRejected(_("The part is too large."), code="too_large", status=413)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UploadRejected(_("The part is too large."), code="too_large", status=413)
    if not data:
        raise ValidationError(_("The part is empty."), code="part_empty")
    if session.bytes_received + len(data) > session.declared_size:
        raise UploadRejected(
            _("The upload is larger than announced."), code="too_large", status=413
        )
    changes: dict[str, Any] = {}
    if session.verify_parts:
        try:
            changes = _verify_part(session, index, data)
        except UploadRejected:
            _discard(session)
            raise
    name = session.new_part_name(index)
    try:
        name = default_storage.save(name, ContentFile(data))
    except OSError as exc:
        default_storage.delete(name)  # a half-written object, unique to this attempt
        raise _storage_failed(exc) from exc
    updated = UploadSession.objects.filter(
        pk=session.pk, parts_received=index, finishing=False
    ).update(
        parts_received=index + 1,
        bytes_received=session.bytes_received + len(data),
        parts=[*session.part_names(), name],
        **changes,
    )
    if not updated:  # a concurrent duplicate (or the finish) won; drop ours
        default_storage.delete(name)
        session.refresh_from_db(fields=["parts_received", "bytes_received"])
    else:
        session.parts_received, session.bytes_received = (
            index + 1,
            session.bytes_received + len(data),
        )
    return session


def _authenticate_chunks(
    decryptor: PayloadDecryptor, carry: bytes, data: memoryview, take: Callable[[bytes], None]
) -> bytes:
    """Authenticate every whole chunk of `carry + data` that has at least one byte after
    it: such a chunk is not the final one, so it must open with the non-final flag (a
    final flag means trailing data). Each plaintext chunk goes to `take` as it opens (one
    chunk at a time: it is hashed while still in the CPU cache). Return the bytes held
    back: 1 byte to one encrypted chunk, or none if there are none."""
    total = len(carry) + len(data)
    cut = (total - 1) // ENCRYPTED_CHUNK_SIZE * ENCRYPTED_CHUNK_SIZE if total else 0
    from_carry = min(cut, len(carry))
    if from_carry:
        for chunk in decryptor.feed(carry[:from_carry]):
            take(chunk)
    rest = cut - from_carry
    for offset in range(0, rest, ENCRYPTED_CHUNK_SIZE):
        for chunk in decryptor.feed(data[offset : min(offset + ENCRYPTED_CHUNK_SIZE, rest)]):
            take(chunk)
    decryptor.feed(b"")  # raises an error found after plaintext was released
    if decryptor.last_seen:
        raise PayloadError(f"trailing data after the final chunk {decryptor.chunks - 1}")
    return carry[from_carry:] + bytes(data[rest:])


def _verify_part(session: UploadSession, index: int, data: bytes) -> dict[str, Any]:
    """Verify one part against the state left by the previous ones; return the new state
    (nothing is written here)."""
    key = space_key_current(space=session.space)
    identity = space_key_identity(key)
    view = memoryview(data)
    with _age_errors():
        if index == 0:
            opened = open_payload(view, [identity])
            if opened is None:  # the header spans parts: one verifying pass at the finish
                return {"verify_parts": False}
            header, header_length, decryptor = opened
            _require_one_x25519(header)
            prefix_length = header_length + NONCE_SIZE
            changes: dict[str, Any] = {
                "space_key": key,
                "prefix": bytes(view[:prefix_length]),
                "header_length": header_length,
            }
            view = view[prefix_length:]
            carry, hasher, content_type = b"", sha256state.ResumableSHA256(), ""
        else:
            if key.pk != session.space_key_id:
                raise _old_key()
            assert session.prefix is not None
            opened = open_payload(
                bytes(session.prefix), [identity], counter=session.chunks_verified
            )
            assert opened is not None
            decryptor = opened[2]
            changes = {}
            carry = bytes(session.carry)
            hasher = sha256state.ResumableSHA256(session.sha256_state)
            content_type = session.content_type
        sniffed = [content_type] if decryptor.chunks else []

        def take(chunk: bytes) -> None:
            if not sniffed:  # chunk 0: its first bytes tell the type
                sniffed.append(_sniff_type(chunk[:8192], session.filename))
            hasher.update(chunk)

        carry = _authenticate_chunks(decryptor, carry, view, take)
        content_type = sniffed[0] if sniffed else ""
    return {
        **changes,
        "chunks_verified": decryptor.chunks,
        "carry": carry,
        "sha256_state": hasher.state(),
        "content_type": content_type,
    }


class _PartsReader:
    """A file-like `.read(n)` over the staged parts, in order, one open part at a time;
    optionally `lead` bytes first and the first `skip` bytes of the first part left out."""

    def __init__(self, names: list[str], *, skip: int = 0, lead: bytes = b"") -> None:
        self._names = iter(names)
        self._current: Any = None
        self._skip = skip
        self._lead = lead
        self.total = 0

    def read(self, size: int) -> bytes:
        if self._lead:
            data, self._lead = self._lead, b""
            self.total += len(data)
            return data
        while True:
            if self._current is None:
                name = next(self._names, None)
                if name is None:
                    return b""
                self._current = default_storage.open(name, "rb")
                if self._skip:
                    if len(self._current.read(self._skip)) != self._skip:
                        raise OSError(errno.EIO, "staged part shorter than expected")
                    self._skip = 0
            data = self._current.read(size)
            if data:
                self.total += len(data)
                return data
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()


def _discard(session: UploadSession) -> None:
    names = set(session.part_names())
    try:  # also what a crashed request stored but never recorded
        _dirs, files = default_storage.listdir(session.staging_dir)
        names.update(f"{session.staging_dir}/{name}" for name in files)
    except (OSError, NotImplementedError):
        pass
    for name in sorted(names):
        default_storage.delete(name)
    UploadSession.objects.filter(pk=session.pk).delete()


def upload_session_finish(
    *, session_id: Any, acting_user: Any, request: HttpRequest | None = None
) -> DocumentVersion:
    """Verify what is left (the final chunk) and store the staged ciphertext; the staging
    goes away whatever the outcome. A second, concurrent finish is refused."""
    session = _own_session(session_id, acting_user)
    if not UploadSession.objects.filter(pk=session.pk, finishing=False).update(finishing=True):
        raise _finishing_error()
    session.refresh_from_db()  # no part can land any more: this is the final state
    try:
        if session.bytes_received != session.declared_size:
            raise UploadRejected(_("The upload is incomplete."), code="incomplete")
        meta = DocumentMeta(**session.meta) if session.document is None else None
        if session.verify_parts:
            return _finish_verified(session, acting_user, meta, request)
        reader = _PartsReader(session.part_names())
        try:
            return document_upload(
                space=session.space,
                acting_user=acting_user,
                stream=reader,
                content_length=session.bytes_received,
                filename=session.filename,
                meta=meta,
                document=session.document,
                request=request,
            )
        finally:
            reader.close()
    finally:
        _discard(session)


def _finish_verified(
    session: UploadSession,
    acting_user: Any,
    meta: DocumentMeta | None,
    request: HttpRequest | None,
) -> DocumentVersion:
    """Every chunk but the held-back one was verified with its part: authenticate that
    one as the final chunk, then concatenate the parts into the payload object."""
    space = session.space
    _upload_allowed(space=space, acting_user=acting_user, meta=meta, document=session.document)
    key = space_key_current(space=space)
    if key.pk != session.space_key_id:
        raise _old_key()
    assert session.prefix is not None and session.header_length is not None
    prefix = bytes(session.prefix)
    with _age_errors():
        opened = open_payload(prefix, [space_key_identity(key)], counter=session.chunks_verified)
        assert opened is not None
        decryptor = opened[2]
        plain = decryptor.feed(bytes(session.carry))
        plain += decryptor.close()
    content_type = session.content_type
    if session.chunks_verified == 0:
        content_type = _sniff_type(plain[0][:8192] if plain else b"", session.filename)
    hasher = sha256state.ResumableSHA256(session.sha256_state)
    for chunk in plain:
        hasher.update(chunk)
    size = session.chunks_verified * CHUNK_SIZE + sum(len(chunk) for chunk in plain)

    reader = _PartsReader(
        session.part_names(), skip=len(prefix), lead=prefix[session.header_length :]
    )
    payload = File(reader, name="payload")
    payload.DEFAULT_CHUNK_SIZE = COPY_READ_SIZE
    expected = session.bytes_received - session.header_length

    def header() -> bytes:
        if reader.total != expected:  # the staging lost bytes: store nothing
            raise OSError(errno.EIO, "staged parts do not add up")
        return prefix[: session.header_length]

    try:
        blobs = _store_blobs(space.pk, payload, header)
    finally:
        reader.close()
    return _version_record(
        space=space,
        acting_user=acting_user,
        key=key,
        meta=meta,
        document=session.document,
        blobs=blobs,
        filename=session.filename,
        content_type=content_type,
        size=size,
        ciphertext_size=session.bytes_received,
        sha256=hasher.hexdigest(),
        request=request,
    )


def upload_sessions_purge(*, older_than: timedelta, user: Any = None) -> int:
    """Remove abandoned uploads (their staged parts and rows)."""
    stale = UploadSession.objects.filter(created_at__lt=timezone.now() - older_than)
    if user is not None:
        stale = stale.filter(user=user)
    count = 0
    for session in stale:
        _discard(session)
        count += 1
    return count
