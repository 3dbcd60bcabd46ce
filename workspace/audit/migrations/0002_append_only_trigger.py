"""On PostgreSQL, refuse UPDATE, DELETE and TRUNCATE of audit rows with a trigger."""

from django.db import migrations

TABLE = "audit_auditevent"

INSTALL = f"""
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE alone may be let through, by `manage.py flush` (see
    -- workspace/audit/management/commands/flush.py): that wipes every table on purpose.
    IF TG_OP = 'TRUNCATE'
       AND current_setting('workspace.audit_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on {TABLE} refused', TG_OP;
END;
$$;
DROP TRIGGER IF EXISTS audit_auditevent_no_update_delete ON {TABLE};
CREATE TRIGGER audit_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON {TABLE};
CREATE TRIGGER audit_auditevent_no_truncate
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_append_only();
"""

UNINSTALL = f"""
DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON {TABLE};
DROP TRIGGER IF EXISTS audit_auditevent_no_update_delete ON {TABLE};
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
