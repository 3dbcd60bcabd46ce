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
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from time import monotonic
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import BooleanField, CharField, F, IntegerField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from networks.access import filter_member_spaces, filter_visible
from networks.clearance import level_name
from networks.models import Space
from workspace.search.highlight import Sentinels

MAX_QUERY_CHARS = 200
MAX_TERMS = 10
MIN_PREFIX_CHARS = 3  # shorter words match whole words only (a 1-letter prefix is noise)
RESULT_CAP = 200
PAGE_SIZE = 20
TS_CONFIG = "workspace_search"
# PostgreSQL, messages: when the planner expects at least this share of all messages to
# contain the words, walking the created_at index newest first (and stopping at the cap)
# is tried before the default plan, within WALK_TIMEOUT_MS. See _fetch_newest.
WALK_MIN_SHARE = 0.005
WALK_TIMEOUT_MS = 25


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
            "\"messaging_note\".\"summary\" || ' · ' || array_to_string(ARRAY("
            "SELECT jsonb_array_elements_text(\"messaging_note\".\"indicators\")), ' · ')",
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


def _match(source: _Source, query: ParsedQuery) -> RawSQL:
    """The text condition. Identifiers are this module's constants; the user's words are
    always a bound parameter (and tokens of letters and digits only, see ParsedQuery)."""
    table = connection.ops.quote_name(source.table)
    if connection.vendor == "postgresql":
        return RawSQL(  # noqa: S611
            f"{table}.search_vector @@ to_tsquery('{TS_CONFIG}'::regconfig, %s)",
            [query.tsquery],
            output_field=BooleanField(),
        )
    fts = connection.ops.quote_name(f"{source.table}_fts")
    return RawSQL(  # noqa: S611
        f"{table}.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH %s)",  # noqa: S608
        [query.fts5],
        output_field=BooleanField(),
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _candidates(
    source: _Source, visible: _Visible, query: ParsedQuery, filters: SearchFilters
) -> QuerySet:
    conditions: list[Any] = [_match(source, query)]
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
    source: _Source, part: QuerySet, query: ParsedQuery, filters: SearchFilters
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
        return list(part)
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
            rows = list(part)
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
        return list(part)


def searchable_spaces(*, user: Any) -> QuerySet[Space]:
    """The spaces a search may cover: where the user is an active member with MFA."""
    return filter_member_spaces(Space.objects.all(), user, space_ref="pk").order_by("name", "pk")


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
    rows: list[dict[str, Any]] = []
    parts = {
        source.kind: _candidates(source, visible, query, filters).order_by("-r_ts", "-r_id")[
            : RESULT_CAP + 1
        ]
        for source in sources
    }
    if Kind.MESSAGE in parts:
        rows += _fetch_newest(_sources()[Kind.MESSAGE], parts.pop(Kind.MESSAGE), query, filters)
    small = list(parts.values())  # notes, documents, topics: far fewer rows, quick plans
    if len(small) > 1 and connection.features.supports_slicing_ordering_in_compound:
        # PostgreSQL: one round trip. Each part keeps its own ORDER BY and LIMIT inside
        # the UNION ALL, so each is still planned on its own.
        rows += list(small[0].union(*small[1:], all=True))
    else:
        for part in small:
            rows += list(part)
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


def _pg_headlines(source: _Source, query: ParsedQuery, marks: Sentinels) -> dict[str, RawSQL]:
    """PostgreSQL: ts_headline title and text as columns of the page's own query, for
    rows the access rule has just admitted (no separate round trip)."""
    tsq = f"to_tsquery('{TS_CONFIG}'::regconfig, %s)"
    title_opts = f"StartSel={marks.start}, StopSel={marks.stop}, HighlightAll=true"
    text_opts = (
        f"StartSel={marks.start}, StopSel={marks.stop}, MaxWords=30, MinWords=12, "
        'MaxFragments=2, FragmentDelimiter=" … "'
    )
    columns = {}
    if source.pg_title:
        columns["_hl_title"] = RawSQL(  # noqa: S611 (this module's constants; words bound)
            f"ts_headline('{TS_CONFIG}'::regconfig, {source.pg_title}, {tsq}, %s)",
            [query.tsquery, title_opts],
            output_field=CharField(),
        )
    if source.pg_text:
        columns["_hl_text"] = RawSQL(  # noqa: S611
            f"ts_headline('{TS_CONFIG}'::regconfig, {source.pg_text}, {tsq}, %s)",
            [query.tsquery, text_opts],
            output_field=CharField(),
        )
    return columns


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


def _item_fields(kind: Kind, obj: Any) -> tuple[str, str, datetime, int, str]:
    """(plain title, url, time, level, tlp) of one visible row."""
    if kind == Kind.MESSAGE:
        url = reverse("topic_detail", kwargs={"space_id": obj.space_id, "topic_id": obj.topic_id})
        return obj.topic.name, f"{url}#m{obj.pk}", obj.created_at, obj.level, obj.tlp
    if kind == Kind.NOTE:
        url = reverse("note_detail", kwargs={"space_id": obj.space_id, "note_id": obj.pk})
        return obj.title, url, obj.updated_at, obj.level, obj.tlp
    if kind == Kind.DOCUMENT:
        url = reverse("document_detail", kwargs={"document_id": obj.pk})
        return obj.title, url, obj.updated_at, obj.level, obj.tlp
    url = reverse("topic_detail", kwargs={"space_id": obj.space_id, "topic_id": obj.pk})
    return obj.name, url, obj.created_at, 0, ""


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
    sources = _sources()
    visible = visible if visible is not None and visible.user is user else _Visible(user)
    found: dict[tuple[Kind, int], SearchItem] = {}
    postgres = connection.vendor == "postgresql"
    for kind in Kind:
        ids = [h.item_id for h in hits if h.kind == kind]
        if not ids:
            continue
        related = ["topic"] if kind == Kind.MESSAGE else []
        if spaces is None:
            related.append("space")
        rows = visible(kind).filter(pk__in=ids)
        if related:  # select_related() with no names would follow every relation
            rows = rows.select_related(*related)
        if postgres:
            rows = rows.annotate(**_pg_headlines(sources[kind], query, marks))
        objects = {obj.pk: obj for obj in rows}
        if postgres:
            marked = {
                pk: (getattr(obj, "_hl_title", "") or "", getattr(obj, "_hl_text", "") or "")
                for pk, obj in objects.items()
            }
        else:
            marked = _fts_headlines(sources[kind], list(objects), query, marks)
        for pk, obj in objects.items():
            title, url, when, level, tlp = _item_fields(kind, obj)
            title_marked, text_marked = marked.get(pk, ("", ""))
            found[(kind, pk)] = SearchItem(
                kind=kind,
                item_id=pk,
                space=spaces[obj.space_id] if spaces and obj.space_id in spaces else obj.space,
                title=marks.render(title_marked or title),
                snippet=marks.render(text_marked),
                url=url,
                when=when,
                level=level,
                tlp=tlp,
            )
    return [found[(h.kind, h.item_id)] for h in hits if (h.kind, h.item_id) in found]
