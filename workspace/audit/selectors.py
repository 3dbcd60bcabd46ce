"""Reading the audit log: filtered listings and verification of the keyed hash chain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from workspace.audit.chain import SignedCheckpoint, hashes_equal
from workspace.audit.keys import audit_chain_key, audit_checkpoint_public_key
from workspace.audit.models import CHAIN_KEYED_ACTION, GENESIS_HASH, AuditCheckpoint, AuditEvent

REASON_SEQ_GAP = "seq gap (row removed)"
REASON_SEQ_ORDER = "seq out of order (row inserted)"
REASON_PREV_HASH = "prev_hash mismatch (row removed or inserted)"
REASON_HASH = "hash mismatch (row altered, or not hashed with the chain key)"
REASON_CHECKPOINT_SIGNATURE = "checkpoint signature invalid (forged, or another master key)"
REASON_CHECKPOINT_HASH = "hash differs from the checkpoint's (chain rewritten)"
REASON_CHECKPOINT_BEYOND_HEAD = "chain ends before the checkpoint's seq (newest rows removed)"


@dataclass(frozen=True)
class ExpectedRow:
    """A row the chain must still hold: from a checkpoint, or a head noted earlier."""

    seq: int
    hash: str
    source: str  # names it in the report: "stored checkpoint 3", "checkpoint file …"


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
    source: str = ""  # the checkpoint or expected head that failed, if one did
    checked: int = 0  # checkpoints and expected heads found in the chain

    def describe(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.count} events, {self.checked} checkpoints matched"
        where = f"seq {self.broken_seq}"
        if self.broken_id is not None:
            where += f" (id {self.broken_id})"
        text = f"audit chain BROKEN at {where}: {self.reason}"
        if self.reason == REASON_CHECKPOINT_SIGNATURE:
            return f"{text}; {self.source}"
        if self.source:
            return f"{text}; {self.source}; the chain holds {self.count} events"
        return f"{text}; expected seq {self.expected_seq}, {self.count} events before it verified"


def stored_checkpoints() -> list[tuple[str, SignedCheckpoint]]:
    return [
        (f"stored checkpoint {c.pk} of seq {c.seq}", c.signed())
        for c in AuditCheckpoint.objects.order_by("seq", "id")
    ]


def _legacy_until(key: bytes) -> int:
    """The last seq that may carry a plain SHA-256 hash: the rows before the keyed
    boundary event. Without an authentic boundary, none may."""
    boundary = AuditEvent.objects.filter(action=CHAIN_KEYED_ACTION).order_by("seq").first()
    if boundary is not None and hashes_equal(boundary.compute_hash(key), boundary.hash):
        return boundary.seq - 1
    return 0


def audit_chain_verify(
    *,
    checkpoints: Iterable[tuple[str, SignedCheckpoint]] = (),
    expected: Iterable[ExpectedRow] = (),
    chunk_size: int = 2000,
) -> VerifyResult:
    """Walk the chain in seq order and report the first broken link or unmet checkpoint.

    Each row's hash must be the HMAC of its fields under the chain key. Every stored
    checkpoint and every (label, checkpoint) in `checkpoints` must carry a valid
    signature and name a row the chain still holds with that hash, as must each of
    `expected`: so a chain emptied, cut short or rewritten since any of them was taken
    fails, even with every hash recomputed.
    """
    key = audit_chain_key()
    public_key = audit_checkpoint_public_key()
    pending = list(expected)
    for source, checkpoint in [*stored_checkpoints(), *checkpoints]:
        if not checkpoint.verify(public_key):
            return VerifyResult(
                ok=False,
                count=0,
                broken_seq=checkpoint.seq,
                reason=REASON_CHECKPOINT_SIGNATURE,
                source=source,
            )
        pending.append(ExpectedRow(seq=checkpoint.seq, hash=checkpoint.hash, source=source))
    checked = 0
    for row in [row for row in pending if row.seq <= 0]:
        # "seq 0" is the empty chain's head, which every chain extends.
        if row.seq < 0 or not hashes_equal(row.hash, GENESIS_HASH):
            return VerifyResult(
                ok=False,
                count=0,
                broken_seq=row.seq,
                reason=REASON_CHECKPOINT_HASH,
                source=row.source,
            )
        pending.remove(row)
        checked += 1
    pending.sort(key=lambda row: row.seq, reverse=True)  # pop() takes the lowest seq

    legacy_until = _legacy_until(key)
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
        else:
            own = (
                event.compute_legacy_hash()
                if event.seq <= legacy_until
                else event.compute_hash(key)
            )
            if not hashes_equal(own, event.hash):
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
        while pending and pending[-1].seq <= event.seq:
            row = pending.pop()
            if row.seq < event.seq or not hashes_equal(row.hash, event.hash):
                return VerifyResult(
                    ok=False,
                    count=count,
                    head_seq=expected_seq - 1,
                    head_hash=prev_hash,
                    broken_seq=row.seq,
                    broken_id=event.pk if row.seq == event.seq else None,
                    reason=REASON_CHECKPOINT_HASH,
                    source=row.source,
                )
            checked += 1
        expected_seq, prev_hash, count = expected_seq + 1, event.hash, count + 1
    if pending:
        row = pending.pop()
        return VerifyResult(
            ok=False,
            count=count,
            head_seq=count,
            head_hash=prev_hash,
            broken_seq=row.seq,
            reason=REASON_CHECKPOINT_BEYOND_HEAD,
            source=row.source,
        )
    return VerifyResult(ok=True, count=count, head_seq=count, head_hash=prev_hash, checked=checked)


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
