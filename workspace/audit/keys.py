"""The audit chain's keys, derived from the master key and never stored anywhere."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from workspace.keys import get_key_provider

CHAIN_KEY_CONTEXT = b"workspace/audit/chain-hmac-sha256/v1"
CHECKPOINT_KEY_CONTEXT = b"workspace/audit/checkpoint-ed25519/v1"


def audit_chain_key() -> bytes:
    """The HMAC-SHA256 key of the audit chain's row hashes."""
    return get_key_provider().derive_key(context=CHAIN_KEY_CONTEXT)


def audit_checkpoint_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        get_key_provider().derive_key(context=CHECKPOINT_KEY_CONTEXT)
    )


def audit_checkpoint_public_key() -> Ed25519PublicKey:
    return audit_checkpoint_signing_key().public_key()
