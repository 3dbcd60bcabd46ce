"""manage.py audit_verify: OK on an intact chain; names the first broken link after tampering.

The forgeries here carry hashes made with the chain key (an insider's best case) to show
each structural check on its own; tests/audit/test_tampering.py forges without the key.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.audit.helpers import TABLE, tamper, tamper_insert, tamper_shift_seq, tampering_db
from workspace.audit.keys import audit_chain_key
from workspace.audit.models import AuditEvent
from workspace.audit.selectors import (
    REASON_HASH,
    REASON_PREV_HASH,
    REASON_SEQ_GAP,
    audit_chain_verify,
)
from workspace.audit.services import audit_record

pytestmark = tampering_db


@pytest.fixture
def chain() -> list[AuditEvent]:
    return [
        audit_record(action=f"test.event{n}", space_id=1, target=f"item:{n}", details={"n": n})
        for n in range(1, 6)
    ]


def verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def test_empty_chain_is_ok():
    assert verify().splitlines() == [
        "audit chain OK: 0 events, 0 checkpoints matched",
        f"head: seq 0 hash {'0' * 64}",
    ]


def test_intact_chain_is_ok(chain):
    lines = verify().splitlines()
    assert lines[0] == "audit chain OK: 5 events, 0 checkpoints matched"
    assert lines[1] == f"head: seq 5 hash {chain[-1].hash}"


def test_altered_row_is_detected(chain):
    tamper(f"UPDATE {TABLE} SET target = 'item:99' WHERE seq = 3")  # noqa: S608
    with pytest.raises(CommandError, match=rf"seq 3 \(id {chain[2].pk}\): hash mismatch"):
        verify()


def test_altered_details_are_detected(chain):
    details = '{"n": 4, "extra": true}'
    tamper(f"UPDATE {TABLE} SET details = %s WHERE seq = 4", [details])  # noqa: S608
    result = audit_chain_verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 4, REASON_HASH)
    assert result.count == 3


def test_removed_row_is_detected(chain):
    tamper(f"DELETE FROM {TABLE} WHERE seq = 3")  # noqa: S608
    with pytest.raises(CommandError, match=r"seq 4 .*seq gap \(row removed\); expected seq 3"):
        verify()


def test_removed_first_row_is_detected(chain):
    tamper(f"DELETE FROM {TABLE} WHERE seq = 1")  # noqa: S608
    result = audit_chain_verify()
    assert (result.broken_seq, result.expected_seq, result.reason) == (2, 1, REASON_SEQ_GAP)


def test_removed_row_with_renumbering_is_detected(chain):
    tamper(f"DELETE FROM {TABLE} WHERE seq = 3")  # noqa: S608
    tamper_shift_seq(from_seq=4, by=-1)
    with pytest.raises(CommandError, match=r"seq 3 \(id \d+\): prev_hash mismatch"):
        verify()
    assert audit_chain_verify().broken_id == chain[3].pk


def test_forged_row_with_wrong_hash_is_detected(chain):
    forged = AuditEvent(
        seq=6,
        created_at=timezone.now(),
        action="membership.role_changed",
        space_id=1,
        target="membership:1",
        details={},
        prev_hash=chain[-1].hash,
        hash="f" * 64,
    )
    tamper_insert(forged)
    with pytest.raises(CommandError, match=r"seq 6 \(id \d+\): hash mismatch \(row altered"):
        verify()


def test_forged_row_with_wrong_prev_hash_is_detected(chain):
    forged = AuditEvent(
        seq=6,
        created_at=timezone.now(),
        action="membership.role_changed",
        details={},
        prev_hash="0" * 64,
    )
    forged.hash = forged.compute_hash(audit_chain_key())
    tamper_insert(forged)
    result = audit_chain_verify()
    assert (result.broken_seq, result.reason) == (6, REASON_PREV_HASH)


def test_row_inserted_in_the_middle_by_renumbering_is_detected(chain):
    # The forger makes room at seq 3 and inserts a self-consistent row linked to seq 2;
    # the link from it to the original third row cannot match.
    tamper_shift_seq(from_seq=3, by=1)
    forged = AuditEvent(
        seq=3,
        created_at=chain[1].created_at,
        action="membership.removed",
        space_id=1,
        target="membership:5",
        details={},
        prev_hash=chain[1].hash,
    )
    forged.hash = forged.compute_hash(audit_chain_key())
    tamper_insert(forged)
    with pytest.raises(CommandError, match=r"seq 4 .*prev_hash mismatch"):
        verify()
    result = audit_chain_verify()
    assert (result.broken_id, result.count) == (chain[2].pk, 3)
