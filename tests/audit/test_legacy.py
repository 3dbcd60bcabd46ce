"""Chains written before the key: migration 0003 seals their SHA-256 rows behind a keyed event.

Plain SHA-256 is accepted only before that `audit.chain_keyed` event, which an attacker
without the key can neither forge, move nor remove without breaking the chain.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

from django.apps import apps
from django.db import connection
from django.utils import timezone

from tests.audit.helpers import (
    TABLE,
    rehash_forward,
    sha256_hasher,
    tamper,
    tamper_insert,
    tampering_db,
)
from workspace.audit.models import CHAIN_KEYED_ACTION, GENESIS_HASH, AuditEvent
from workspace.audit.selectors import REASON_HASH, REASON_PREV_HASH, audit_chain_verify
from workspace.audit.services import audit_record

pytestmark = tampering_db

migration = importlib.import_module("workspace.audit.migrations.0003_checkpoint_and_keyed_chain")


def seal() -> None:
    migration.seal_unkeyed_rows(apps, SimpleNamespace(connection=connection))


def write_unkeyed_rows(count: int) -> None:
    """Rows as the code before the key wrote them: plain SHA-256."""
    prev_hash = GENESIS_HASH
    for seq in range(1, count + 1):
        event = AuditEvent(
            seq=seq,
            created_at=timezone.now(),
            action="auth.login",
            target=f"user:{seq}",
            details={"n": seq},
            prev_hash=prev_hash,
        )
        event.hash = event.compute_legacy_hash()
        tamper_insert(event)
        prev_hash = event.hash


def test_unkeyed_rows_fail_without_the_seal():
    write_unkeyed_rows(3)
    result = audit_chain_verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 1, REASON_HASH)


def test_sealed_unkeyed_rows_verify_and_the_chain_continues_keyed():
    write_unkeyed_rows(3)
    seal()
    seal()  # idempotent: one boundary
    audit_record(action="a.after")
    events = list(AuditEvent.objects.values_list("seq", "action"))
    assert events[3:] == [(4, CHAIN_KEYED_ACTION), (5, "a.after")]
    assert AuditEvent.objects.get(seq=4).details == {
        "unkeyed_events": 3,
        "hash": "HMAC-SHA256 from this event on",
    }
    result = audit_chain_verify()
    assert (result.ok, result.count) == (True, 5)


def test_seal_does_nothing_on_an_empty_log():
    seal()
    assert not AuditEvent.objects.exists()


def test_unkeyed_row_rewritten_before_the_seal_is_detected():
    write_unkeyed_rows(3)
    seal()
    tamper(f"UPDATE {TABLE} SET target = 'user:99' WHERE seq = 2")  # noqa: S608
    rehash_forward(from_seq=2, hasher=sha256_hasher)  # through the boundary too
    result = audit_chain_verify()
    # The boundary's HMAC no longer holds, so no row may be unkeyed: seq 1 fails.
    assert (result.ok, result.broken_seq, result.reason) == (False, 1, REASON_HASH)


def test_unkeyed_row_rewritten_up_to_the_seal_is_detected():
    write_unkeyed_rows(3)
    seal()
    tamper(f"UPDATE {TABLE} SET target = 'user:99' WHERE seq = 2")  # noqa: S608
    rehash_forward(from_seq=2, until_seq=3, hasher=sha256_hasher)  # the seal left alone
    result = audit_chain_verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 4, REASON_PREV_HASH)


def test_removed_seal_is_detected():
    write_unkeyed_rows(3)
    seal()
    tamper(f"DELETE FROM {TABLE} WHERE action = %s", [CHAIN_KEYED_ACTION])  # noqa: S608
    result = audit_chain_verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 1, REASON_HASH)


def test_unkeyed_row_after_the_seal_is_detected():
    write_unkeyed_rows(2)
    seal()
    head = AuditEvent.objects.order_by("-seq").first()
    forged = AuditEvent(
        seq=head.seq + 1,
        created_at=timezone.now(),
        action="auth.login",
        details={},
        prev_hash=head.hash,
    )
    forged.hash = forged.compute_legacy_hash()
    tamper_insert(forged)
    result = audit_chain_verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 4, REASON_HASH)


def test_forged_seal_earlier_in_the_chain_is_detected():
    write_unkeyed_rows(3)
    seal()
    tamper(f"UPDATE {TABLE} SET action = %s WHERE seq = 2", [CHAIN_KEYED_ACTION])  # noqa: S608
    rehash_forward(from_seq=2, hasher=sha256_hasher)
    result = audit_chain_verify()
    assert not result.ok
    assert result.reason in (REASON_HASH, REASON_PREV_HASH)
