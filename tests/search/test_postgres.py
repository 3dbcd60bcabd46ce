"""PostgreSQL specifics: the generated tsvector columns, their GIN indexes, the configuration."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TABLES = ["messaging_message", "messaging_note", "messaging_topic", "documents_document"]


def _one(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()


@pytest.mark.parametrize("table", TABLES)
def test_each_table_has_a_generated_vector_and_a_gin_index(table):
    generated = _one(
        "SELECT is_generated FROM information_schema.columns "
        "WHERE table_name = %s AND column_name = 'search_vector'",
        [table],
    )
    assert generated == ("ALWAYS",)
    index = _one("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [f"{table}_search_gin"])
    assert index and "USING gin (search_vector)" in index[0]


def test_the_configuration_folds_accents_and_keeps_words_whole():
    vector = _one("SELECT to_tsvector('workspace_search', 'Cocaína LAVADO de activos São')")[0]
    assert vector == "'activos':4 'cocaina':1 'de':3 'lavado':2 'sao':5"


def test_the_search_uses_the_gin_index(world):
    from messaging.services import message_post, topic_create
    from workspace.search import selectors
    from workspace.search.selectors import Kind, SearchFilters, parse_query

    user = world["users"]["member_secret"]
    topic = topic_create(space=world["space"], name="t", acting_user=user)
    message_post(
        space=world["space"], topic=topic, body="cocaína", level=0, tlp="GREEN", acting_user=user
    )
    source = selectors._sources()[Kind.MESSAGE]
    qs = selectors._candidates(
        source, selectors._Visible(user), parse_query("cocaina"), SearchFilters()
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert "messaging_message_search_gin" in qs.explain()
    assert [r["r_kind"] for r in qs] == ["message"]


def test_search_queries_run_without_jit(world):
    from django.test.utils import CaptureQueriesContext

    from workspace.search.selectors import parse_query, search

    with CaptureQueriesContext(connection) as context:
        search(user=world["users"]["member_secret"], query=parse_query("cocaina"))
    assert any("SET LOCAL jit = off" in q["sql"] for q in context.captured_queries)
