"""Full-text search over topic names, messages and notes (workspace/search).

PostgreSQL: a text search configuration `workspace_search` copies `simple` (no stemming,
no stop words: the text is es/pt/en/fr mixed, and a language-aware stemmer would be wrong
for three of the four) and puts the `unaccent` dictionary in front of it, so "cocaína"
and "cocaina" give the same lexeme on both sides of `@@`. `unaccent()` the function is
only STABLE and cannot appear in a generated column; `to_tsvector(regconfig, text)` with a
constant configuration is IMMUTABLE, so each table gets a STORED generated `tsvector`
column: PostgreSQL recomputes it on every INSERT and UPDATE, whatever writes the row
(services, `QuerySet.update`, bulk SQL), so it cannot go stale. A GIN index serves `@@`.
The columns are not Django fields: Django never writes them (workspace/search reads them).

SQLite: FTS5 tables with external content (the text lives once, in the real table) and
the `unicode61 remove_diacritics 2` tokenizer, which folds accents. Triggers keep each
index in step on INSERT, UPDATE of the searched columns and DELETE (cascades included).
"""

from django.db import migrations, models

PG_CONFIG = """
CREATE EXTENSION IF NOT EXISTS unaccent;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'workspace_search') THEN
    CREATE TEXT SEARCH CONFIGURATION workspace_search (COPY = simple);
    ALTER TEXT SEARCH CONFIGURATION workspace_search
      ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
  END IF;
END
$$;
"""

# table -> SQL expression of the searchable text (only what a member who may see the row
# may read; never file contents).
PG_VECTORS = {
    "messaging_topic": "to_tsvector('workspace_search'::regconfig, coalesce(name, ''))",
    "messaging_message": "to_tsvector('workspace_search'::regconfig, coalesce(body, ''))",
    "messaging_note": (
        "to_tsvector('workspace_search'::regconfig, coalesce(title, '') || ' ' "
        "|| coalesce(summary, '')) || to_tsvector('workspace_search'::regconfig, "
        "coalesce(indicators, '[]'::jsonb))"
    ),
}

# table -> searched columns, in FTS column order.
SQLITE_COLUMNS = {
    "messaging_topic": ["name"],
    "messaging_message": ["body"],
    "messaging_note": ["title", "summary", "indicators"],
}


def pg_forward_sql(vectors: dict[str, str]) -> list[str]:
    statements = []
    for table, expression in vectors.items():
        statements.append(
            f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({expression}) STORED"
        )
        statements.append(f"CREATE INDEX {table}_search_gin ON {table} USING gin (search_vector)")
    return statements


def sqlite_forward_sql(tables: dict[str, list[str]]) -> list[str]:
    statements = []
    for table, columns in tables.items():
        fts = f"{table}_fts"
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        statements += [
            f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', "
            f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
            f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
        ]
    return statements


def pg_backward_sql(tables: list[str]) -> list[str]:
    return [f"ALTER TABLE {t} DROP COLUMN IF EXISTS search_vector" for t in tables]


def sqlite_backward_sql(tables: list[str]) -> list[str]:
    statements = []
    for table in tables:
        fts = f"{table}_fts"
        statements += [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")]
        statements.append(f"DROP TABLE IF EXISTS {fts}")
    return statements


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_CONFIG)
        statements = pg_forward_sql(PG_VECTORS)
    elif schema_editor.connection.vendor == "sqlite":
        statements = sqlite_forward_sql(SQLITE_COLUMNS)
    else:
        return
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        statements = pg_backward_sql(list(PG_VECTORS))
        statements.append("DROP TEXT SEARCH CONFIGURATION IF EXISTS workspace_search")
    elif schema_editor.connection.vendor == "sqlite":
        statements = sqlite_backward_sql(list(SQLITE_COLUMNS))
    else:
        return
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0002_notes")]

    operations = [
        migrations.RunPython(forward, backward),
        # Search results are listed newest first; this index lets PostgreSQL walk messages
        # in that order and stop at the result cap when a term is common.
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["-created_at"], name="message_created_desc"),
        ),
    ]
