"""PostgreSQL only: the append-only trigger, and a chain that does not fork under concurrency."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections

from tests.audit.helpers import TABLE
from workspace.audit.models import AuditEvent
from workspace.audit.selectors import audit_chain_verify
from workspace.audit.services import audit_record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {TABLE} SET target = 'x'",  # noqa: S608
        f"DELETE FROM {TABLE}",  # noqa: S608
        f"TRUNCATE {TABLE}",
    ],
)
def test_trigger_refuses_raw_changes(sql):
    audit_record(action="a.one", target="t")
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get().target == "t"
    assert audit_chain_verify().ok


def test_flush_still_wipes_the_database_but_truncate_stays_refused():
    audit_record(action="a.one")
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    audit_record(action="a.two")
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}")


def test_concurrent_writers_keep_the_chain_linear():
    threads_count, per_thread = 8, 25
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                audit_record(action="test.concurrent", details={"thread": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    total = threads_count * per_thread
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, total + 1)
    )
    prev_hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(set(prev_hashes)) == total
    result = audit_chain_verify()
    assert (result.ok, result.count) == (True, total)
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith(f"audit chain OK: {total} events")
