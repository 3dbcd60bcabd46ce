"""Issue #35: an attacker with the database but not the master key cannot rewrite the chain.

Each forgery recomputes every hash after its change, with plain SHA-256 or with HMAC
under a key of the attacker's own, and `audit_verify` must still catch it: the rows'
HMACs alone catch edits, deletions and insertions; a signed checkpoint or a head kept
outside the database, taken before, also catches the newest rows or all rows removed.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.audit.helpers import (
    CHECKPOINT_TABLE,
    TABLE,
    rehash_forward,
    sha256_hasher,
    tamper,
    tamper_insert,
    tamper_shift_seq,
    tampering_db,
    wrong_key_hasher,
)
from workspace.audit.models import AuditEvent
from workspace.audit.services import audit_record

pytestmark = tampering_db

HASHERS = pytest.mark.parametrize(
    "hasher", [sha256_hasher, wrong_key_hasher], ids=["sha256", "wrong-key"]
)


@pytest.fixture
def chain() -> list[AuditEvent]:
    return [
        audit_record(action=f"test.event{n}", space_id=1, target=f"item:{n}", details={"n": n})
        for n in range(1, 7)
    ]


@pytest.fixture
def checkpoint_file(chain, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """Exported before the attack, and kept where the attacker cannot reach."""
    path = tmp_path / "checkpoint.json"
    call_command("audit_checkpoint", out=str(path), stdout=StringIO())
    return path


def verify(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def head_of(chain: list[AuditEvent]) -> str:
    return f"{chain[-1].seq}:{chain[-1].hash}"


def assert_detected(match: str, checkpoint_file: Path, chain: list[AuditEvent]) -> None:
    """Caught by the chain alone, against the checkpoint file and against the head."""
    for args in ([], ["--checkpoint", str(checkpoint_file)], ["--expect-head", head_of(chain)]):
        with pytest.raises(CommandError, match=match):
            verify(*args)


def test_untouched_chain_verifies_against_its_checkpoint_and_head(chain, checkpoint_file):
    audit_record(action="test.later")  # the chain may grow past a checkpoint
    out = verify("--checkpoint", str(checkpoint_file), "--expect-head", head_of(chain))
    assert out.splitlines()[0] == "audit chain OK: 7 events, 3 checkpoints matched"


@HASHERS
def test_edited_row_with_chain_recomputed_is_detected(chain, checkpoint_file, hasher):
    tamper(f"UPDATE {TABLE} SET target = 'item:99' WHERE seq = 3")  # noqa: S608
    rehash_forward(from_seq=3, hasher=hasher)
    assert_detected(r"BROKEN at seq 3 .*hash mismatch", checkpoint_file, chain)


@HASHERS
def test_deleted_row_with_chain_renumbered_and_recomputed_is_detected(
    chain, checkpoint_file, hasher
):
    tamper(f"DELETE FROM {TABLE} WHERE seq = 3")  # noqa: S608
    tamper_shift_seq(from_seq=4, by=-1)
    rehash_forward(from_seq=3, hasher=hasher)
    assert_detected(r"BROKEN at seq 3 .*hash mismatch", checkpoint_file, chain)


@HASHERS
def test_inserted_row_with_chain_renumbered_and_recomputed_is_detected(
    chain, checkpoint_file, hasher
):
    tamper_shift_seq(from_seq=3, by=1)
    tamper_insert(
        AuditEvent(
            seq=3,
            created_at=chain[1].created_at,
            action="membership.removed",
            space_id=1,
            target="membership:5",
            details={},
            prev_hash="",
            hash="",
        )
    )
    rehash_forward(from_seq=3, hasher=hasher)
    assert_detected(r"BROKEN at seq 3 .*hash mismatch", checkpoint_file, chain)


@HASHERS
def test_whole_chain_rewritten_is_detected(chain, checkpoint_file, hasher):
    tamper(f"UPDATE {TABLE} SET actor_label = 'someone@else.example'")  # noqa: S608
    rehash_forward(from_seq=1, hasher=hasher)
    assert_detected(r"BROKEN at seq 1 .*hash mismatch", checkpoint_file, chain)


def test_newest_rows_deleted_are_detected_against_an_earlier_checkpoint(chain, checkpoint_file):
    tamper(f"DELETE FROM {TABLE} WHERE seq >= 5")  # noqa: S608
    tamper(f"DELETE FROM {CHECKPOINT_TABLE}")  # noqa: S608 - the stored copies go too
    assert verify().startswith("audit chain OK: 4 events")  # a shorter chain is still a chain
    with pytest.raises(CommandError, match=r"seq 6: chain ends before the checkpoint's seq"):
        verify("--checkpoint", str(checkpoint_file))
    with pytest.raises(CommandError, match=r"seq 6: chain ends .*--expect-head 6:"):
        verify("--expect-head", head_of(chain))


def test_newest_rows_deleted_are_detected_by_a_stored_checkpoint(chain, checkpoint_file):
    # An attacker who may delete audit rows but not checkpoints (or forgets them).
    tamper(f"DELETE FROM {TABLE} WHERE seq >= 5")  # noqa: S608
    with pytest.raises(CommandError, match=r"seq 6: .*stored checkpoint"):
        verify()


def test_emptied_table_is_detected_against_an_earlier_checkpoint(chain, checkpoint_file):
    tamper(f"DELETE FROM {TABLE}")  # noqa: S608
    tamper(f"DELETE FROM {CHECKPOINT_TABLE}")  # noqa: S608
    assert verify().startswith("audit chain OK: 0 events")
    with pytest.raises(CommandError, match=r"chain ends before .*holds 0 events"):
        verify("--checkpoint", str(checkpoint_file))
    with pytest.raises(CommandError, match=r"chain ends before .*holds 0 events"):
        verify("--expect-head", head_of(chain))


def test_rewritten_and_regrown_chain_is_detected_against_an_earlier_checkpoint(
    chain, checkpoint_file
):
    # The attacker empties the log and lets the application write a new one: every
    # row now carries a valid HMAC, but not the one the checkpoint signed at seq 6.
    tamper(f"DELETE FROM {TABLE}")  # noqa: S608
    tamper(f"DELETE FROM {CHECKPOINT_TABLE}")  # noqa: S608
    for n in range(8):
        audit_record(action="test.new", details={"n": n})
    assert verify().startswith("audit chain OK: 8 events")
    with pytest.raises(CommandError, match=r"BROKEN at seq 6 .*differs from the checkpoint"):
        verify("--checkpoint", str(checkpoint_file))
    with pytest.raises(CommandError, match=r"BROKEN at seq 6 .*differs from the checkpoint"):
        verify("--expect-head", head_of(chain))


def test_forged_row_appended_by_the_application_role_is_detected(chain):
    # The application's role may INSERT audit rows; without the key it cannot hash them.
    forged = AuditEvent(
        seq=7,
        created_at=timezone.now(),
        action="membership.role_changed",
        details={},
        prev_hash=chain[-1].hash,
    )
    forged.hash = sha256_hasher(forged.canonical_bytes())
    tamper_insert(forged)
    with pytest.raises(CommandError, match=r"BROKEN at seq 7 .*hash mismatch"):
        verify()
