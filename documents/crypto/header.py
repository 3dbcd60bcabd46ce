"""The age v1 header: stanzas, strict parsing (also incremental) and encoding.

    age-encryption.org/v1
    -> TYPE arg...
    base64 body, 64 columns per line, last line shorter (possibly empty)
    --- base64(HMAC-SHA256)

Parsing is as strict as the reference implementation: canonical unpadded
base64 only, LF line endings only, non-empty printable-ASCII arguments, and a
mandatory short final body line. Because of that strictness, re-encoding a
parsed header reproduces the original bytes exactly.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .errors import HeaderError, UnsupportedError

VERSION_LINE = b"age-encryption.org/v1"
STANZA_PREFIX = b"-> "
FOOTER_PREFIX = b"---"
MAC_SIZE = 32
# "--- " + 43 base64 characters + "\n": what follows the MAC input in the header.
_MAC_SUFFIX_LEN = 1 + 43 + 1
_COLUMNS = 64
_FIRST_LINE = VERSION_LINE + b"\n"
ARMOR_BEGIN = b"-----BEGIN"
_ASCII_WHITESPACE = b" \t\r\n\v\f"
DEFAULT_MAX_HEADER_SIZE = 64 * 1024

X25519_TYPE = "X25519"
SCRYPT_TYPE = "scrypt"


def b64encode_raw(data: bytes) -> bytes:
    """Standard base64 without padding (Go's RawStdEncoding)."""
    return base64.b64encode(data).rstrip(b"=")


def b64decode_strict(text: bytes) -> bytes:
    """Decode unpadded, canonical standard base64 or raise HeaderError."""
    if len(text) % 4 == 1:
        raise HeaderError("invalid base64 length")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise HeaderError("invalid base64") from None
    if b64encode_raw(data) != text:
        raise HeaderError("non-canonical base64")
    return data


@dataclass(frozen=True, slots=True)
class Stanza:
    """One recipient stanza: `-> type args...` followed by a binary body."""

    type: str
    args: tuple[str, ...]
    body: bytes

    def encode(self) -> bytes:
        parts = [STANZA_PREFIX + " ".join((self.type, *self.args)).encode("ascii") + b"\n"]
        text = b64encode_raw(self.body)
        for i in range(0, len(text) - len(text) % _COLUMNS, _COLUMNS):
            parts.append(text[i : i + _COLUMNS] + b"\n")
        parts.append(text[len(text) - len(text) % _COLUMNS :] + b"\n")
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed age header. `mac` is the raw 32-byte header HMAC."""

    stanzas: tuple[Stanza, ...]
    mac: bytes

    def mac_message(self) -> bytes:
        """The bytes covered by the header MAC: everything up to and including `---`."""
        return b"".join([VERSION_LINE, b"\n", *(s.encode() for s in self.stanzas), FOOTER_PREFIX])

    def encode(self) -> bytes:
        return self.mac_message() + b" " + b64encode_raw(self.mac) + b"\n"


def _check_arg(arg: bytes) -> str:
    if not arg:
        raise HeaderError("empty stanza argument")
    if any(c < 33 or c > 126 for c in arg):
        raise HeaderError("stanza argument has a character outside printable ASCII")
    return arg.decode("ascii")


def _validate_stanzas(stanzas: list[Stanza]) -> None:
    for stanza in stanzas:
        if stanza.type == X25519_TYPE:
            if len(stanza.args) != 1:
                raise HeaderError("X25519 stanza must have exactly one argument")
            if len(b64decode_strict(stanza.args[0].encode("ascii"))) != 32:
                raise HeaderError("X25519 stanza share must be 32 bytes")
            if len(stanza.body) != 32:
                raise HeaderError("X25519 stanza body must be 32 bytes")
        elif stanza.type == SCRYPT_TYPE and len(stanzas) != 1:
            raise HeaderError("an scrypt stanza must be the only stanza in the header")


def looks_armored(data: bytes | bytearray) -> bool:
    return bytes(data).lstrip(_ASCII_WHITESPACE).startswith(ARMOR_BEGIN)


class HeaderParser:
    """Incremental header parser: feed bytes until the header is complete.

    Complete lines are validated as soon as they arrive, so malformed input is
    rejected early; at most `max_header_size` (+1) bytes are ever buffered.
    """

    __slots__ = (
        "_buf", "_line_start", "_scan", "_seen_version", "_stanzas", "_current", "_body", "_max",
        "header", "raw",
    )  # fmt: skip

    def __init__(self, *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE) -> None:
        self._buf = bytearray()
        self._line_start = 0  # start of the first line not parsed yet
        self._scan = 0  # where to resume looking for b"\n"
        self._seen_version = False
        self._stanzas: list[Stanza] = []
        self._current: tuple[str, tuple[str, ...]] | None = None  # stanza whose body is being read
        self._body: list[bytes] = []
        self._max = max_header_size
        self.header: Header | None = None  # set once complete
        self.raw = b""  # the complete raw header bytes, once complete

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> int | None:
        """Consume `data`. Return None if the header is still incomplete, else the
        offset in `data` where the header ended (the rest is not consumed).
        """
        if self.header is not None:
            raise RuntimeError("header already complete")
        buf = self._buf
        previous = len(buf)
        buf += memoryview(data)[: self._max + 1 - previous]
        if not self._seen_version:
            if not buf.startswith(_FIRST_LINE):
                self._reject_first_line()
                return None
            self._seen_version = True
            self._line_start = self._scan = len(_FIRST_LINE)
        while True:
            newline = buf.find(b"\n", self._scan)
            if newline < 0:
                break
            line = bytes(buf[self._line_start : newline])
            self._line_start = self._scan = newline + 1
            if self._parse_line(line):
                end = self._line_start
                self.header = Header(tuple(self._stanzas), b64decode_strict(line[4:]))
                self.raw = bytes(buf[:end])
                self._buf = bytearray()
                return end - previous
        self._scan = len(buf)
        if len(buf) > self._max:
            raise HeaderError(f"header larger than {self._max} bytes")
        return None

    def _reject_first_line(self) -> None:
        """Raise if the (incomplete) buffer cannot start an age file, else wait for more."""
        buf = self._buf
        if _FIRST_LINE.startswith(buf):
            return
        stripped = bytes(buf[:4096]).lstrip(_ASCII_WHITESPACE)
        if stripped.startswith(ARMOR_BEGIN):
            raise UnsupportedError("ASCII-armored age files are not supported")
        if (
            len(stripped) < len(ARMOR_BEGIN)
            and ARMOR_BEGIN.startswith(stripped)
            and (len(buf) <= 4096)
        ):
            return  # only whitespace so far, perhaps before an armor line: wait
        raise HeaderError("not an age v1 file (bad version line)")

    def finish(self) -> None:
        """Signal end of input before the header was complete: always raises."""
        if looks_armored(self._buf[:4096]):
            raise UnsupportedError("ASCII-armored age files are not supported")
        raise HeaderError("truncated header" if self._buf else "empty file")

    def _parse_line(self, line: bytes) -> bool:
        """Parse one line (without its LF); return True if it was the MAC line."""
        if self._current is not None:
            if len(line) > _COLUMNS:
                raise HeaderError("stanza body line longer than 64 columns")
            self._body.append(b64decode_strict(line))
            if len(line) < _COLUMNS:
                stanza_type, args = self._current
                self._stanzas.append(Stanza(stanza_type, args, b"".join(self._body)))
                self._current = None
                self._body = []
            return False
        if line.startswith(STANZA_PREFIX):
            args = tuple(_check_arg(a) for a in line[len(STANZA_PREFIX) :].split(b" "))
            self._current = (args[0], args[1:])
            return False
        if line.startswith(FOOTER_PREFIX):
            if line[3:4] != b" " or len(line) != 4 + 43:
                raise HeaderError("malformed MAC line")
            b64decode_strict(line[4:])  # canonical 43 characters are exactly 32 bytes
            _validate_stanzas(self._stanzas)
            return True
        raise HeaderError("unexpected line in header")


def parse_header(
    data: bytes | bytearray | memoryview, *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE
) -> tuple[Header, int]:
    """Parse the header at the start of `data` (which may hold more); return (header, length).

    Nothing is decrypted. Raises HeaderError (or UnsupportedError for armor).
    """
    head, raw = parse_header_raw(data, max_header_size=max_header_size)
    return head, len(raw)


def parse_header_raw(
    data: bytes | bytearray | memoryview, *, max_header_size: int = DEFAULT_MAX_HEADER_SIZE
) -> tuple[Header, bytes]:
    """Like parse_header, but return (header, raw header bytes)."""
    parser = HeaderParser(max_header_size=max_header_size)
    if parser.feed(data) is None:
        parser.finish()
    assert parser.header is not None
    return parser.header, parser.raw


def mac_input_of(raw_header: bytes) -> bytes:
    """The MAC input (up to and including `---`) of a complete raw header."""
    return raw_header[: len(raw_header) - _MAC_SUFFIX_LEN]
