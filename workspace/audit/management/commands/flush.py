"""manage.py flush, letting its TRUNCATE through the audit log's PostgreSQL trigger."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections

# Why: flush (run by hand, and by Django/pytest-django after every transactional
# test) truncates all tables in one statement, which the append-only trigger would
# refuse. Wiping the whole database on purpose is the one case where the audit log
# goes too. This does not weaken the trigger against anyone who can already run SQL:
# the table owner could drop the trigger anyway; UPDATE and DELETE stay refused.
ALLOW_TRUNCATE_SETTING = "workspace.audit_allow_truncate"


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            return super().handle(**options)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', false)", [ALLOW_TRUNCATE_SETTING])
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, '', false)", [ALLOW_TRUNCATE_SETTING])
