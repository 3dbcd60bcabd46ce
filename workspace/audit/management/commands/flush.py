"""manage.py flush, run as the tables' owner and let through the audit log's TRUNCATE trigger."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections

from workspace.audit.dbroles import as_table_owner

# Why: flush (run by hand, and by Django/pytest-django after every transactional
# test) truncates all tables in one statement, which the append-only trigger would
# refuse. Wiping the whole database on purpose is the one case where the audit log
# goes too. The trigger lets it through only for a session that sets this *and* runs
# as the tables' owner, who could drop the trigger anyway: the application's role
# (DATABASE_URL, when DATABASE_OWNER_URL names the owner) cannot truncate the log.
ALLOW_TRUNCATE_SETTING = "workspace.audit_allow_truncate"


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        database = options["database"]
        connection = connections[database]
        if connection.vendor != "postgresql":
            return super().handle(**options)
        with as_table_owner(database):
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'on', false)", [ALLOW_TRUNCATE_SETTING])
            try:
                return super().handle(**options)
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config(%s, '', false)", [ALLOW_TRUNCATE_SETTING])
