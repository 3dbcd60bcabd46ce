"""The age payload: STREAM (ChaCha20-Poly1305, 64 KiB chunks) over a payload key.

Chunk *i* is sealed with the 12-byte nonce `i` (11 bytes, big endian) || flag,
where flag is 0x01 for the last chunk and 0x00 otherwise. Every chunk but the
last is full (64 KiB of plaintext); the last one may be full too, and it may be
empty only when it is the only chunk.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .errors import PayloadError

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16  # the payload nonce, stored right after the header
_MAX_COUNTER = (1 << 88) - 1

BytesLike = bytes | bytearray | memoryview


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class PayloadEncryptor:
    """Push plaintext, get STREAM chunks. Buffers at most one chunk of plaintext.

    A full chunk is only sealed (as non-final) once at least one more byte has
    arrived, so the last chunk is always sealed by `finalize()`.
    """

    __slots__ = ("_aead", "_buf", "_counter", "_finalized")

    def __init__(self, payload_key: bytes) -> None:
        self._aead = ChaCha20Poly1305(payload_key)
        self._buf = bytearray()
        self._counter = 0
        self._finalized = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _seal(self, chunk: BytesLike, last: bool) -> bytes:
        counter = self._counter
        if counter > _MAX_COUNTER:
            raise OverflowError("STREAM chunk counter exhausted")
        self._counter = counter + 1
        return self._aead.encrypt(_chunk_nonce(counter, last), chunk, None)

    def update(self, data: BytesLike) -> list[bytes]:
        if self._finalized:
            raise RuntimeError("update() after finalize()")
        view = memoryview(data).cast("B")
        out: list[bytes] = []
        buf = self._buf
        if buf:
            need = CHUNK_SIZE - len(buf)
            if len(view) <= need:
                buf += view
                return out
            buf += view[:need]
            view = view[need:]
            out.append(self._seal(buf, last=False))
            buf.clear()
        size = len(view)
        offset = 0
        seal = self._seal
        while size - offset > CHUNK_SIZE:
            out.append(seal(view[offset : offset + CHUNK_SIZE], False))
            offset += CHUNK_SIZE
        buf += view[offset:]
        return out

    def finalize(self) -> bytes:
        if self._finalized:
            raise RuntimeError("finalize() called twice")
        self._finalized = True
        chunk = self._seal(self._buf, last=True)
        self._buf = bytearray()
        return chunk


class PayloadDecryptor:
    """Push ciphertext, get authenticated plaintext chunks.

    A chunk is decrypted as soon as it is complete; its authenticated last-chunk
    flag tells whether it is the final one (as in the reference implementation,
    a full chunk is first tried as non-final, then as final). Hence less than one
    encrypted chunk is ever buffered. Any byte after the final chunk is an error,
    and so is the end of input before a final chunk.

    Errors found after some plaintext was already produced within the same
    `feed()` call are deferred: that plaintext is returned, and the error is
    raised by the next call to `feed()` or `close()`. All plaintext ever returned
    is authentic, but the stream as a whole is only valid once `close()` returns.
    """

    __slots__ = ("_aead", "_buf", "_counter", "_last_seen", "_error", "_closed")

    def __init__(self, payload_key: bytes, *, counter: int = 0) -> None:
        """`counter`: the index of the next chunk, to resume a verification whose earlier
        chunks (all non-final) were authenticated elsewhere."""
        if counter < 0:
            raise ValueError("negative chunk counter")
        self._aead = ChaCha20Poly1305(payload_key)
        self._buf = bytearray()
        self._counter = counter
        self._last_seen = False
        self._error: PayloadError | None = None
        self._closed = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def chunks(self) -> int:
        """Index of the next chunk: the number of chunks authenticated so far (including
        those skipped by a resumed `counter`)."""
        return self._counter

    @property
    def last_seen(self) -> bool:
        """Whether the final chunk (last-chunk flag set) has been authenticated."""
        return self._last_seen

    def _open_full(self, chunk: BytesLike) -> bytes:
        if self._last_seen:
            raise PayloadError(f"trailing data after the final chunk (chunk {self._counter - 1})")
        counter = self._counter
        if counter > _MAX_COUNTER:
            raise PayloadError("STREAM chunk counter exhausted")
        try:
            plaintext = self._aead.decrypt(_chunk_nonce(counter, False), chunk, None)
        except InvalidTag:
            try:
                plaintext = self._aead.decrypt(_chunk_nonce(counter, True), chunk, None)
            except InvalidTag:
                raise PayloadError(f"bad tag at chunk {counter}") from None
            self._last_seen = True
        self._counter = counter + 1
        return plaintext

    def _fail(self, error: PayloadError, out: list[bytes]) -> list[bytes]:
        self._error = error
        if out:
            return out
        raise error

    def feed(self, data: BytesLike) -> list[bytes]:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("feed() after close()")
        view = memoryview(data).cast("B")
        out: list[bytes] = []
        if not view:
            return out
        if self._last_seen:
            return self._fail(self._trailing_error(), out)
        buf = self._buf
        try:
            if buf:
                need = ENCRYPTED_CHUNK_SIZE - len(buf)
                if len(view) < need:
                    buf += view
                    return out
                buf += view[:need]
                view = view[need:]
                out.append(self._open_full(buf))
                buf.clear()
            size = len(view)
            offset = 0
            open_full = self._open_full
            while size - offset >= ENCRYPTED_CHUNK_SIZE:
                out.append(open_full(view[offset : offset + ENCRYPTED_CHUNK_SIZE]))
                offset += ENCRYPTED_CHUNK_SIZE
            if offset < size:
                if self._last_seen:
                    raise self._trailing_error()
                buf += view[offset:]
        except PayloadError as error:
            buf.clear()
            return self._fail(error, out)
        return out

    def _trailing_error(self) -> PayloadError:
        return PayloadError(f"trailing data after the final chunk (chunk {self._counter - 1})")

    def close(self) -> list[bytes]:
        """End of input: authenticate the final chunk, or raise PayloadError."""
        if self._error is not None:
            raise self._error
        if self._closed:
            return []
        self._closed = True
        if self._last_seen:
            return []
        buf, self._buf = self._buf, bytearray()
        counter = self._counter
        if not buf:
            if counter == 0:
                error = PayloadError("truncated: the payload has no chunks")
            else:
                error = PayloadError(f"truncated: no final chunk after chunk {counter - 1}")
        elif len(buf) < TAG_SIZE:
            error = PayloadError(f"truncated: chunk {counter} is shorter than a tag")
        elif len(buf) == TAG_SIZE and counter > 0:
            error = PayloadError(f"final chunk {counter} is empty but is not the only chunk")
        else:
            try:
                plaintext = self._aead.decrypt(_chunk_nonce(counter, True), buf, None)
            except InvalidTag:
                error = PayloadError(f"bad tag at chunk {counter} (final chunk, or truncated)")
            else:
                self._counter = counter + 1
                self._last_seen = True
                return [plaintext]
        self._error = error
        raise error
