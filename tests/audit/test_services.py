"""audit_record: chaining, who/where, and keeping secrets out of the log."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import RequestFactory

from tests.factories import UserFactory
from workspace.audit.keys import audit_chain_key
from workspace.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent
from workspace.audit.selectors import audit_chain_verify
from workspace.audit.services import REDACTED, audit_record

pytestmark = pytest.mark.django_db


def test_first_event_starts_the_chain():
    event = audit_record(action="membership.invited", space_id=7, target="membership:12")
    event.refresh_from_db()
    assert event.seq == 1
    assert event.prev_hash == GENESIS_HASH
    assert event.hash == event.compute_hash(audit_chain_key())
    assert event.hash != event.compute_legacy_hash()  # keyed: HMAC, not plain SHA-256
    assert len(event.hash) == 64
    assert (event.space_id, event.target) == (7, "membership:12")
    assert event.created_at.tzinfo is not None
    assert event.details == {}


def test_each_event_links_to_the_previous_one():
    first = audit_record(action="a.one")
    second = audit_record(action="a.two")
    third = audit_record(action="a.three")
    assert [second.seq, third.seq] == [2, 3]
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3


def test_actor_is_stored_as_id_and_email_and_survives_user_deletion():
    user = UserFactory()
    user_pk, email = user.pk, user.email
    event = audit_record(action="auth.login", actor=user)
    assert (event.actor_id, event.actor_label) == (user_pk, email)
    user.delete()
    event.refresh_from_db()
    assert (event.actor_id, event.actor_label) == (user_pk, email)
    assert audit_chain_verify().ok


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_anonymous_actor_is_recorded_as_nobody(actor):
    event = audit_record(action="auth.login_failed", actor=actor)
    assert (event.actor_id, event.actor_label) == (None, "")


def test_secret_looking_keys_are_redacted_recursively():
    event = audit_record(
        action="auth.password_changed",
        details={
            "identifier": "a@b.example",
            "password": "hunter2",
            "Client_Secret": "s",
            "nested": {"accessToken": "t", "kept": 1, "list": [{"recovery_code": "c"}]},
            "API_KEY": {"whole": "subtree"},
        },
    )
    event.refresh_from_db()
    assert event.details == {
        "identifier": "a@b.example",
        "password": REDACTED,
        "Client_Secret": REDACTED,
        "nested": {"accessToken": REDACTED, "kept": 1, "list": [{"recovery_code": REDACTED}]},
        "API_KEY": REDACTED,
    }


def test_details_round_trip_through_the_database_keep_the_hash_valid():
    audit_record(
        action="document.uploaded",
        details={
            "size": 1e16,
            "ratio": 0.1,
            "when": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "ids": (1, 2),
            "name": "Übersicht – 報告.pdf",
        },
    )
    event = AuditEvent.objects.get()
    assert event.details["ids"] == [1, 2]
    assert event.details["when"] == "2025-01-02T03:04:05Z"
    assert event.compute_hash(audit_chain_key()) == event.hash
    assert audit_chain_verify().ok


def test_ip_and_user_agent_come_from_the_request():
    request = RequestFactory().get(
        "/",
        REMOTE_ADDR="203.0.113.5",
        HTTP_USER_AGENT="x" * 500,
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    event = audit_record(action="auth.login", request=request)
    # No trusted proxy configured: X-Forwarded-For is client-controlled and ignored.
    assert event.ip == "203.0.113.5"
    assert event.user_agent == "x" * 300


def test_ip_from_x_forwarded_for_behind_one_trusted_proxy(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.66, 198.51.100.7"
    )
    event = audit_record(action="auth.login", request=request)
    # The rightmost entry was added by our proxy; the spoofable leftmost one is ignored.
    assert event.ip == "198.51.100.7"


def test_no_request_means_no_ip():
    event = audit_record(action="keys.rotated")
    assert (event.ip, event.user_agent) == ("", "")


def test_event_rolls_back_with_the_callers_transaction():
    audit_record(action="a.kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="a.rolled_back")
        raise RuntimeError
    audit_record(action="a.after")
    assert list(AuditEvent.objects.values_list("seq", "action")) == [
        (1, "a.kept"),
        (2, "a.after"),
    ]
    assert audit_chain_verify().ok


def test_a_checkpoint_is_signed_every_n_events(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 3
    events = [audit_record(action="test.event", details={"n": n}) for n in range(7)]
    checkpoints = list(AuditCheckpoint.objects.all())
    assert [(c.seq, c.hash) for c in checkpoints] == [(3, events[2].hash), (6, events[5].hash)]
    result = audit_chain_verify()
    assert (result.ok, result.count, result.checked) == (True, 7, 2)


def test_a_rolled_back_event_takes_its_checkpoint_with_it(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 1
    audit_record(action="a.kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="a.rolled_back")
        raise RuntimeError
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [1]


def test_no_periodic_checkpoint_when_turned_off(settings):
    settings.AUDIT_CHECKPOINT_EVERY = 0
    for _ in range(3):
        audit_record(action="test.event")
    assert not AuditCheckpoint.objects.exists()
