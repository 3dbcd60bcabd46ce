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
    from messaging.models import Message

    source = selectors._sources()[Kind.MESSAGE]
    query = parse_query("cocaina")
    qs = selectors._candidates(source, selectors._Visible(user), query.tsquery, SearchFilters())
    # The text condition itself is answered from the GIN index (on a table this small the
    # planner would otherwise pick any index for the access rule's space/level filter).
    match_only = Message.objects.filter(selectors._match(source, query.tsquery))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert "messaging_message_search_gin" in match_only.explain()
    assert [r["r_kind"] for r in qs] == ["message"]


def test_connections_run_without_jit(world):
    """JIT is off for every connection from its startup options: no search plan pays 1-2 s
    of compilation, and no query pays a SET round trip for it."""
    from django.test.utils import CaptureQueriesContext

    from workspace.search.selectors import parse_query, search

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
    with CaptureQueriesContext(connection) as context:
        search(user=world["users"]["member_secret"], query=parse_query("cocaina"))
    assert not any("jit" in q["sql"] for q in context.captured_queries)


@pytest.fixture
def common_words(world):
    from messaging.services import message_post, topic_create

    user = world["users"]["member_secret"]
    topic = topic_create(space=world["space"], name="t", acting_user=user)
    for i in range(30):
        message_post(
            space=world["space"],
            topic=topic,
            body=f"cocaína lote {i}",
            level=i % 4,
            tlp="GREEN",
            acting_user=user,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    return user


def _queries(fn):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        result = fn()
    return result, [q["sql"] for q in context.captured_queries]


def test_a_common_word_walks_the_time_index_with_the_same_results(common_words, monkeypatch):
    from workspace.search import selectors
    from workspace.search.selectors import parse_query, search

    user, query = common_words, parse_query("cocaina")
    monkeypatch.setattr(selectors, "WALK_MIN_SHARE", 2.0)  # never walk
    plain, sqls = _queries(lambda: search(user=user, query=query))
    assert not any("enable_bitmapscan" in q for q in sqls)
    monkeypatch.setattr(selectors, "WALK_MIN_SHARE", 0.0)  # always walk
    walked, sqls = _queries(lambda: search(user=user, query=query))
    assert any("set_config('enable_bitmapscan', 'off', true)" in q for q in sqls)
    assert [h.item_id for h in walked.hits] == [h.item_id for h in plain.hits]
    assert len(plain.hits) == 30  # member_secret sees every level


def test_the_planner_estimate_is_reused_when_the_search_repeats(common_words, monkeypatch):
    """Paging repeats the search: the estimate (from statistics that change only at
    ANALYZE) is asked once per minute per query, and the results stay the same."""
    from workspace.search import selectors
    from workspace.search.selectors import parse_query, search

    selectors._ESTIMATES.clear()
    query = parse_query("cocaina")
    first, sqls = _queries(lambda: search(user=common_words, query=query))
    assert sum(q.startswith("EXPLAIN") for q in sqls) == 1
    again, sqls = _queries(lambda: search(user=common_words, query=query))
    assert not any(q.startswith("EXPLAIN") for q in sqls)
    assert [h.item_id for h in again.hits] == [h.item_id for h in first.hits]
    other, sqls = _queries(lambda: search(user=common_words, query=parse_query("lote")))
    assert sum(q.startswith("EXPLAIN") for q in sqls) == 1  # another query is asked anew
    monkeypatch.setattr(selectors, "monotonic", lambda: 1e12)  # a minute (and more) later
    _, sqls = _queries(lambda: search(user=common_words, query=query))
    assert sum(q.startswith("EXPLAIN") for q in sqls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_walk_in_autocommit_leaves_the_connection_as_it_found_it(monkeypatch):
    """As in a request: the walk's transaction is the whole transaction, and its end
    ends the walk's settings (no round trip to put them back)."""
    from tests.conftest import build_world
    from workspace.search import selectors
    from workspace.search.selectors import Kind, SearchFilters, parse_query

    world = build_world()
    monkeypatch.setattr(selectors, "WALK_MIN_SHARE", 0.0)
    source, query = selectors._sources()[Kind.MESSAGE], parse_query("cocaina")
    part = selectors._candidates(
        source, selectors._Visible(world["users"]["member_secret"]), query.tsquery, SearchFilters()
    )
    assert not connection.in_atomic_block
    _rows, sqls = _queries(
        lambda: selectors._fetch_newest(source, lambda: list(part[:5]), query, SearchFilters())
    )
    assert sum("set_config" in q for q in sqls) == 1
    assert _one("SHOW enable_bitmapscan") == ("on",)
    assert _one("SHOW statement_timeout") == ("0",)


def test_a_walk_that_runs_out_of_time_falls_back_to_the_default_plan(common_words, monkeypatch):
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    from workspace.search import selectors
    from workspace.search.selectors import Kind, SearchFilters, parse_query

    monkeypatch.setattr(selectors, "WALK_MIN_SHARE", 0.0)
    monkeypatch.setattr(selectors, "WALK_TIMEOUT_MS", 5)
    source = selectors._sources()[Kind.MESSAGE]
    query = parse_query("cocaina")
    slow = (
        selectors._candidates(
            source, selectors._Visible(common_words), query.tsquery, SearchFilters()
        )
        .filter(RawSQL("pg_sleep(0.05) IS NOT NULL", [], output_field=BooleanField()))
        .order_by("-r_ts")[:5]
    )
    rows, sqls = _queries(
        lambda: selectors._fetch_newest(source, lambda: list(slow), query, SearchFilters())
    )
    assert len(rows) == 5
    assert any("ROLLBACK TO SAVEPOINT" in q for q in sqls)
    with connection.cursor() as cursor:  # the savepoint took the walk's settings with it
        cursor.execute("SHOW enable_bitmapscan")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_a_successful_walk_restores_the_settings(common_words, monkeypatch):
    """Within the search's transaction: the kinds searched after messages get the usual
    planner and no statement timeout."""
    from django.db import transaction

    from workspace.search import selectors
    from workspace.search.selectors import Kind, SearchFilters, parse_query

    monkeypatch.setattr(selectors, "WALK_MIN_SHARE", 0.0)
    source, query = selectors._sources()[Kind.MESSAGE], parse_query("cocaina")
    part = selectors._candidates(
        source, selectors._Visible(common_words), query.tsquery, SearchFilters()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '7s'")
        rows, sqls = _queries(
            lambda: selectors._fetch_newest(source, lambda: list(part[:5]), query, SearchFilters())
        )
        assert len(rows) == 5
        assert any("set_config('enable_bitmapscan', 'off', true)" in q for q in sqls)
        cursor.execute("SHOW enable_bitmapscan")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "7s"


# --- Reused statements: one SQL per search shape, each search's values bound ----------


@pytest.fixture
def two_groups(world, corpus):
    """Two users whose spaces fall into two clearance groups each, with different values:
    the same statement shape, run for different users."""
    from networks.models import Role
    from networks.services import membership_set

    admin = world["users"]["network_admin"]
    lower = world["users"]["member_restricted"]  # 1 in the space, 3 in the other
    higher = world["users"]["member_confidential"]  # 2 in the space, 0 in the other
    membership_set(
        space=world["other_space"], user=lower, role=Role.MEMBER, clearance=3, acting_user=admin
    )
    membership_set(
        space=world["other_space"], user=higher, role=Role.MEMBER, clearance=0, acting_user=admin
    )
    return lower, higher


def _shown(user, query, filters):
    """The search and its first page as plain values (the snippets' marks are random
    per search, but render as <mark>)."""
    from workspace.search.selectors import page_items, search

    result = search(user=user, query=query, filters=filters)
    items = page_items(
        user=user, query=query, hits=result.hits, visible=result.visible, spaces=result.spaces
    )
    return (
        [(h.kind, h.item_id, h.space_id, h.level) for h in result.hits],
        result.capped,
        [(i.kind, i.item_id, i.space.pk, i.title, i.snippet, i.url, i.level, i.tlp) for i in items],
    )


def _filters(world):
    from datetime import timedelta

    from django.utils import timezone

    from workspace.search.selectors import Kind, SearchFilters

    today = timezone.localdate()
    return [
        SearchFilters(),
        SearchFilters(space_id=world["space"].pk),
        SearchFilters(space_id=world["other_space"].pk),
        SearchFilters(level=0),
        SearchFilters(level=2),
        SearchFilters(date_from=today - timedelta(1), date_to=today),
        SearchFilters(date_to=today - timedelta(1)),
        SearchFilters(kinds=frozenset({Kind.NOTE})),
        SearchFilters(kinds=frozenset({Kind.TOPIC})),
        SearchFilters(kinds=frozenset({Kind.MESSAGE, Kind.DOCUMENT}), level=1),
    ]


@pytest.mark.parametrize(
    "user_key",
    ["member_restricted", "member_confidential", "member_open", "member_expired", "no_mfa"],
)
def test_reused_statements_find_what_freshly_built_querysets_find(
    world, two_groups, monkeypatch, user_key
):
    """Every filter, for users with one and two clearance groups: the reused SQL with this
    user's values shows exactly what the querysets built for this user show."""
    from workspace.search import selectors
    from workspace.search.selectors import parse_query

    user, query = world["users"][user_key], parse_query("cocaina")
    reused = [_shown(user, query, filters) for filters in _filters(world)]
    monkeypatch.setattr(selectors, "_statements", lambda shape: None)
    monkeypatch.setattr(selectors, "_page_statement", lambda kind, groups: None)
    built = [_shown(user, query, filters) for filters in _filters(world)]
    assert reused == built
    assert any(hits for hits, _capped, _items in built) == (user_key != "no_mfa")


def test_a_shape_is_compiled_once_and_run_with_each_users_values(world, two_groups, monkeypatch):
    from workspace.search import selectors
    from workspace.search.selectors import parse_query

    lower, higher = two_groups
    selectors._STATEMENTS.clear()
    selectors._PAGE_STATEMENTS.clear()
    compiled = []
    real_compile = selectors._compile
    monkeypatch.setattr(
        selectors, "_compile", lambda *args: compiled.append(1) or real_compile(*args)
    )
    query = parse_query("cocaina")
    first = _shown(lower, query, selectors.SearchFilters())
    n = len(compiled)
    assert n >= 3  # messages, the other kinds, and at least one kind of the page
    second = _shown(higher, query, selectors.SearchFilters())
    assert first != second
    # The page may show a kind the first page did not; the search compiled nothing new.
    assert len(selectors._STATEMENTS) == 1
    monkeypatch.setattr(selectors, "_statements", lambda shape: None)
    monkeypatch.setattr(selectors, "_page_statement", lambda kind, groups: None)
    assert _shown(higher, query, selectors.SearchFilters()) == second
    assert _shown(lower, query, selectors.SearchFilters()) == first


def test_no_mark_reaches_the_database(world, two_groups):
    """The stand-in user's values only ever shape the SQL: every executed statement
    carries the searching user's own values."""
    from workspace.search import selectors
    from workspace.search.selectors import parse_query

    lower, higher = two_groups
    for user in (lower, higher, lower):
        _result, sqls = _queries(
            lambda user=user: _shown(user, parse_query("cocaina"), selectors.SearchFilters())
        )
        executed = "\n".join(sqls)
        for mark in ("-7100000", "-7300001", "-7000001", "32000", "31999", "\x00"):
            assert mark not in executed
        assert f"= {lower.pk}" in executed if user is lower else f"= {higher.pk}" in executed


def test_a_mark_that_does_not_become_a_parameter_is_never_reused(world, two_groups, monkeypatch):
    """A clearance mark above the level columns' range makes Django drop the comparison
    (it is always true): that SQL would show every level to everybody. It is refused, and
    the search builds its own querysets."""
    from workspace.search import selectors
    from workspace.search.selectors import parse_query

    selectors._STATEMENTS.clear()
    selectors._PAGE_STATEMENTS.clear()
    lower, _higher = two_groups
    query = parse_query("cocaina")
    expected = _shown(lower, query, selectors.SearchFilters())
    selectors._STATEMENTS.clear()
    selectors._PAGE_STATEMENTS.clear()
    monkeypatch.setattr(selectors, "_mark_clearance", lambda i: 40_000 + i)
    shape = selectors._Shape.of(list(selectors._sources().values()), 2, selectors.SearchFilters())
    assert selectors._statements(shape) is None
    assert selectors._page_statement(selectors.Kind.MESSAGE, 2) is None
    assert _shown(lower, query, selectors.SearchFilters()) == expected
    assert not selectors._STATEMENTS and not selectors._PAGE_STATEMENTS
