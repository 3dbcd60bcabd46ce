"""Reading the audit log: filtered listings and verification of the hash chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from workspace.audit.models import GENESIS_HASH, AuditEvent

REASON_SEQ_GAP = "seq gap (row removed)"
REASON_SEQ_ORDER = "seq out of order (row inserted)"
REASON_PREV_HASH = "prev_hash mismatch (row removed or inserted)"
REASON_HASH = "hash mismatch (row altered)"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int  # events verified before the first broken link (all of them when ok)
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    broken_seq: int | None = None
    broken_id: int | None = None
    expected_seq: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.count} events"
        return (
            f"audit chain BROKEN at seq {self.broken_seq} (id {self.broken_id}): {self.reason}; "
            f"expected seq {self.expected_seq}, {self.count} events before it verified"
        )


def audit_chain_verify(*, chunk_size: int = 2000) -> VerifyResult:
    """Walk the chain in seq order in constant memory and report the first broken link.

    A removed tail (the newest rows) leaves a valid shorter chain; compare head_seq
    and head_hash with a copy kept outside the database to catch that.
    """
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    rows = AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size)
    for event in rows:
        reason = ""
        if event.seq > expected_seq:
            reason = REASON_SEQ_GAP
        elif event.seq < expected_seq:
            reason = REASON_SEQ_ORDER
        elif event.prev_hash != prev_hash:
            # Checked before the row's own hash: a forged row can carry a valid
            # hash of itself but cannot also match its predecessor's.
            reason = REASON_PREV_HASH
        elif event.compute_hash() != event.hash:
            reason = REASON_HASH
        if reason:
            return VerifyResult(
                ok=False,
                count=count,
                head_seq=expected_seq - 1,
                head_hash=prev_hash,
                broken_seq=event.seq,
                broken_id=event.pk,
                expected_seq=expected_seq,
                reason=reason,
            )
        expected_seq, prev_hash, count = expected_seq + 1, event.hash, count + 1
    return VerifyResult(ok=True, count=count, head_seq=count, head_hash=prev_hash)


def audit_events_for(
    *,
    space_id: int | None = None,
    actor_id: int | None = None,
    action_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events newest first; callers decide who may see which (networks.access)."""
    events = AuditEvent.objects.all()
    if space_id is not None:
        events = events.filter(space_id=space_id)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if action_prefix:
        events = events.filter(action__startswith=action_prefix)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("-seq")
