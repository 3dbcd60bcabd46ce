"""AuditEvent: one append-only row of the SHA-256 hash chain, and the chain's hashing rule."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any, NoReturn

from django.db import models

GENESIS_HASH = "0" * 64


class AuditImmutable(Exception):
    """Raised when code tries to change or remove an audit event."""


def _refuse(what: str) -> NoReturn:
    raise AuditImmutable(
        f"Audit events are append-only: {what} is refused. "
        "Record new events with workspace.audit.services.audit_record()."
    )


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
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

    objects = AuditEventQuerySet.as_manager()

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
        payload = {
            "seq": self.seq,
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "action": self.action,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "space_id": self.space_id,
            "target": self.target,
            "details": _canonical_value(self.details),
            "prev_hash": self.prev_hash,
        }
        return json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical_bytes()).hexdigest()
