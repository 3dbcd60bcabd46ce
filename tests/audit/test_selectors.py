"""audit_events_for filters, and audit_chain_verify over many rows in small chunks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from workspace.audit.selectors import audit_chain_verify, audit_events_for
from workspace.audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_audit_events_for_filters_and_orders_newest_first():
    start = timezone.now()
    audit_record(action="membership.invited", space_id=1)
    audit_record(action="document.viewed", space_id=1)
    audit_record(action="membership.removed", space_id=2)
    audit_record(action="auth.login")

    assert [e.seq for e in audit_events_for()] == [4, 3, 2, 1]
    assert [e.seq for e in audit_events_for(space_id=1)] == [2, 1]
    assert [e.seq for e in audit_events_for(action_prefix="membership.")] == [3, 1]
    assert [e.seq for e in audit_events_for(space_id=1, action_prefix="document.")] == [2]
    assert list(audit_events_for(since=timezone.now() + timedelta(seconds=1))) == []
    assert list(audit_events_for(until=start)) == []
    assert audit_events_for(since=start).count() == 4


def test_audit_events_for_actor(django_user_model):
    user = django_user_model.objects.create_user(email="mod@agency.example")
    audit_record(action="auth.login", actor=user)
    audit_record(action="auth.login")
    assert [e.actor_label for e in audit_events_for(actor_id=user.pk)] == ["mod@agency.example"]


def test_verify_walks_in_chunks():
    for n in range(25):
        audit_record(action="test.event", details={"n": n})
    result = audit_chain_verify(chunk_size=4)
    assert (result.ok, result.count, result.head_seq) == (True, 25, 25)
