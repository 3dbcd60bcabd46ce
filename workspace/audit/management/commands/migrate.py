"""manage.py migrate, run as the tables' owner when DATABASE_OWNER_URL is set."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand

from workspace.audit.dbroles import as_table_owner


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        # The whole run as the owner, not a second alias: data migrations write through
        # the default alias, and as another role they would wait on the schema
        # changes' locks in the migration's own open transaction.
        with as_table_owner(options["database"]):
            super().handle(*args, **options)
