"""Signed checkpoints; the chain keyed from here on; TRUNCATE only for the tables' owner.

- AuditCheckpoint, append-only like AuditEvent (ORM and, on PostgreSQL, trigger).
- Rows already written were hashed with plain SHA-256. If there are any, one keyed
  `audit.chain_keyed` event is appended after them: audit_verify accepts plain SHA-256
  only before that event, whose own HMAC an attacker without the key cannot forge.
  Stop the application while this runs, so no old process appends unkeyed rows after it.
- The trigger lets TRUNCATE through only when the session asks for it (as `flush` does)
  *and* runs as a role with the table owner's privileges; the application's role, which
  does not own the tables (docs/deploy.md), can set the first but not the second.
"""

from django.db import migrations, models
from django.utils import timezone

from workspace.audit.chain import event_canonical_bytes, keyed_hash
from workspace.audit.keys import audit_chain_key

EVENTS = "audit_auditevent"
CHECKPOINTS = "audit_auditcheckpoint"
CHAIN_KEYED_ACTION = "audit.chain_keyed"
AUDIT_CHAIN_LOCK_KEY = 0x6175646974  # as in workspace/audit/services.py

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE passes only for `manage.py flush` (workspace/audit/management/commands/
    -- flush.py) run by the tables' owner: a session setting alone, which any role can
    -- set, is not enough.
    IF TG_OP = 'TRUNCATE'
       AND current_setting('workspace.audit_allow_truncate', true) = 'on'
       AND pg_has_role(current_user,
                       (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$;
"""

TRIGGERS = f"""
DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_update_delete ON {CHECKPOINTS};
CREATE TRIGGER audit_auditcheckpoint_no_update_delete
    BEFORE UPDATE OR DELETE ON {CHECKPOINTS}
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_truncate ON {CHECKPOINTS};
CREATE TRIGGER audit_auditcheckpoint_no_truncate
    BEFORE TRUNCATE ON {CHECKPOINTS}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_append_only();
"""

OLD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND current_setting('workspace.audit_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on {EVENTS} refused', TG_OP;
END;
$$;
DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_truncate ON {CHECKPOINTS};
DROP TRIGGER IF EXISTS audit_auditcheckpoint_no_update_delete ON {CHECKPOINTS};
"""


def install_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION + TRIGGERS, params=None)


def restore_old_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_FUNCTION, params=None)


def seal_unkeyed_rows(apps, schema_editor):  # type: ignore[no-untyped-def]
    AuditEvent = apps.get_model("audit", "AuditEvent")
    connection = schema_editor.connection
    events = AuditEvent.objects.using(connection.alias)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK_KEY])
    head = events.order_by("-seq").first()
    if head is None or events.filter(action=CHAIN_KEYED_ACTION).exists():
        return
    boundary = AuditEvent(
        seq=head.seq + 1,
        created_at=timezone.now(),
        action=CHAIN_KEYED_ACTION,
        actor_id=None,
        actor_label="",
        ip="",
        user_agent="",
        space_id=None,
        target="",
        details={"unkeyed_events": head.seq, "hash": "HMAC-SHA256 from this event on"},
        prev_hash=head.hash,
    )
    boundary.hash = keyed_hash(audit_chain_key(), event_canonical_bytes(boundary))
    boundary.save(using=connection.alias, force_insert=True)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.PositiveBigIntegerField(editable=False)),
                ("hash", models.CharField(editable=False, max_length=64)),
                ("created_at", models.CharField(editable=False, max_length=40)),
                ("public_key", models.CharField(editable=False, max_length=64)),
                ("signature", models.CharField(editable=False, max_length=128)),
            ],
            options={
                "ordering": ["seq", "id"],
                "indexes": [models.Index(fields=["seq"], name="audit_checkpoint_seq_idx")],
            },
        ),
        migrations.RunPython(install_triggers, restore_old_triggers),
        migrations.RunPython(seal_unkeyed_rows, migrations.RunPython.noop),
    ]
