"""The audit chain's cryptography: keyed row hashes and signed checkpoints, over bytes only.

Row hash: HMAC-SHA256(chain key, canonical bytes). The chain key is derived from the
master key (workspace/audit/keys.py) and never stored in the database, so someone who
can rewrite the table cannot recompute hashes that verify. Rows written before the chain
was keyed carry plain SHA-256 (`legacy_hash`); see selectors.audit_chain_verify for where
those are still accepted.

Checkpoint: an Ed25519 signature over (seq, hash, created_at) of a row, exportable as
JSON, so a copy kept outside the database proves what the chain held at that seq.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CHECKPOINT_FORMAT = "workspace-audit-checkpoint/1"


def canonical_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _canonical_value(value: Any) -> Any:
    # PostgreSQL jsonb prints 1e16 as 10000000000000000 (an int on the way back);
    # hashing integral floats as ints keeps the hash stable across the round trip.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    return value


def event_canonical_bytes(event: Any) -> bytes:
    """The bytes an audit row's hash covers: its fields and prev_hash, not its hash or id.

    Takes any object with AuditEvent's attributes (a migration's historical model too).
    Changing this breaks every existing chain.
    """
    return canonical_json(
        {
            "seq": event.seq,
            "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "action": event.action,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "space_id": event.space_id,
            "target": event.target,
            "details": _canonical_value(event.details),
            "prev_hash": event.prev_hash,
        }
    )


def keyed_hash(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def legacy_hash(data: bytes) -> str:
    """The unkeyed rule of rows written before the chain was keyed."""
    return hashlib.sha256(data).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def public_key_hex(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@dataclass(frozen=True)
class SignedCheckpoint:
    """What a checkpoint asserts: row `seq` of the chain has hash `hash`."""

    seq: int
    hash: str
    created_at: str  # ISO 8601, UTC
    public_key: str  # raw Ed25519 public key, hex
    signature: str  # hex

    def signed_bytes(self) -> bytes:
        return checkpoint_signed_bytes(seq=self.seq, hash=self.hash, created_at=self.created_at)

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """True if signed by `public_key` (the file's own public key is not trusted)."""
        if not hashes_equal(self.public_key, public_key_hex(public_key)):
            return False
        try:
            public_key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": CHECKPOINT_FORMAT,
                "seq": self.seq,
                "hash": self.hash,
                "created_at": self.created_at,
                "public_key": self.public_key,
                "signature": self.signature,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> SignedCheckpoint:
        try:
            data = json.loads(text)
            if data.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"not a {CHECKPOINT_FORMAT} file")
            return cls(
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                created_at=str(data["created_at"]),
                public_key=str(data["public_key"]),
                signature=str(data["signature"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"Malformed audit checkpoint: {exc}") from exc


def checkpoint_signed_bytes(*, seq: int, hash: str, created_at: str) -> bytes:
    return canonical_json(
        {"format": CHECKPOINT_FORMAT, "seq": seq, "hash": hash, "created_at": created_at}
    )


def checkpoint_sign(
    signing_key: Ed25519PrivateKey, *, seq: int, hash: str, created_at: str
) -> SignedCheckpoint:
    signature = signing_key.sign(checkpoint_signed_bytes(seq=seq, hash=hash, created_at=created_at))
    return SignedCheckpoint(
        seq=seq,
        hash=hash,
        created_at=created_at,
        public_key=public_key_hex(signing_key.public_key()),
        signature=signature.hex(),
    )
