"""PostgreSQL's two roles: the owner migrates and flushes; the application only appends audit rows.

With DATABASE_OWNER_URL set (docs/deploy.md), DATABASE_URL's role owns no table: it
cannot disable the audit triggers, and it holds SELECT and INSERT only on the audit
tables. Without it, one role owns and uses everything, as on a laptop, and nothing here
does anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

APPEND_ONLY_TABLES = ("audit_auditevent", "audit_auditcheckpoint")


def _split_roles(alias: str) -> bool:
    return (
        alias == DEFAULT_DB_ALIAS
        and bool(settings.DATABASE_OWNER)
        and connections[alias].vendor == "postgresql"
    )


@contextmanager
def as_table_owner(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Reconnect `alias` as the owner's role for the block, and as the application's after.

    For one-off commands (migrate, flush) and the test database's setup; the connection
    is closed on the way in and out, so it cannot run inside a transaction.
    """
    connection = connections[alias]
    owner = settings.DATABASE_OWNER
    if not _split_roles(alias) or connection.settings_dict["USER"] == owner["USER"]:
        yield
        return
    if connection.in_atomic_block:
        raise RuntimeError("as_table_owner() reconnects, so it cannot run inside a transaction")
    settings_dict = connection.settings_dict
    saved = {key: settings_dict.get(key) for key in ("USER", "PASSWORD", "OPTIONS")}
    connection.close()
    settings_dict.update(owner)
    # The pool, if any, holds the application's connections.
    settings_dict["OPTIONS"] = {k: v for k, v in saved["OPTIONS"].items() if k != "pool"}
    try:
        yield
    finally:
        connection.close()
        settings_dict.update(saved)


def grant_application_role(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Give the application's role what it needs on every table: all rows of the ordinary
    tables, but only SELECT and INSERT on the append-only ones. Idempotent; runs after
    every migrate (workspace/audit/apps.py), as the owner."""
    role = settings.DATABASE_APP_ROLE
    connection = connections[using]
    if not _split_roles(using) or not role or connection.settings_dict["USER"] == role:
        return
    quote = connection.ops.quote_name
    app = quote(role)
    audit_tables = ", ".join(quote(t) for t in APPEND_ONLY_TABLES)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        for statement in (
            f"GRANT USAGE ON SCHEMA {schema} TO {app}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
            # Tables the owner creates later (new migrations) get the same.
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT USAGE, SELECT ON SEQUENCES TO {app}",
            f"REVOKE ALL ON {audit_tables} FROM {app}",
            f"GRANT SELECT, INSERT ON {audit_tables} TO {app}",
        ):
            cursor.execute(statement)
