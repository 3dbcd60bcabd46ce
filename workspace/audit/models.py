"""AuditEvent: one append-only row of the keyed hash chain; AuditCheckpoint: a signed head."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models

from workspace.audit.chain import (
    SignedCheckpoint,
    event_canonical_bytes,
    keyed_hash,
    legacy_hash,
)

GENESIS_HASH = "0" * 64
# Appended once, by migration 0003, after the rows hashed with plain SHA-256 (if any);
# it is itself keyed, so it cannot be forged, moved or dropped without breaking the chain.
CHAIN_KEYED_ACTION = "audit.chain_keyed"


class AuditImmutable(Exception):
    """Raised when code tries to change or remove an audit event."""


def _refuse(what: str) -> NoReturn:
    raise AuditImmutable(
        f"The audit log is append-only: {what} is refused. "
        "Record new events with workspace.audit.services.audit_record()."
    )


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("QuerySet.update()")

    def delete(self) -> NoReturn:
        _refuse("QuerySet.delete()")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        _refuse("QuerySet.bulk_update()")

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> NoReturn:
        # Bulk inserts would skip the chaining done under the lock in audit_record().
        _refuse("QuerySet.bulk_create()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("QuerySet.update_or_create()")


class AuditEvent(models.Model):
    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False)
    action = models.CharField(max_length=100)
    # Plain integers, not foreign keys: audit rows outlive users and spaces, and
    # deleting either must never need to touch (UPDATE) an audit row.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    space_id = models.BigIntegerField(null=True, blank=True)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["space_id", "seq"], name="audit_space_seq_idx"),
            models.Index(fields=["actor_id", "seq"], name="audit_actor_seq_idx"),
            models.Index(fields=["action"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse("saving an existing AuditEvent")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("AuditEvent.delete()")

    def canonical_bytes(self) -> bytes:
        """The exact bytes the row's hash covers; changing this breaks every existing chain."""
        return event_canonical_bytes(self)

    def compute_hash(self, key: bytes) -> str:
        """HMAC-SHA256 under the chain key (workspace.audit.keys.audit_chain_key())."""
        return keyed_hash(key, self.canonical_bytes())

    def compute_legacy_hash(self) -> str:
        """Plain SHA-256: only rows before the CHAIN_KEYED_ACTION boundary may use it."""
        return legacy_hash(self.canonical_bytes())


class AuditCheckpoint(models.Model):
    """An Ed25519-signed statement that the chain's row `seq` had hash `hash`.

    Written every AUDIT_CHECKPOINT_EVERY events and by `manage.py audit_checkpoint`,
    which also exports it: a copy kept outside the database is what detects a chain
    emptied, cut short or rewritten since.
    """

    seq = models.PositiveBigIntegerField(editable=False)
    hash = models.CharField(max_length=64, editable=False)
    created_at = models.CharField(max_length=40, editable=False)  # the signed ISO 8601 text
    public_key = models.CharField(max_length=64, editable=False)
    signature = models.CharField(max_length=128, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq", "id"]
        indexes = [models.Index(fields=["seq"], name="audit_checkpoint_seq_idx")]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} {self.hash[:12]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse("saving an existing AuditCheckpoint")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("AuditCheckpoint.delete()")

    def signed(self) -> SignedCheckpoint:
        return SignedCheckpoint(
            seq=self.seq,
            hash=self.hash,
            created_at=self.created_at,
            public_key=self.public_key,
            signature=self.signature,
        )
