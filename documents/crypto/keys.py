"""X25519 identities (secret keys) and recipients (public keys), and stanza wrapping."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import bech32
from .errors import HeaderError, KeyFormatError, UnsupportedError
from .header import X25519_TYPE, Stanza, b64decode_strict, b64encode_raw

IDENTITY_HRP = "AGE-SECRET-KEY-"
RECIPIENT_HRP = "age"
FILE_KEY_SIZE = 16
_X25519_INFO = b"age-encryption.org/v1/X25519"
_ZERO_NONCE = bytes(12)
_RAW = serialization.Encoding.Raw


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def _unsupported_identity(text: str) -> bool:
    upper = text.upper()
    return upper.startswith(("AGE-SECRET-KEY-PQ-", "AGE-PLUGIN-")) or "PRIVATE KEY" in upper


def _unsupported_recipient(text: str) -> bool:
    return text.startswith(("ssh-", "sk-ssh-", "ecdsa-sha2-"))


class X25519Recipient:
    """An `age1...` public key."""

    __slots__ = ("_public", "_key")

    def __init__(self, public: bytes) -> None:
        if len(public) != 32:
            raise KeyFormatError("an X25519 public key is 32 bytes")
        self._public = bytes(public)
        self._key = X25519PublicKey.from_public_bytes(self._public)

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        try:
            hrp, data = bech32.decode(text)
        except bech32.Bech32Error as exc:
            if _unsupported_recipient(text):
                raise UnsupportedError("only X25519 (age1...) recipients are supported") from None
            raise KeyFormatError(f"malformed recipient: {exc}") from None
        if hrp != RECIPIENT_HRP:
            if hrp == RECIPIENT_HRP.upper():
                raise KeyFormatError("recipients must be lower case")
            if hrp.startswith("age1"):
                raise UnsupportedError("only X25519 (age1...) recipients are supported")
            raise KeyFormatError("not an age recipient")
        if len(data) != 32:
            raise KeyFormatError("an X25519 recipient encodes 32 bytes")
        return cls(data)

    @property
    def raw(self) -> bytes:
        return self._public

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self._public)

    def __repr__(self) -> str:
        return f"X25519Recipient({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519Recipient) and other._public == self._public

    def __hash__(self) -> int:
        return hash(self._public)

    def wrap(self, file_key: bytes) -> Stanza:
        """Return an `X25519` stanza wrapping `file_key` to this recipient."""
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
        try:
            shared = ephemeral.exchange(self._key)
        except ValueError:  # low-order public key: the shared secret would be all zero
            raise KeyFormatError("invalid X25519 recipient (low-order point)") from None
        key = hkdf_sha256(shared, share + self._public, _X25519_INFO)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return Stanza(X25519_TYPE, (b64encode_raw(share).decode("ascii"),), body)


class X25519Identity:
    """An `AGE-SECRET-KEY-1...` secret key. Its repr never shows the key."""

    __slots__ = ("_key", "_public")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise KeyFormatError("an X25519 secret key is 32 bytes")
        self._key = X25519PrivateKey.from_private_bytes(bytes(secret))
        self._public = self._key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        try:
            hrp, data = bech32.decode(text)
        except bech32.Bech32Error as exc:
            if _unsupported_identity(text):
                raise UnsupportedError("only X25519 (AGE-SECRET-KEY-1...) identities") from None
            raise KeyFormatError(f"malformed identity: {exc}") from None
        if hrp != IDENTITY_HRP:
            if hrp == IDENTITY_HRP.lower():
                raise KeyFormatError("identities must be upper case")
            if _unsupported_identity(hrp):
                raise UnsupportedError("only X25519 (AGE-SECRET-KEY-1...) identities")
            raise KeyFormatError("not an age identity")
        if len(data) != 32:
            raise KeyFormatError("an X25519 identity encodes 32 bytes")
        return cls(data)

    @property
    def raw(self) -> bytes:
        return self._key.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def __str__(self) -> str:
        return bech32.encode(IDENTITY_HRP, self.raw)

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={str(self.recipient())!r})"

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self._public)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """Return the file key if `stanza` (a validated X25519 stanza) was made for us."""
        share = b64decode_strict(stanza.args[0].encode("ascii"))
        try:
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:
            raise HeaderError("X25519 share is a low-order point (zero shared secret)") from None
        key = hkdf_sha256(shared, share + self._public, _X25519_INFO)
        try:
            return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            return None


# String-level helpers (the public API works with strings and raw bytes).


def generate_identity() -> tuple[str, str]:
    """Return a new (`AGE-SECRET-KEY-1...`, `age1...`) pair."""
    identity = X25519Identity.generate()
    return str(identity), str(identity.recipient())


def identity_to_recipient(identity: str) -> str:
    return str(X25519Identity.parse(identity).recipient())


def identity_to_bytes(identity: str) -> bytes:
    """The raw 32-byte X25519 secret key of an `AGE-SECRET-KEY-1...` string."""
    return X25519Identity.parse(identity).raw


def identity_from_bytes(secret: bytes) -> str:
    """The `AGE-SECRET-KEY-1...` string of a raw 32-byte X25519 secret key."""
    return str(X25519Identity(secret))


def recipient_to_bytes(recipient: str) -> bytes:
    """The raw 32-byte X25519 public key of an `age1...` string."""
    return X25519Recipient.parse(recipient).raw


def recipient_from_bytes(public: bytes) -> str:
    """The `age1...` string of a raw 32-byte X25519 public key."""
    return str(X25519Recipient(public))
