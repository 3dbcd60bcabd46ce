"""age v1 encryption and decryption (X25519 recipients only), over bytes and streams.

File layout: header (see `header`), 16-byte payload nonce, STREAM payload (see
`stream`). The file key (16 random bytes) is wrapped once per recipient; the
header is authenticated with HMAC-SHA256 under HKDF(file key, "header"), and
the payload key is HKDF(file key, salt=nonce, "payload").
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from .errors import HeaderError, HMACError, NoMatchError, UnsupportedError
from .header import (
    DEFAULT_MAX_HEADER_SIZE,
    X25519_TYPE,
    Header,
    HeaderParser,
    mac_input_of,
    parse_header_raw,
)
from .keys import FILE_KEY_SIZE, X25519Identity, X25519Recipient, hkdf_sha256
from .stream import NONCE_SIZE, PayloadDecryptor, PayloadEncryptor

BytesLike = bytes | bytearray | memoryview
DEFAULT_READ_SIZE = 1024 * 1024

# Recipient types we recognise but do not implement (used to tell
# "unsupported" from a plain "no match" when nothing could be unwrapped).
_UNSUPPORTED_TYPES = frozenset(
    {"scrypt", "mlkem768x25519", "piv-p256", "p256tag", "mlkem768p256tag"}
)


class _Reader(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _BufferedReader(Protocol):
    def readinto(self, buffer: bytearray, /) -> int: ...


class _Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


Source = _Reader | _BufferedReader | Iterable[BytesLike] | BytesLike


def _header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    return hmac.new(hkdf_sha256(file_key, b"", b"header"), mac_input, hashlib.sha256).digest()


def _payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return hkdf_sha256(file_key, nonce, b"payload")


def _parse_recipients(recipients: Sequence[str]) -> list[X25519Recipient]:
    if isinstance(recipients, str):
        raise TypeError("recipients must be a list of strings, not a string")
    if not recipients:
        raise ValueError("at least one recipient is required")
    return [X25519Recipient.parse(r) for r in recipients]


def _parse_identities(identities: Sequence[str]) -> list[X25519Identity]:
    if isinstance(identities, str):
        raise TypeError("identities must be a list of strings, not a string")
    if not identities:
        raise ValueError("at least one identity is required")
    return [X25519Identity.parse(i) for i in identities]


def _build_header(file_key: bytes, recipients: Sequence[X25519Recipient]) -> bytes:
    stanzas = tuple(r.wrap(file_key) for r in recipients)
    unsigned = Header(stanzas, bytes(32))
    return Header(stanzas, _header_mac(file_key, unsigned.mac_message())).encode()


def _unwrap(header: Header, identities: Sequence[X25519Identity]) -> tuple[bytes, int, int]:
    """Return (file key, identity index, stanza index) or raise NoMatch/Unsupported/HeaderError."""
    candidates = [(i, s) for i, s in enumerate(header.stanzas) if s.type == X25519_TYPE]
    for identity_index, identity in enumerate(identities):
        for stanza_index, stanza in candidates:
            file_key = identity.unwrap(stanza)
            if file_key is not None:
                if len(file_key) != FILE_KEY_SIZE:  # unreachable: bodies are checked to be 32 bytes
                    raise HeaderError("wrapped file key is not 16 bytes")
                return file_key, identity_index, stanza_index
    if not candidates:
        types = sorted({s.type for s in header.stanzas})
        if any(t in _UNSUPPORTED_TYPES or t.startswith("ssh-") for t in types):
            raise UnsupportedError(f"no X25519 stanza; unsupported recipient types: {types}")
    raise NoMatchError("no identity matches any recipient stanza")


def _verify_mac(header: Header, mac_input: bytes, file_key: bytes) -> None:
    if not hmac.compare_digest(_header_mac(file_key, mac_input), header.mac):
        raise HMACError("header MAC does not verify")


def _iter_source(source: Source, read_size: int) -> Iterator[BytesLike]:
    """Pieces of `source`. From a reader with `readinto`, pieces are views of one reused
    buffer: only valid until the next piece (our consumers copy what they keep).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        yield source
    elif hasattr(source, "readinto"):
        buffer = bytearray(read_size)
        view = memoryview(buffer)
        while size := source.readinto(buffer):
            yield view[:size]
    elif hasattr(source, "read"):
        while piece := source.read(read_size):
            yield piece
    else:
        yield from source


class Encryptor:
    """Incremental encryption to one or more `age1...` recipients.

    Write `header()` first, then every `update()` output, then `finalize()`.
    At most one 64 KiB chunk of plaintext is buffered.
    """

    __slots__ = ("_prefix", "_payload")

    def __init__(self, recipients: Sequence[str]) -> None:
        parsed = _parse_recipients(recipients)
        file_key = os.urandom(FILE_KEY_SIZE)
        nonce = os.urandom(NONCE_SIZE)
        self._prefix = _build_header(file_key, parsed) + nonce
        self._payload = PayloadEncryptor(_payload_key(file_key, nonce))

    def header(self) -> bytes:
        """The header followed by the 16-byte payload nonce (always the same bytes)."""
        return self._prefix

    def update(self, data: BytesLike) -> bytes:
        """Encrypt more plaintext (any size); return the encrypted chunks now complete."""
        return b"".join(self._payload.update(data))

    def update_chunks(self, data: BytesLike) -> list[bytes]:
        """Like `update()`, but return the encrypted chunks as a list (no joining copy)."""
        return self._payload.update(data)

    def finalize(self) -> bytes:
        """Seal and return the final chunk. The encryptor cannot be used afterwards."""
        return self._payload.finalize()


class Decryptor:
    """Push-style incremental decryption for ciphertext arriving in arbitrary pieces.

    `feed()` returns the plaintext chunks authenticated so far and raises
    HeaderError / UnsupportedError / NoMatchError / HMACError / PayloadError
    as soon as a problem is detectable (see `stream.PayloadDecryptor` for the
    one deferral: plaintext already produced by a call is returned first).
    `close()` marks the end of input and raises PayloadError on truncation;
    the plaintext is only known to be complete once `close()` has returned.

    After the header is parsed: `header`, `header_bytes`, `header_length`,
    `matched_identity_index` and `matched_stanza_index` are set.
    """

    def __init__(
        self, identities: Sequence[str], *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    ) -> None:
        self._identities = _parse_identities(identities)
        self._parser: HeaderParser | None = HeaderParser(max_header_size=max_header_size)
        self._file_key: bytes | None = None
        self._nonce = bytearray()
        self._payload: PayloadDecryptor | None = None
        self._error: Exception | None = None
        self._closed = False
        self.header: Header | None = None
        self.header_bytes: bytes | None = None
        self.header_length: int | None = None
        self.matched_identity_index: int | None = None
        self.matched_stanza_index: int | None = None

    @property
    def buffered(self) -> int:
        """Bytes of ciphertext currently held internally (header, nonce or partial chunk)."""
        if self._parser is not None:
            return self._parser.buffered
        if self._payload is not None:
            return self._payload.buffered
        return len(self._nonce)

    def _on_header(self, parser: HeaderParser) -> None:
        assert parser.header is not None
        header, raw = parser.header, parser.raw
        self.header, self.header_bytes, self.header_length = header, raw, len(raw)
        file_key, self.matched_identity_index, self.matched_stanza_index = _unwrap(
            header, self._identities
        )
        _verify_mac(header, mac_input_of(raw), file_key)
        self._file_key = file_key

    def _take_nonce(self, view: memoryview) -> memoryview:
        need = NONCE_SIZE - len(self._nonce)
        self._nonce += view[:need]
        if len(self._nonce) == NONCE_SIZE:
            assert self._file_key is not None
            self._payload = PayloadDecryptor(_payload_key(self._file_key, bytes(self._nonce)))
            self._file_key = None
        return view[need:]

    def feed(self, data: BytesLike) -> list[bytes]:
        """Consume the next piece of ciphertext; return newly released plaintext chunks."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("feed() after close()")
        view = memoryview(data).cast("B")
        try:
            if self._parser is not None:
                end = self._parser.feed(view)
                if end is None:
                    return []
                parser, self._parser = self._parser, None
                self._on_header(parser)
                view = view[end:]
            if self._payload is None:
                view = self._take_nonce(view)
                if self._payload is None:
                    return []
            return self._payload.feed(view)
        except Exception as error:
            self._error = error
            raise

    def close(self) -> list[bytes]:
        """Signal the end of the ciphertext; return the last plaintext, or raise."""
        if self._error is not None:
            raise self._error
        if self._closed:
            return []
        self._closed = True
        try:
            if self._parser is not None:
                self._parser.finish()  # always raises
            if self._payload is None:
                raise HeaderError("truncated: missing payload nonce")
            return self._payload.close()
        except Exception as error:
            self._error = error
            raise


def open_payload(
    prefix: BytesLike, identities: Sequence[str], *, counter: int = 0
) -> tuple[Header, int, PayloadDecryptor] | None:
    """Resume a payload verification: parse and authenticate the header at the start of
    `prefix`, derive the payload key from it and the 16-byte nonce that follows.

    Return (header, header length, a `PayloadDecryptor` whose next chunk is `counter`),
    or None if `prefix` ends before the header and nonce do. Raises like
    `Decryptor.feed()` for a bad header, an unknown key or a bad MAC.
    """
    parser = HeaderParser()
    end = parser.feed(prefix)
    if end is None:
        return None
    assert parser.header is not None
    header, raw = parser.header, parser.raw
    file_key, _, _ = _unwrap(header, _parse_identities(identities))
    _verify_mac(header, mac_input_of(raw), file_key)
    if len(prefix) < end + NONCE_SIZE:
        return None
    nonce = bytes(prefix[end : end + NONCE_SIZE])
    return header, end, PayloadDecryptor(_payload_key(file_key, nonce), counter=counter)


def encrypt(data: BytesLike, recipients: Sequence[str]) -> bytes:
    """Encrypt `data` to the `age1...` recipients; return the whole age file."""
    encryptor = Encryptor(recipients)
    return b"".join([encryptor.header(), *encryptor.update_chunks(data), encryptor.finalize()])


def encrypt_stream(
    src: Source, dst: _Writer, recipients: Sequence[str], *, read_size: int = DEFAULT_READ_SIZE
) -> int:
    """Encrypt from a reader (`.read`) or an iterable of bytes into `dst`; return bytes written."""
    encryptor = Encryptor(recipients)
    prefix = encryptor.header()
    dst.write(prefix)
    written = len(prefix)
    for piece in _iter_source(src, read_size):
        for chunk in encryptor.update_chunks(piece):
            dst.write(chunk)
            written += len(chunk)
    last = encryptor.finalize()
    dst.write(last)
    return written + len(last)


def decrypt(data: BytesLike, identities: Sequence[str]) -> bytes:
    """Decrypt a whole age file held in memory."""
    decryptor = Decryptor(identities)
    out = decryptor.feed(data)
    out += decryptor.close()
    return b"".join(out)


def decrypt_iter(
    source: Source, identities: Sequence[str], *, read_size: int = DEFAULT_READ_SIZE
) -> Iterator[bytes]:
    """Pull-style decryption: yield authenticated plaintext chunks from a reader or iterable.

    Errors are raised from the iterator. The plaintext is only complete and
    valid if the iteration finishes without raising.
    """
    decryptor = Decryptor(identities)
    for piece in _iter_source(source, read_size):
        yield from decryptor.feed(piece)
    yield from decryptor.close()


def decrypt_stream(
    src: Source, dst: _Writer, identities: Sequence[str], *, read_size: int = DEFAULT_READ_SIZE
) -> int:
    """Decrypt into `dst`; return plaintext bytes written.

    On error, `dst` may already hold a (authentic) prefix of the plaintext: discard it.
    """
    written = 0
    for chunk in decrypt_iter(src, identities, read_size=read_size):
        dst.write(chunk)
        written += len(chunk)
    return written


def _rewrap(header: Header, raw: bytes, old_identity: str, new_recipients: Sequence[str]) -> bytes:
    identity = X25519Identity.parse(old_identity)
    recipients = _parse_recipients(new_recipients)
    file_key, _, _ = _unwrap(header, [identity])
    _verify_mac(header, mac_input_of(raw), file_key)
    return _build_header(file_key, recipients)


def rewrap_header(header: BytesLike, *, old_identity: str, new_recipients: Sequence[str]) -> bytes:
    """Re-wrap the file key of `header` (exactly a header, nothing else) to new recipients.

    The old MAC is verified first. The result is a new header (new stanzas, new
    MAC) for the same file key, so the payload (nonce + chunks) stays valid.
    """
    parsed, raw = parse_header_raw(header)
    if len(raw) != len(header):
        raise HeaderError("unexpected data after the header")
    return _rewrap(parsed, raw, old_identity, new_recipients)


def rewrap_file_header(
    prefix: BytesLike, old_identity: str, new_recipients: Sequence[str]
) -> tuple[bytes, int]:
    """Re-wrap the header found at the start of `prefix` (a file prefix holding the whole header).

    Return (new header, old header length): the new file is
    `new_header + old_file[old_header_length:]`.
    """
    parsed, raw = parse_header_raw(prefix)
    return _rewrap(parsed, raw, old_identity, new_recipients), len(raw)
