"""The C2SP/CCTV age test vectors (tests/vectors/age, see README.md there).

Vectors that only need X25519 identities are judged exactly against their
`expect` line. Armored, passphrase (scrypt) and post-quantum (hybrid) vectors
use features we do not implement; they must be rejected with an AgeError.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from documents.crypto import (
    AgeError,
    Decryptor,
    HeaderError,
    HMACError,
    NoMatchError,
    PayloadError,
    UnsupportedError,
    generate_identity,
    parse_header,
)
from documents.crypto.age import _payload_key
from documents.crypto.keys import X25519Identity
from documents.crypto.stream import NONCE_SIZE, PayloadEncryptor

VECTORS_DIR = Path(__file__).resolve().parent.parent / "vectors" / "age"
NOT_VECTORS = {"README.md", "SOURCE_COMMIT", "LICENSE"}
KNOWN_KEYS = {"expect", "payload", "identity", "passphrase", "armored", "file key", "comment",
              "compressed"}  # fmt: skip
EXPECTED_ERRORS: dict[str, type[AgeError]] = {
    "header failure": HeaderError,
    "HMAC failure": HMACError,
    "no match": NoMatchError,
    "payload failure": PayloadError,
}


# "header failure" vectors whose header text parses: the failure is a low-order
# X25519 share (seen when unwrapping) or a missing/short payload nonce.
HEADER_FAILURES_AFTER_PARSING = {
    "x25519_identity",
    "x25519_low_order",
    "stream_no_nonce",
    "stream_short_nonce",
}
PINNED_COMMIT = "1e3d2860d46e94e777e1b17c7a6f2436387e3ecc"


@dataclass
class Vector:
    name: str
    meta: dict[str, list[str]] = field(default_factory=dict)
    data: bytes = b""

    def get(self, key: str) -> str | None:
        values = self.meta.get(key)
        return values[0] if values else None

    @property
    def expect(self) -> str:
        return self.meta["expect"][0]

    @property
    def x25519_identities(self) -> list[str]:
        return [i for i in self.meta.get("identity", []) if i.startswith("AGE-SECRET-KEY-1")]

    @property
    def other_identities(self) -> list[str]:
        return [i for i in self.meta.get("identity", []) if not i.startswith("AGE-SECRET-KEY-1")]

    @property
    def judged(self) -> bool:
        """True if the vector only needs what we implement (X25519, binary files)."""
        if self.get("armored") == "yes" or self.other_identities:
            return False
        return not (self.meta.get("passphrase") and not self.x25519_identities)


def load_vector(path: Path) -> Vector:
    raw = path.read_bytes()
    text, sep, body = raw.partition(b"\n\n")
    assert sep, f"{path.name}: no blank line after the textual header"
    vector = Vector(path.name)
    for line in text.decode("utf-8").split("\n"):
        key, sep, value = line.partition(": ")
        assert sep, f"{path.name}: bad header line {line!r}"
        vector.meta.setdefault(key, []).append(value)
    if vector.get("compressed") == "zlib":
        body = zlib.decompress(body)
    else:
        assert vector.get("compressed") is None
    vector.data = body
    return vector


VECTOR_PATHS = sorted(p for p in VECTORS_DIR.iterdir() if p.is_file() and p.name not in NOT_VECTORS)


def test_vectors_present() -> None:
    assert len(VECTOR_PATHS) >= 100, f"test vectors missing from {VECTORS_DIR}"
    source_commit = (VECTORS_DIR / "SOURCE_COMMIT").read_text().strip()
    assert len(source_commit) == 40


def run_once(
    vector: Vector, identities: list[str], step: int
) -> tuple[Decryptor, bytes, AgeError | None]:
    decryptor = Decryptor(identities)
    released: list[bytes] = []
    data = vector.data
    try:
        for offset in range(0, len(data), step):
            released += decryptor.feed(data[offset : offset + step])
        released += decryptor.close()
    except AgeError as error:
        return decryptor, b"".join(released), error
    return decryptor, b"".join(released), None


def run(vector: Vector, identities: list[str]) -> tuple[Decryptor, bytes, AgeError | None]:
    """Decrypt like an application would: feed pieces, collect what is released, close.

    Several piece sizes are tried (whole file, odd sizes, byte by byte for small
    files); they must all agree. Returns the decryptor, the plaintext released
    and the error, if any.
    """
    steps = [max(len(vector.data), 1), 65536 + 7, 1000]
    if len(vector.data) < 4096:
        steps.append(1)
    results = [run_once(vector, identities, step) for step in steps]
    decryptor, plaintext, error = results[0]
    for _, other_plaintext, other_error in results[1:]:
        assert type(other_error) is type(error)
        assert other_plaintext == plaintext
    return decryptor, plaintext, error


def check_released(vector: Vector, plaintext: bytes) -> None:
    expected = vector.get("payload")
    assert expected is not None, "success/payload failure vectors carry a payload hash"
    assert hashlib.sha256(plaintext).hexdigest() == expected


def check_stream_reencrypts(vector: Vector, decryptor: Decryptor, plaintext: bytes) -> None:
    """With the file key given by the vector, our STREAM encryption reproduces the payload."""
    assert decryptor.header_length is not None
    file_key = bytes.fromhex(vector.meta["file key"][0])
    payload = vector.data[decryptor.header_length :]
    nonce = payload[:NONCE_SIZE]
    encryptor = PayloadEncryptor(_payload_key(file_key, nonce))
    assert b"".join([nonce, *encryptor.update(plaintext), encryptor.finalize()]) == payload


@pytest.mark.parametrize("path", VECTOR_PATHS, ids=lambda p: p.name)
def test_vector(path: Path) -> None:
    vector = load_vector(path)
    unknown = set(vector.meta) - KNOWN_KEYS
    if unknown:
        pytest.skip(f"unknown vector keys {sorted(unknown)} (the README says to ignore such files)")

    if not vector.judged:
        # Unsupported feature: must be rejected cleanly, never crash or succeed.
        for identity in vector.other_identities:
            with pytest.raises(UnsupportedError):
                X25519Identity.parse(identity)
        identities = vector.x25519_identities or [generate_identity()[0]]
        _, _, error = run(vector, identities)
        assert isinstance(error, AgeError), f"{vector.name}: not rejected"
        if vector.data.lstrip().startswith(b"-----BEGIN"):
            assert isinstance(error, UnsupportedError), "armor must be reported as unsupported"
        return

    identities = vector.x25519_identities or [generate_identity()[0]]
    decryptor, plaintext, error = run(vector, identities)
    if vector.expect == "success":
        assert error is None, f"{vector.name}: unexpected {error!r}"
        check_released(vector, plaintext)
        check_stream_reencrypts(vector, decryptor, plaintext)
    else:
        expected = EXPECTED_ERRORS[vector.expect]
        assert type(error) is expected, (
            f"{vector.name}: expected {expected.__name__}, got {error!r}"
        )
        if vector.expect == "payload failure":
            check_released(vector, plaintext)
        else:
            assert plaintext == b""

    # Header round trip: parse + encode gives back the exact bytes.
    if vector.expect != "header failure":
        header, length = parse_header(vector.data)
        assert header.encode() == vector.data[:length]
        assert decryptor.header == header
    elif vector.name in HEADER_FAILURES_AFTER_PARSING:
        parse_header(vector.data)
    else:
        with pytest.raises(HeaderError):
            parse_header(vector.data)


def test_vector_classification_counts() -> None:
    """Keep the split between exactly judged and unsupported vectors visible and stable."""
    vectors = [load_vector(p) for p in VECTOR_PATHS]
    judged = [v for v in vectors if v.judged]
    unsupported = [v for v in vectors if not v.judged]
    assert len(judged) + len(unsupported) == len(vectors)
    assert all(v.expect in {"success", *EXPECTED_ERRORS} for v in judged)
    if (VECTORS_DIR / "SOURCE_COMMIT").read_text().strip() == PINNED_COMMIT:
        # 68 judged exactly; 75 unsupported: 33 armored, 24 scrypt, 18 post-quantum hybrid.
        assert (len(judged), len(unsupported)) == (68, 75)
