"""The chain's crypto: keys derived from the master key, HMAC row hashes, signed checkpoints."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from workspace.audit.chain import (
    CHECKPOINT_FORMAT,
    SignedCheckpoint,
    checkpoint_sign,
    keyed_hash,
    legacy_hash,
)
from workspace.keys import LocalKeyProvider


def test_derived_keys_depend_on_the_master_key_and_the_context():
    master = bytes(range(32))
    provider = LocalKeyProvider(master)
    key = provider.derive_key(context=b"a")
    assert len(key) == 32
    assert key == LocalKeyProvider(master).derive_key(context=b"a")
    assert key != provider.derive_key(context=b"b")
    assert key != LocalKeyProvider(bytes(32)).derive_key(context=b"a")
    assert len(provider.derive_key(context=b"a", length=64)) == 64
    assert master not in key


def test_rfc_4231_hmac_sha256_vector():
    # RFC 4231, test case 2.
    data = b"what do ya want for nothing?"
    assert keyed_hash(b"Jefe", data) == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert legacy_hash(data) == hashlib.sha256(data).hexdigest()
    assert keyed_hash(b"Jefe", data) != hmac.new(b"Jeff", data, "sha256").hexdigest()


def test_checkpoint_round_trips_through_json_and_verifies_only_under_its_key():
    signing_key = Ed25519PrivateKey.generate()
    checkpoint = checkpoint_sign(
        signing_key, seq=7, hash="ab" * 32, created_at="2026-12-08T00:00:00.000000+00:00"
    )
    loaded = SignedCheckpoint.from_json(checkpoint.to_json())
    assert loaded == checkpoint
    assert json.loads(checkpoint.to_json())["format"] == CHECKPOINT_FORMAT
    assert loaded.verify(signing_key.public_key())
    assert not loaded.verify(Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("field", ["seq", "hash", "created_at"])
def test_a_checkpoint_with_any_signed_field_changed_does_not_verify(field):
    signing_key = Ed25519PrivateKey.generate()
    data = json.loads(
        checkpoint_sign(signing_key, seq=7, hash="ab" * 32, created_at="2026").to_json()
    )
    data[field] = {"seq": 6, "hash": "cd" * 32, "created_at": "2025"}[field]
    assert not SignedCheckpoint.from_json(json.dumps(data)).verify(signing_key.public_key())


@pytest.mark.parametrize("text", ["", "[]", '{"format": "other"}', '{"format": "%s"}'])
def test_malformed_checkpoint_files_are_refused(text):
    with pytest.raises(ValueError, match="Malformed audit checkpoint"):
        SignedCheckpoint.from_json(text.replace("%s", CHECKPOINT_FORMAT))
