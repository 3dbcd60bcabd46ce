"""manage.py audit_checkpoint, and audit_verify checking checkpoints' signatures."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from tests.audit.helpers import TABLE, tamper, tampering_db
from workspace.audit.chain import SignedCheckpoint, checkpoint_sign, public_key_hex
from workspace.audit.keys import audit_checkpoint_public_key
from workspace.audit.models import AuditCheckpoint
from workspace.audit.selectors import (
    REASON_CHECKPOINT_SIGNATURE,
    ExpectedRow,
    audit_chain_verify,
)
from workspace.audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():  # type: ignore[no-untyped-def]
    return [audit_record(action="test.event", details={"n": n}) for n in range(4)]


def checkpoint(*args: str) -> str:
    out = StringIO()
    call_command("audit_checkpoint", *args, stdout=out)
    return out.getvalue()


def test_checkpoint_is_stored_and_exported_with_our_public_key(chain, tmp_path):
    path = tmp_path / "cp.json"
    assert checkpoint("--out", str(path)) == f"checkpoint: seq 4 hash {chain[-1].hash}\n"
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert (data["seq"], data["hash"]) == (4, chain[-1].hash)
    assert data["public_key"] == public_key_hex(audit_checkpoint_public_key())
    exported = SignedCheckpoint.from_json(path.read_text())
    assert exported.verify(audit_checkpoint_public_key())
    assert AuditCheckpoint.objects.get().signed() == exported


def test_checkpoint_prints_json_without_out(chain):
    printed = SignedCheckpoint.from_json(checkpoint())
    assert (printed.seq, printed.hash) == (4, chain[-1].hash)


def test_no_checkpoint_of_an_empty_chain():
    with pytest.raises(CommandError, match="no events to checkpoint"):
        checkpoint()


@tampering_db
def test_no_checkpoint_of_a_broken_chain(chain):
    tamper(f"UPDATE {TABLE} SET target = 'x' WHERE seq = 2")  # noqa: S608
    with pytest.raises(CommandError, match="not signing: audit chain BROKEN at seq 2"):
        checkpoint()
    assert not AuditCheckpoint.objects.exists()


def test_checkpoint_file_signed_by_another_key_is_refused(chain, tmp_path):
    forged = checkpoint_sign(
        Ed25519PrivateKey.generate(), seq=4, hash=chain[-1].hash, created_at="2026"
    )
    path = tmp_path / "forged.json"
    path.write_text(forged.to_json())
    with pytest.raises(CommandError, match=r"signature invalid .*checkpoint file"):
        call_command("audit_verify", "--checkpoint", str(path), stdout=StringIO())


def test_checkpoint_file_edited_to_match_a_rewrite_is_refused(chain, tmp_path):
    path = tmp_path / "cp.json"
    checkpoint("--out", str(path))
    data = json.loads(path.read_text())
    data["hash"] = "ab" * 32
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"signature invalid"):
        call_command("audit_verify", "--checkpoint", str(path), stdout=StringIO())


@tampering_db
def test_forged_stored_checkpoint_is_refused(chain):
    forged = checkpoint_sign(
        Ed25519PrivateKey.generate(), seq=2, hash=chain[1].hash, created_at="2026"
    )
    tamper(
        "INSERT INTO audit_auditcheckpoint (seq, hash, created_at, public_key, signature) "
        "VALUES (%s, %s, %s, %s, %s)",
        [forged.seq, forged.hash, forged.created_at, forged.public_key, forged.signature],
    )
    result = audit_chain_verify()
    assert (result.ok, result.reason) == (False, REASON_CHECKPOINT_SIGNATURE)


def test_unreadable_checkpoint_file_and_bad_expect_head_are_usage_errors(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("audit_verify", "--checkpoint", str(tmp_path / "none.json"))
    with pytest.raises(CommandError, match="SEQ:HASH"):
        call_command("audit_verify", "--expect-head", "4:abc")


def test_the_empty_chains_head_is_a_valid_expected_head():
    assert audit_chain_verify(expected=[ExpectedRow(seq=0, hash="0" * 64, source="x")]).ok
    assert not audit_chain_verify(expected=[ExpectedRow(seq=0, hash="1" * 64, source="x")]).ok
