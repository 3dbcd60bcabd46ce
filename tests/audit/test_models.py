"""The ORM refuses to change or remove audit events and checkpoints."""

from __future__ import annotations

import pytest

from workspace.audit.models import AuditCheckpoint, AuditEvent, AuditImmutable
from workspace.audit.services import audit_checkpoint_create, audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    audit_record(action="a.one")
    return audit_record(action="a.two", target="membership:1")


def test_queryset_update_is_refused(event):
    with pytest.raises(AuditImmutable, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(target="membership:2")
    event.refresh_from_db()
    assert event.target == "membership:1"


def test_queryset_delete_is_refused(event):
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 2


def test_bulk_update_and_bulk_create_are_refused(event):
    event.target = "membership:2"
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.bulk_update([event], ["target"])
    with pytest.raises(AuditImmutable):
        AuditEvent.objects.bulk_create([AuditEvent(action="forged")])
    assert AuditEvent.objects.count() == 2


def test_saving_an_existing_row_is_refused(event):
    event.target = "membership:2"
    with pytest.raises(AuditImmutable):
        event.save()
    fetched = AuditEvent.objects.get(pk=event.pk)
    fetched.action = "a.changed"
    with pytest.raises(AuditImmutable):
        fetched.save(update_fields=["action"])
    assert AuditEvent.objects.get(pk=event.pk).target == "membership:1"


def test_instance_delete_is_refused(event):
    with pytest.raises(AuditImmutable):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_checkpoints_are_append_only_too(event):
    checkpoint = audit_checkpoint_create()
    with pytest.raises(AuditImmutable):
        AuditCheckpoint.objects.update(hash="0" * 64)
    with pytest.raises(AuditImmutable):
        AuditCheckpoint.objects.all().delete()
    checkpoint.hash = "0" * 64
    with pytest.raises(AuditImmutable):
        checkpoint.save()
    with pytest.raises(AuditImmutable):
        checkpoint.delete()
    assert AuditCheckpoint.objects.get().hash == event.hash
