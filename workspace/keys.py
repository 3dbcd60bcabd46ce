"""The master key: a KeyProvider wraps and unwraps secrets with AES-256-GCM, and derives keys.

The default provider reads a 32-byte key from `WORKSPACE_MASTER_KEY` (hex) or from
`WORKSPACE_MASTER_KEY_FILE`, generating that file with mode 0600 when it is absent.
A KMS or HSM provider implements `wrap`, `unwrap` and `derive_key` (e.g. an HMAC of the
context under a key that never leaves the KMS).
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.module_loading import import_string

NONCE_SIZE = 12
FORMAT_VERSION = b"\x01"
# HKDF salt for keys derived from the master key; `context` (the info) names each key.
DERIVE_SALT = b"workspace/master-key/derive/v1"


class KeyUnwrapError(Exception):
    """The wrapped blob is not authentic for this master key and context."""


class KeyProvider(Protocol):
    key_id: str

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, *, context: bytes) -> bytes: ...

    def derive_key(self, *, context: bytes, length: int = 32) -> bytes:
        """A key that only the master key's holder can compute; the same for the same context."""
        ...


class LocalKeyProvider:
    """AES-256-GCM under a local master key; `context` is the associated data."""

    def __init__(self, key: bytes, *, key_id: str = "local-1") -> None:
        if len(key) != 32:
            raise ValueError("The master key must be 32 bytes.")
        self._key = key
        self._aead = AESGCM(key)
        self.key_id = key_id

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_SIZE)
        return FORMAT_VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def unwrap(self, blob: bytes, *, context: bytes) -> bytes:
        if len(blob) < 1 + NONCE_SIZE + 16 or blob[:1] != FORMAT_VERSION:
            raise KeyUnwrapError("Malformed wrapped key.")
        nonce, ciphertext = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
        try:
            return self._aead.decrypt(nonce, ciphertext, context)
        except InvalidTag as exc:
            raise KeyUnwrapError("Wrapped key failed authentication.") from exc

    def derive_key(self, *, context: bytes, length: int = 32) -> bytes:
        # HKDF-SHA256 (RFC 5869) with the master key as input keying material.
        return HKDF(
            algorithm=hashes.SHA256(), length=length, salt=DERIVE_SALT, info=context
        ).derive(self._key)

    @classmethod
    def from_settings(cls) -> LocalKeyProvider:
        from_env = os.environ.get("WORKSPACE_MASTER_KEY", "")
        if from_env:
            return cls(bytes.fromhex(from_env.strip()))
        return cls(read_or_create_key_file(Path(settings.WORKSPACE_MASTER_KEY_FILE)))


def read_or_create_key_file(path: Path) -> bytes:
    """Read a hex master key; create it with mode 0600 if it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created concurrently by another process
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    return bytes.fromhex(path.read_text().strip())


@cache
def get_key_provider() -> KeyProvider:
    dotted = getattr(settings, "WORKSPACE_KEY_PROVIDER", "")
    if dotted:
        return import_string(dotted)()
    return LocalKeyProvider.from_settings()
