"""Pure-Python age v1 (age-encryption.org/v1) with X25519 recipients, on `cryptography`."""

from .age import (
    Decryptor,
    Encryptor,
    decrypt,
    decrypt_iter,
    decrypt_stream,
    encrypt,
    encrypt_stream,
    open_payload,
    rewrap_file_header,
    rewrap_header,
)
from .errors import (
    AgeError,
    HeaderError,
    HMACError,
    KeyFormatError,
    NoMatchError,
    PayloadError,
    UnsupportedError,
)
from .header import Header, Stanza, parse_header
from .keys import (
    generate_identity,
    identity_from_bytes,
    identity_to_bytes,
    identity_to_recipient,
    recipient_from_bytes,
    recipient_to_bytes,
)
from .stream import CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, NONCE_SIZE, PayloadDecryptor

__all__ = [
    "CHUNK_SIZE",
    "ENCRYPTED_CHUNK_SIZE",
    "AgeError",
    "Decryptor",
    "Encryptor",
    "HMACError",
    "Header",
    "HeaderError",
    "KeyFormatError",
    "NONCE_SIZE",
    "NoMatchError",
    "PayloadDecryptor",
    "PayloadError",
    "Stanza",
    "UnsupportedError",
    "decrypt",
    "decrypt_iter",
    "decrypt_stream",
    "encrypt",
    "encrypt_stream",
    "generate_identity",
    "identity_from_bytes",
    "identity_to_bytes",
    "identity_to_recipient",
    "open_payload",
    "parse_header",
    "recipient_from_bytes",
    "recipient_to_bytes",
    "rewrap_file_header",
    "rewrap_header",
]
