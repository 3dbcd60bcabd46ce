"""PostgreSQL only: the append-only trigger, the application's restricted role, and a chain
that does not fork under concurrency."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, connections

from tests.audit.helpers import CHECKPOINT_TABLE, TABLE
from tests.conftest import skip_or_fail
from workspace.audit.dbroles import as_table_owner
from workspace.audit.models import AuditCheckpoint, AuditEvent
from workspace.audit.selectors import audit_chain_verify
from workspace.audit.services import audit_checkpoint_create, audit_record

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
    # As the application's role the privileges refuse first; as the owner, the trigger.
    refused = "append-only|permission denied"
    with pytest.raises(DatabaseError, match=refused), connection.cursor() as cursor:
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


def test_even_the_owner_truncates_only_through_flush():
    audit_record(action="a.one")
    with as_table_owner(), pytest.raises(DatabaseError, match="append-only"):
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLE}")
    assert AuditEvent.objects.count() == 1


@pytest.fixture
def application_role() -> str:
    if not settings.DATABASE_OWNER:
        skip_or_fail(
            "needs the application's own role: set DATABASE_OWNER_URL to the tables' owner "
            "and DATABASE_URL to the application's role (docs/deploy.md, .ci/run)"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        role = cursor.fetchone()[0]
    assert role == settings.DATABASE_APP_ROLE != settings.DATABASE_OWNER["USER"]
    return role


def test_the_application_role_owns_no_table_and_only_appends_to_the_audit_log(
    application_role,
):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tableowner = current_user"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, False)
        for table in (TABLE, CHECKPOINT_TABLE):
            privileges = []
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER"):
                cursor.execute("SELECT has_table_privilege(%s, %s)", [table, privilege])
                if cursor.fetchone()[0]:
                    privileges.append(privilege)
            assert privileges == ["SELECT", "INSERT"], table
        # Ordinary tables: what the application needs.
        cursor.execute("SELECT has_table_privilege('networks_membership', 'UPDATE, DELETE')")
        assert cursor.fetchone() == (True,)


@pytest.mark.parametrize(
    "statements",
    [
        [f"UPDATE {TABLE} SET target = 'x'"],  # noqa: S608
        [f"DELETE FROM {TABLE}"],  # noqa: S608
        [f"TRUNCATE {TABLE}"],
        [f"TRUNCATE {CHECKPOINT_TABLE}"],
        [f"DELETE FROM {CHECKPOINT_TABLE}"],  # noqa: S608
        ["SET workspace.audit_allow_truncate = 'on'", f"TRUNCATE {TABLE}"],
        [f"ALTER TABLE {TABLE} DISABLE TRIGGER USER"],
        [f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_auditevent_no_truncate"],
        [f"DROP TRIGGER audit_auditevent_no_update_delete ON {TABLE}"],
        ["DROP FUNCTION audit_auditevent_append_only() CASCADE"],
        [f"ALTER TABLE {TABLE} OWNER TO CURRENT_USER"],
        ["SET session_replication_role = replica"],
    ],
)
def test_the_application_role_cannot_change_or_unguard_the_audit_log(application_role, statements):
    audit_record(action="a.one", target="t")
    audit_checkpoint_create()
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute("RESET workspace.audit_allow_truncate")
    assert AuditEvent.objects.get().target == "t"
    assert AuditCheckpoint.objects.count() == 1
    assert audit_chain_verify().ok


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
    assert out.getvalue().startswith(f"audit chain OK: {total} events,")
