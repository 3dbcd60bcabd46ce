"""Full-text search over document titles and descriptions (never file contents).

The same scheme as messaging/migrations/0003_search.py, which creates the PostgreSQL
text search configuration `workspace_search` (unaccent + simple) this one uses: a STORED
generated tsvector column with a GIN index on PostgreSQL, an FTS5 external-content table
kept in step by triggers on SQLite.
"""

import importlib

from django.db import migrations

_messaging = importlib.import_module("messaging.migrations.0003_search")

PG_VECTORS = {
    "documents_document": (
        "to_tsvector('workspace_search'::regconfig, coalesce(title, '') || ' ' "
        "|| coalesce(description, ''))"
    ),
}
SQLITE_COLUMNS = {"documents_document": ["title", "description"]}


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(_messaging.PG_CONFIG)  # idempotent
        statements = _messaging.pg_forward_sql(PG_VECTORS)
    elif vendor == "sqlite":
        statements = _messaging.sqlite_forward_sql(SQLITE_COLUMNS)
    else:
        return
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = _messaging.pg_backward_sql(list(PG_VECTORS))
    elif vendor == "sqlite":
        statements = _messaging.sqlite_backward_sql(list(SQLITE_COLUMNS))
    else:
        return
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0002_upload_session"),
        ("messaging", "0003_search"),
    ]

    operations = [migrations.RunPython(forward, backward)]
