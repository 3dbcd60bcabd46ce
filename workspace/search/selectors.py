"""Search reads: the one module that builds full-text queries, for every app and backend.

Every searchable queryset goes through `networks.access` (`filter_visible` for items with
a level and TLP label, `filter_member_spaces` for topic names), and the text match is one
more condition on that same SQL query. Results, counts and facets are computed from the
rows that query returns, and snippets are made only for those rows, so nothing the user
may not see can shape the answer.

Backends:
  * PostgreSQL: STORED generated `search_vector` columns (GIN-indexed) built with the
    `workspace_search` configuration (unaccent + simple), matched by a tsquery built
    here from plain word tokens; snippets by ts_headline.
  * SQLite: FTS5 external-content tables (`<table>_fts`, accent-folding tokenizer) kept
    by triggers; matched by rowid, snippets by FTS5 snippet()/highlight().
Both are created by messaging/migrations/0003_search.py and documents/migrations/0003_search.py.

Results are the newest `RESULT_CAP` matches (newest first in SQL, so PostgreSQL can stop
early on common words); the page groups them by space and type.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from time import monotonic
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import OperationalError, connection, transaction
from django.db.models import BooleanField, CharField, F, IntegerField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from networks.access import (
    REQUEST_CACHE_ATTR,
    clearance_groups,
    filter_member_spaces,
    filter_visible,
)
from networks.clearance import level_name
from networks.models import Space
from workspace.accounts.adapter import MFA_CHECKED_ATTR
from workspace.search.highlight import Sentinels

MAX_QUERY_CHARS = 200
MAX_TERMS = 10
MIN_PREFIX_CHARS = 3  # shorter words match whole words only (a 1-letter prefix is noise)
RESULT_CAP = 200
PAGE_SIZE = 20
TS_CONFIG = "workspace_search"
# PostgreSQL, messages: when the planner expects at least this share of all messages to
# contain the words, walking the created_at index newest first (and stopping at the cap)
# is tried before the default plan, within WALK_TIMEOUT_MS. See _fetch_newest. The timeout
# counts planning too (3-4 ms for this statement): a word in 1.4 % of 1M messages walks
# 41,000 rows in 13-30 ms on a 2-core machine, and 25 ms sent a third of those searches to
# the default plan (70-80 ms) on a slow day (docs/benchmarks.md).
WALK_MIN_SHARE = 0.005
WALK_TIMEOUT_MS = 50


class Kind(StrEnum):
    MESSAGE = "message"
    NOTE = "note"
    DOCUMENT = "document"
    TOPIC = "topic"


KIND_LABELS = {
    Kind.MESSAGE: _("Messages"),
    Kind.NOTE: _("Notes"),
    Kind.DOCUMENT: _("Documents"),
    Kind.TOPIC: _("Topics"),
}
KIND_ORDER = {kind: i for i, kind in enumerate(KIND_LABELS)}


# --- The query ---------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedQuery:
    """Plain word tokens from what the user typed, or a message saying what to change."""

    terms: tuple[str, ...] = ()
    error: str = ""

    @property
    def tsquery(self) -> str:
        """PostgreSQL: each word quoted (tokens hold letters, digits and marks only), AND-ed;
        words of MIN_PREFIX_CHARS or more also match as prefixes ("lavad" → "lavado")."""
        return " & ".join(
            f"'{t}':*" if len(t) >= MIN_PREFIX_CHARS else f"'{t}'" for t in self.terms
        )

    @property
    def fts5(self) -> str:
        """SQLite FTS5: each word as a quoted string (implicit AND), prefixes as above."""
        return " ".join(f'"{t}"*' if len(t) >= MIN_PREFIX_CHARS else f'"{t}"' for t in self.terms)


def _tokens(text: str) -> list[str]:
    """Runs of letters and digits, with combining marks kept inside a word. Everything
    else (operators, quotes, backslashes, NUL and other controls) separates words."""
    tokens: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch.isalnum() or (current and unicodedata.category(ch).startswith("M")):
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def parse_query(raw: str | None) -> ParsedQuery:
    raw = raw or ""
    if len(raw) > MAX_QUERY_CHARS:
        return ParsedQuery(
            error=ngettext(
                "Search for at most %(max)d character.",
                "Search for at most %(max)d characters.",
                MAX_QUERY_CHARS,
            )
            % {"max": MAX_QUERY_CHARS}
        )
    terms = _tokens(unicodedata.normalize("NFKC", raw).lower())
    unique = tuple(dict.fromkeys(terms))
    if len(unique) > MAX_TERMS:
        return ParsedQuery(
            error=ngettext(
                "Search for at most %(max)d word.", "Search for at most %(max)d words.", MAX_TERMS
            )
            % {"max": MAX_TERMS}
        )
    return ParsedQuery(terms=unique)


@dataclass(frozen=True)
class SearchFilters:
    space_id: int | None = None
    kinds: frozenset[Kind] = frozenset()  # empty: every kind
    level: int | None = None
    date_from: date | None = None
    date_to: date | None = None


# --- Sources: one per searchable table, each through networks.access ----------------


@dataclass(frozen=True)
class _Source:
    kind: Kind
    table: str
    ts_field: str
    level_field: str | None
    # PostgreSQL headline texts (SQL over the row), SQLite FTS5 column indexes.
    pg_title: str | None
    pg_text: str | None
    fts_title: int | None
    fts_text: int | None


def _sources() -> dict[Kind, _Source]:
    return {
        # The PostgreSQL headline texts name their table: they become columns of the
        # page's query, which may join other tables with the same column names.
        Kind.MESSAGE: _Source(
            Kind.MESSAGE,
            "messaging_message",
            "created_at",
            "level",
            None,
            '"messaging_message"."body"',
            None,
            0,
        ),
        Kind.NOTE: _Source(
            Kind.NOTE,
            "messaging_note",
            "updated_at",
            "level",
            '"messaging_note"."title"',
            '"messaging_note"."summary" || \' · \' || array_to_string(ARRAY('
            'SELECT jsonb_array_elements_text("messaging_note"."indicators")), \' · \')',
            0,
            -1,
        ),
        Kind.DOCUMENT: _Source(
            Kind.DOCUMENT,
            "documents_document",
            "updated_at",
            "level",
            '"documents_document"."title"',
            '"documents_document"."description"',
            0,
            1,
        ),
        Kind.TOPIC: _Source(
            Kind.TOPIC,
            "messaging_topic",
            "created_at",
            None,
            '"messaging_topic"."name"',
            None,
            0,
            None,
        ),
    }


class _Visible:
    """The rows of each kind the user may see: the access rule, applied in SQL. Built
    once per request and shared by the search and its page of snippets, so the note
    filter that guards note discussions, and each kind's filter, are built once."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self._cache: dict[Kind, QuerySet] = {}

    def __call__(self, kind: Kind) -> QuerySet:
        if kind not in self._cache:
            self._cache[kind] = self._build(kind)
        return self._cache[kind]

    def _build(self, kind: Kind) -> QuerySet:
        from documents.models import Document
        from messaging.models import Message, Note, Topic

        if kind == Kind.NOTE:
            return filter_visible(Note.objects.all(), self.user)
        if kind == Kind.DOCUMENT:
            return filter_visible(Document.objects.all(), self.user)
        # A note's discussion belongs to the note (messaging.selectors.in_visible_discussions,
        # which works per space; this is the same condition across the user's spaces): its
        # topic and messages are found only by those who may see the note.
        notes = self(Kind.NOTE).values("pk")
        in_visible_discussion = Q(note__isnull=True) | Q(note__in=notes)
        if kind == Kind.MESSAGE:
            messages = filter_visible(Message.objects.filter(deleted_at__isnull=True), self.user)
            return messages.filter(topic__in=Topic.objects.filter(in_visible_discussion))
        return filter_member_spaces(Topic.objects.all(), self.user).filter(in_visible_discussion)


def _words(query: ParsedQuery) -> str:
    """The words as this database's full-text engine takes them."""
    return query.tsquery if connection.vendor == "postgresql" else query.fts5


def _match(source: _Source, words: str) -> RawSQL:
    """The text condition. Identifiers are this module's constants; the user's words are
    always a bound parameter (and tokens of letters and digits only, see ParsedQuery)."""
    table = connection.ops.quote_name(source.table)
    if connection.vendor == "postgresql":
        return RawSQL(  # noqa: S611
            f"{table}.search_vector @@ to_tsquery('{TS_CONFIG}'::regconfig, %s)",
            [words],
            output_field=BooleanField(),
        )
    fts = connection.ops.quote_name(f"{source.table}_fts")
    return RawSQL(  # noqa: S611
        f"{table}.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH %s)",  # noqa: S608
        [words],
        output_field=BooleanField(),
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _candidates(source: _Source, visible: _Visible, words: str, filters: SearchFilters) -> QuerySet:
    conditions: list[Any] = [_match(source, words)]
    nothing = False  # a level filter above 0 on a kind with no level (topic names)
    if filters.space_id is not None:
        conditions.append(Q(space_id=filters.space_id))
    if filters.level is not None:
        if source.level_field:
            conditions.append(Q(**{source.level_field: filters.level}))
        else:
            nothing = filters.level != 0
    if filters.date_from is not None:
        conditions.append(Q(**{f"{source.ts_field}__gte": _day_start(filters.date_from)}))
    if filters.date_to is not None:
        conditions.append(
            Q(**{f"{source.ts_field}__lt": _day_start(filters.date_to + timedelta(1))})
        )
    qs = visible(source.kind).filter(*conditions)  # one clone of the visible query
    if nothing:
        qs = qs.none()
    return qs.values(
        r_kind=Value(str(source.kind), output_field=CharField()),
        r_id=F("pk"),
        r_space=F("space_id"),
        r_level=F(source.level_field) if source.level_field else Value(0, IntegerField()),
        r_ts=F(source.ts_field),
    )


# --- Search ------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    kind: Kind
    item_id: int
    space_id: int
    level: int
    when: datetime


@dataclass
class SearchResult:
    hits: list[Hit] = field(default_factory=list)  # grouped: space name, kind, newest first
    capped: bool = False  # there are more matches than RESULT_CAP
    by_kind: Counter = field(default_factory=Counter)
    by_space: Counter = field(default_factory=Counter)
    visible: _Visible | None = field(default=None, repr=False)  # for page_items
    spaces: dict[int, Space] = field(default_factory=dict)


# {(database, table, tsquery): (monotonic expiry, share)}. The estimate comes from the
# table's statistics, which change only when (auto)ANALYZE runs; paging through results
# repeats the same search, so the estimate is reused for a minute.
_ESTIMATES: OrderedDict[tuple[str, str, str], tuple[float, float]] = OrderedDict()
ESTIMATE_TTL_S = 60.0
ESTIMATES_KEPT = 512


def _share_matching(source: _Source, query: ParsedQuery) -> float:
    """PostgreSQL's own estimate (from the GIN statistics) of the share of rows that
    contain the words: one EXPLAIN, no table access; kept for ESTIMATE_TTL_S."""
    key = (str(connection.settings_dict["NAME"]), source.table, query.tsquery)
    now = monotonic()
    cached = _ESTIMATES.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {source.table} "  # noqa: S608
            f"WHERE search_vector @@ to_tsquery('{TS_CONFIG}'::regconfig, %s)",
            [query.tsquery],
        )
        plan = cursor.fetchone()[0]
        matching = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [source.table])
        total = cursor.fetchone()[0]
    share = float(matching) / total if total and total > 0 else 0.0
    _ESTIMATES[key] = (now + ESTIMATE_TTL_S, share)
    _ESTIMATES.move_to_end(key)
    while len(_ESTIMATES) > ESTIMATES_KEPT:
        _ESTIMATES.popitem(last=False)
    return share


def _fetch_newest(
    source: _Source,
    fetch: Callable[[], list[dict[str, Any]]],
    query: ParsedQuery,
    filters: SearchFilters,
) -> list[dict[str, Any]]:
    """Run one kind's capped, newest-first query.

    PostgreSQL's default plan reads every match through the GIN index, applies the access
    rule's per-row subqueries to each, then sorts: right for rare words, slow for words in
    a few percent of a million messages (14k matches: 40-80 ms). Walking the created_at
    index newest first checks the words before the subqueries and stops at the cap (about
    12 ms there), but is hopeless for rare words. The planner overrates the walk, so for
    messages with no narrowing filter, when its own estimate says the words are common
    enough, the walk is tried under a short statement timeout in a savepoint; if that
    runs out (the user sees few of the matches, say), the default plan runs as before.
    """
    narrowed = filters.space_id or filters.level is not None or filters.date_from or filters.date_to
    if (
        connection.vendor != "postgresql"
        or source.kind != Kind.MESSAGE
        or narrowed
        or _share_matching(source, query) < WALK_MIN_SHARE
    ):
        return fetch()
    # In autocommit (a request) this atomic block is the whole transaction, and its end
    # ends the local settings. Inside a caller's transaction it is a savepoint, and the
    # settings would outlive it: they are put back by hand.
    outermost = not connection.in_atomic_block
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # One round trip: the current values are read, then replaced.
            cursor.execute(
                "SELECT current_setting('enable_bitmapscan'), "
                "current_setting('statement_timeout'), "
                "set_config('enable_bitmapscan', 'off', true), "
                "set_config('statement_timeout', %s, true)",
                [str(int(WALK_TIMEOUT_MS))],
            )
            bitmapscan, timeout = cursor.fetchone()[:2]
            rows = fetch()
            if not outermost:
                cursor.execute(
                    "SELECT set_config('enable_bitmapscan', %s, true), "
                    "set_config('statement_timeout', %s, true)",
                    [bitmapscan, timeout],
                )
        return rows
    except OperationalError as error:  # the timeout; the savepoint undid both settings
        from psycopg.errors import QueryCanceled

        if not isinstance(error.__cause__, QueryCanceled):
            raise
        return fetch()


def searchable_spaces(*, user: Any) -> QuerySet[Space]:
    """The spaces a search may cover: where the user is an active member with MFA."""
    return filter_member_spaces(Space.objects.all(), user, space_ref="pk").order_by("name", "pk")


def _querysets(
    sources: list[_Source], visible: _Visible, words: str, filters: SearchFilters
) -> tuple[QuerySet | None, list[QuerySet]]:
    """(messages, [the other kinds]): each kind newest first with its own LIMIT. On
    PostgreSQL the other kinds (far fewer rows, quick plans) are one UNION ALL, one round
    trip, each part keeping its own ORDER BY and LIMIT so each is planned on its own."""
    parts = {
        source.kind: _candidates(source, visible, words, filters).order_by("-r_ts", "-r_id")[
            : RESULT_CAP + 1
        ]
        for source in sources
    }
    messages = parts.pop(Kind.MESSAGE, None)
    small = list(parts.values())
    if len(small) > 1 and connection.features.supports_slicing_ordering_in_compound:
        small = [small[0].union(*small[1:], all=True)]
    return messages, small


# --- Reused statements (PostgreSQL) ------------------------------------------------
#
# Building and compiling the four kinds' access-filtered querysets takes Django about
# 10 ms of CPU per search, more than PostgreSQL needs for a rare word. On PostgreSQL the
# SQL depends only on the search's shape: the kinds, which filters are set, and how many
# clearance groups the user's spaces fall into (networks.access.clearance_groups). The
# user's id, clearances and space ids (one array per group), the words and the filter
# values are all bound parameters. So each shape is built once per process, through the
# same networks.access filters, for a stand-in user whose values are marks that no real
# row has; the marks' positions among the parameters are recorded, and each search
# runs that SQL with its own values in those positions.

# Ids are negative (no row has one). Levels must stay within the level columns' range
# (PositiveSmallIntegerField): Django drops or empties a comparison with a value outside
# it, and _compile refuses any statement where a mark did not become a parameter.
_MARK_USER = -7_300_001
_MARK_WORDS = "\x00words\x00"
_MARK_SPACE_FILTER = -7_300_002
_MARK_LEVEL_FILTER = 31_999
_MARK_FROM = date(1901, 2, 3)
_MARK_TO = date(1902, 3, 4)


def _mark_clearance(i: int) -> int:
    return 32_000 + i  # ascending, as clearance_groups orders the groups


def _mark_space(i: int) -> int:
    return -7_100_000 + i


def _key(value: Any) -> Hashable:
    """A parameter as a dict key: lists (id arrays) by content, the rest with their type
    (so that 1 and True, or a date and a datetime, never meet)."""
    if isinstance(value, list):
        return ("array", tuple(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return ("int", int(value))  # also psycopg's Int2 and Int4, which Django binds
    return (type(value).__name__, value)


class _StandIn:
    """A user made of marks, with MFA and one space per clearance group."""

    is_authenticated = True
    is_active = True

    def __init__(self, groups: int) -> None:
        self.pk = self.id = _MARK_USER
        setattr(self, MFA_CHECKED_ATTR, True)
        setattr(
            self,
            REQUEST_CACHE_ATTR,
            {"clearances": [(_mark_space(i), _mark_clearance(i)) for i in range(groups)]},
        )


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, Hashable], ...]  # (position in params, mark key)

    def run(self, values: dict[Hashable, Any]) -> list[dict[str, Any]]:
        params = list(self.params)
        for position, key in self.slots:
            value, mark = values[key], self.params[position]
            # Bound as the mark was (Django binds small integers as psycopg's Int2).
            params[position] = type(mark)(value) if isinstance(mark, int) else value
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class _Shape:
    database: str
    kinds: tuple[Kind, ...]
    groups: int
    space_filter: bool
    level_filter: int | None  # None: no filter; 0: level 0; 1: any other level
    date_from: bool
    date_to: bool

    @classmethod
    def of(cls, sources: list[_Source], groups: int, filters: SearchFilters) -> _Shape:
        level = None if filters.level is None else (0 if filters.level == 0 else 1)
        return cls(
            database=str(connection.settings_dict["NAME"]),
            kinds=tuple(source.kind for source in sources),
            groups=groups,
            space_filter=filters.space_id is not None,
            level_filter=level,
            date_from=filters.date_from is not None,
            date_to=filters.date_to is not None,
        )

    def marks(self) -> SearchFilters:
        """Filters with a mark for each value that is a parameter."""
        return SearchFilters(
            space_id=_MARK_SPACE_FILTER if self.space_filter else None,
            kinds=frozenset(self.kinds),
            level={None: None, 0: 0, 1: _MARK_LEVEL_FILTER}[self.level_filter],
            date_from=_MARK_FROM if self.date_from else None,
            date_to=_MARK_TO if self.date_to else None,
        )


def _date_bounds(filters: SearchFilters) -> tuple[datetime | None, datetime | None]:
    """The datetimes _candidates compares with, for a filter's dates."""
    start = _day_start(filters.date_from) if filters.date_from else None
    end = _day_start(filters.date_to + timedelta(1)) if filters.date_to else None
    return start, end


def _required_marks(groups: int) -> dict[Hashable, bool]:
    """{mark key: whether every statement must carry it} for the user and the words."""
    marks: dict[Hashable, bool] = {_key(_MARK_USER): True, _key(_MARK_WORDS): True}
    for i in range(groups):
        marks[_key(_mark_clearance(i))] = True
        marks[_key([_mark_space(i)])] = True
    marks[_key([_mark_space(i) for i in range(groups)])] = False  # topic names: all spaces
    return marks


def _base_values(
    user_pk: int, groups: list[tuple[int, list[int]]], words: str
) -> dict[Hashable, Any]:
    """{mark key: value} for the user and the words (see _required_marks)."""
    values: dict[Hashable, Any] = {_key(_MARK_USER): user_pk, _key(_MARK_WORDS): words}
    for i, (clearance, space_ids) in enumerate(groups):
        values[_key(_mark_clearance(i))] = clearance
        values[_key([_mark_space(i)])] = list(space_ids)
    every_space = [space_id for _clearance, space_ids in groups for space_id in space_ids]
    values[_key([_mark_space(i) for i in range(len(groups))])] = every_space
    return values


@dataclass(frozen=True)
class _Reusable:
    messages: _Statement | None  # None: messages are not searched
    small: _Statement | None  # the other kinds; None: only messages are searched
    date_marks: tuple[datetime | None, datetime | None]  # as _candidates bound them

    def values(
        self,
        user_pk: int,
        groups: list[tuple[int, list[int]]],
        words: str,
        filters: SearchFilters,
    ) -> dict[Hashable, Any]:
        """{mark key: this search's value}."""
        values = _base_values(user_pk, groups, words)
        values[_key(_MARK_SPACE_FILTER)] = filters.space_id
        values[_key(_MARK_LEVEL_FILTER)] = filters.level
        for mark, value in zip(self.date_marks, _date_bounds(filters), strict=True):
            if mark is not None:
                values[_key(mark)] = value
        return values


_STATEMENTS: dict[_Shape, _Reusable] = {}
STATEMENTS_KEPT = 256


def _compile(queryset: QuerySet | None, marks: dict[Hashable, bool]) -> _Statement | None:
    """The queryset's SQL with the positions of the marks (`marks`: whether each must be
    there); _NotReusable if a required mark did not become a parameter."""
    if queryset is None:
        return None
    try:
        sql, params = queryset.query.get_compiler(connection=connection).as_sql()
    except EmptyResultSet:
        # Nothing to reuse (topic names under a level filter); the querysets say so.
        raise _NotReusable from None
    slots = tuple((i, _key(p)) for i, p in enumerate(params) if _key(p) in marks)
    found = {key for _position, key in slots}
    required = {key for key, value in marks.items() if value}
    if not required <= found:
        # The rule did not bind every value of the shape as a parameter: this SQL cannot
        # be reused for another user. Never expected; the caller falls back.
        raise _NotReusable
    return _Statement(sql, tuple(params), slots)


class _NotReusable(Exception):
    pass


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """Store a built statement; a cache that outgrew STATEMENTS_KEPT starts over (the
    shapes in use are few: kinds × filters × clearance groups)."""
    if len(cache) >= STATEMENTS_KEPT:
        cache.clear()
    cache[key] = value
    return value


def _statements(shape: _Shape) -> _Reusable | None:
    """The shape's two statements, built on first use; None if they cannot be reused."""
    if shape in _STATEMENTS:
        return _STATEMENTS[shape]
    stand_in = _StandIn(shape.groups)
    marks_filters = shape.marks()
    messages, small = _querysets(
        [source for kind, source in _sources().items() if kind in shape.kinds],
        _Visible(stand_in),
        _MARK_WORDS,
        marks_filters,
    )
    # The marks every statement must carry (True), and those it may (False).
    marks = _required_marks(shape.groups)
    marks[_key(_MARK_SPACE_FILTER)] = False
    marks[_key(_MARK_LEVEL_FILTER)] = False
    for bound in _date_bounds(marks_filters):
        if bound is not None:
            marks[_key(bound)] = False
    try:
        built = _Reusable(
            messages=_compile(messages, marks),
            small=_compile(small[0] if small else None, marks),
            date_marks=_date_bounds(marks_filters),
        )
    except _NotReusable:
        return None
    return _keep(_STATEMENTS, shape, built)


def _fetchers(
    user: Any, sources: list[_Source], visible: _Visible, words: str, filters: SearchFilters
) -> tuple[Callable[[], list[dict[str, Any]]] | None, Callable[[], list[dict[str, Any]]]]:
    """(fetch messages, fetch the other kinds): reused statements on PostgreSQL, else the
    querysets built for this search."""
    if connection.vendor == "postgresql":
        groups = clearance_groups(user)
        if not groups:
            return None, list
        shape = _Shape.of(sources, len(groups), filters)
        reusable = _statements(shape)
        if reusable is not None:
            values = reusable.values(user.pk, groups, words, filters)
            messages, small = reusable.messages, reusable.small
            return (
                (lambda: messages.run(values)) if messages is not None else None,
                (lambda: small.run(values)) if small is not None else list,
            )
    messages_qs, small_qs = _querysets(sources, visible, words, filters)
    return (
        (lambda: list(messages_qs)) if messages_qs is not None else None,
        lambda: [row for part in small_qs for row in part],
    )


def search(
    *, user: Any, query: ParsedQuery, filters: SearchFilters = SearchFilters()
) -> SearchResult:
    """The newest RESULT_CAP visible matches, with counts per kind and per space.

    One query per kind, each newest first with its own LIMIT, merged here: PostgreSQL
    plans each on its own, so for a common word it walks the messages' created_at index
    and stops at the cap instead of sorting every match (a UNION ALL under one ORDER BY
    made it read and sort all of them).
    """
    if not query.terms or query.error:
        return SearchResult()
    sources = [s for kind, s in _sources().items() if not filters.kinds or kind in filters.kinds]
    visible = _Visible(user)
    fetch_messages, fetch_small = _fetchers(user, sources, visible, _words(query), filters)
    rows: list[dict[str, Any]] = []
    if fetch_messages is not None:
        rows += _fetch_newest(_sources()[Kind.MESSAGE], fetch_messages, query, filters)
    rows += fetch_small()
    rows.sort(key=lambda r: (r["r_ts"], r["r_id"]), reverse=True)
    hits = [
        Hit(
            kind=Kind(r["r_kind"]),
            item_id=r["r_id"],
            space_id=r["r_space"],
            level=r["r_level"],
            when=r["r_ts"],
        )
        for r in rows[:RESULT_CAP]
    ]
    spaces = Space.objects.in_bulk({h.space_id for h in hits})
    hits.sort(
        key=lambda h: (spaces[h.space_id].name, h.space_id, KIND_ORDER[h.kind], -h.when.timestamp())
    )
    return SearchResult(
        hits=hits,
        capped=len(rows) > RESULT_CAP,
        by_kind=Counter(h.kind for h in hits),
        by_space=Counter(h.space_id for h in hits),
        spaces=spaces,
        visible=visible,
    )


# --- One page of results, with snippets --------------------------------------------


@dataclass(frozen=True)
class SearchItem:
    kind: Kind
    item_id: int
    space: Space
    title: SafeString
    snippet: SafeString
    url: str
    when: datetime
    level: int
    tlp: str

    @property
    def level_name(self) -> str:
        return level_name(self.level)


def _pg_headlines(
    source: _Source, words: str, title_options: str, text_options: str
) -> dict[str, RawSQL]:
    """PostgreSQL: ts_headline title and text as columns of the page's own query, for
    rows the access rule has just admitted (no separate round trip)."""
    tsq = f"to_tsquery('{TS_CONFIG}'::regconfig, %s)"
    columns = {}
    if source.pg_title:
        columns["_hl_title"] = RawSQL(  # noqa: S611 (this module's constants; words bound)
            f"ts_headline('{TS_CONFIG}'::regconfig, {source.pg_title}, {tsq}, %s)",
            [words, title_options],
            output_field=CharField(),
        )
    if source.pg_text:
        columns["_hl_text"] = RawSQL(  # noqa: S611
            f"ts_headline('{TS_CONFIG}'::regconfig, {source.pg_text}, {tsq}, %s)",
            [words, text_options],
            output_field=CharField(),
        )
    return columns


def _headline_options(marks: Sentinels) -> tuple[str, str]:
    """(title, text) ts_headline options with this search's sentinels."""
    title = f"StartSel={marks.start}, StopSel={marks.stop}, HighlightAll=true"
    text = (
        f"StartSel={marks.start}, StopSel={marks.stop}, MaxWords=30, MinWords=12, "
        'MaxFragments=2, FragmentDelimiter=" … "'
    )
    return title, text


def _fts_headlines(
    source: _Source, ids: list[int], query: ParsedQuery, marks: Sentinels
) -> dict[int, tuple[str, str]]:
    """SQLite: {id: (title, text)} with matches between sentinels, for rows already found
    visible (FTS5 highlight() and snippet() work only in a MATCH query of their own)."""
    if not ids:
        return {}
    fts = f"{source.table}_fts"
    title = (
        f"highlight({fts}, {source.fts_title}, %s, %s)" if source.fts_title is not None else "''"
    )
    text = (
        f"snippet({fts}, {source.fts_text}, %s, %s, ' … ', 24)"
        if source.fts_text is not None
        else "''"
    )
    params: list[Any] = []
    if source.fts_title is not None:
        params += [marks.start, marks.stop]
    if source.fts_text is not None:
        params += [marks.start, marks.stop]
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rowid, {title}, {text} FROM {fts} "  # noqa: S608
            f"WHERE {fts} MATCH %s AND rowid IN ({placeholders})",
            [*params, query.fts5, *ids],
        )
        return {row[0]: (row[1] or "", row[2] or "") for row in cursor.fetchall()}


_PAGE_COLUMNS: dict[Kind, dict[str, Any]] = {
    Kind.MESSAGE: {
        "r_title": F("topic__name"),
        "r_topic": F("topic_id"),
        "r_ts": F("created_at"),
        "r_level": F("level"),
        "r_tlp": F("tlp"),
    },
    Kind.NOTE: {
        "r_title": F("title"),
        "r_ts": F("updated_at"),
        "r_level": F("level"),
        "r_tlp": F("tlp"),
    },
    Kind.DOCUMENT: {
        "r_title": F("title"),
        "r_ts": F("updated_at"),
        "r_level": F("level"),
        "r_tlp": F("tlp"),
    },
    Kind.TOPIC: {"r_title": F("name"), "r_ts": F("created_at")},
}


def _page_queryset(
    source: _Source,
    visible: _Visible,
    ids: list[int],
    words: str,
    headline_options: tuple[str, str],
) -> QuerySet:
    """One kind's rows of the page, re-read through the access rule, as dicts; on
    PostgreSQL with their ts_headline snippets."""
    columns = {"r_id": F("pk"), "r_space": F("space_id"), **_PAGE_COLUMNS[source.kind]}
    if connection.vendor != "postgresql":
        return visible(source.kind).filter(pk__in=ids).values(**columns)
    table = connection.ops.quote_name(source.table)
    in_page = RawSQL(  # noqa: S611 (this module's constant; the ids are one array parameter)
        f"{table}.id = ANY(%s::bigint[])", [ids], output_field=BooleanField()
    )
    columns |= _pg_headlines(source, words, *headline_options)
    return visible(source.kind).filter(in_page).values(**columns)


_MARK_IDS = [-7_000_001]
_MARK_TITLE_OPTIONS = "\x00title options\x00"
_MARK_TEXT_OPTIONS = "\x00text options\x00"
_PAGE_STATEMENTS: dict[tuple[str, Kind, int], _Statement] = {}


def _page_statement(kind: Kind, groups: int) -> _Statement | None:
    """The page query of one kind for users with this many clearance groups (PostgreSQL),
    built once per process as the search's statements are."""
    key = (str(connection.settings_dict["NAME"]), kind, groups)
    if key in _PAGE_STATEMENTS:
        return _PAGE_STATEMENTS[key]
    source = _sources()[kind]
    queryset = _page_queryset(
        source,
        _Visible(_StandIn(groups)),
        _MARK_IDS,
        _MARK_WORDS,
        (_MARK_TITLE_OPTIONS, _MARK_TEXT_OPTIONS),
    )
    marks = _required_marks(groups)
    marks[_key(_MARK_IDS)] = True
    marks[_key(_MARK_TITLE_OPTIONS)] = bool(source.pg_title)
    marks[_key(_MARK_TEXT_OPTIONS)] = bool(source.pg_text)
    try:
        statement = _compile(queryset, marks)
    except _NotReusable:
        return None
    return _keep(_PAGE_STATEMENTS, key, statement)


def _item_url(kind: Kind, row: dict[str, Any]) -> str:
    if kind == Kind.MESSAGE:
        url = reverse(
            "topic_detail", kwargs={"space_id": row["r_space"], "topic_id": row["r_topic"]}
        )
        return f"{url}#m{row['r_id']}"
    if kind == Kind.NOTE:
        return reverse("note_detail", kwargs={"space_id": row["r_space"], "note_id": row["r_id"]})
    if kind == Kind.DOCUMENT:
        return reverse("document_detail", kwargs={"document_id": row["r_id"]})
    return reverse("topic_detail", kwargs={"space_id": row["r_space"], "topic_id": row["r_id"]})


def page_items(
    *,
    user: Any,
    query: ParsedQuery,
    hits: list[Hit],
    visible: _Visible | None = None,
    spaces: dict[int, Space] | None = None,
) -> list[SearchItem]:
    """The hits of one page as display items: each row is read again through the access
    rule (an item deleted or hidden since the search is simply left out), then its
    snippet is made from that row's own text. Pass the search's `result.visible` to
    reuse its filters, and its `result.spaces` to reuse the spaces it read."""
    if not hits:
        return []
    marks = Sentinels()
    options = _headline_options(marks)
    sources = _sources()
    visible = visible if visible is not None and visible.user is user else _Visible(user)
    postgres = connection.vendor == "postgresql"
    words = _words(query)
    groups = clearance_groups(user) if postgres else []
    rows: dict[Kind, list[dict[str, Any]]] = {}
    for kind in Kind:
        ids = [h.item_id for h in hits if h.kind == kind]
        if not ids:
            continue
        statement = _page_statement(kind, len(groups)) if groups else None
        if statement is not None:
            values = _base_values(user.pk, groups, words)
            values[_key(_MARK_IDS)] = ids
            values[_key(_MARK_TITLE_OPTIONS)], values[_key(_MARK_TEXT_OPTIONS)] = options
            rows[kind] = statement.run(values)
        else:
            rows[kind] = list(_page_queryset(sources[kind], visible, ids, words, options))
    wanted = {row["r_space"] for kind_rows in rows.values() for row in kind_rows}
    if spaces is None or not wanted <= spaces.keys():
        spaces = Space.objects.in_bulk(wanted)
    found: dict[tuple[Kind, int], SearchItem] = {}
    for kind, kind_rows in rows.items():
        if postgres:
            marked = {
                row["r_id"]: (row.get("_hl_title") or "", row.get("_hl_text") or "")
                for row in kind_rows
            }
        else:
            marked = _fts_headlines(sources[kind], [row["r_id"] for row in kind_rows], query, marks)
        for row in kind_rows:
            title_marked, text_marked = marked.get(row["r_id"], ("", ""))
            found[(kind, row["r_id"])] = SearchItem(
                kind=kind,
                item_id=row["r_id"],
                space=spaces[row["r_space"]],
                title=marks.render(title_marked or row["r_title"]),
                snippet=marks.render(text_marked),
                url=_item_url(kind, row),
                when=row["r_ts"],
                level=row.get("r_level", 0),
                tlp=row.get("r_tlp", ""),
            )
    return [found[(h.kind, h.item_id)] for h in hits if (h.kind, h.item_id) in found]
