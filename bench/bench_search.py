"""Access-aware full-text search on PostgreSQL, next to a primary-key lookup in the same run.

N messages (default 1,000,000) across 50 spaces at mixed levels, 5 % of them TLP:RED; the
searcher is an active member of 25 spaces at CONFIDENTIAL, so about a third of the
messages are visible to them. Bodies are 12 words drawn from a 5,000-word vocabulary with
a Zipf-like (1/k) distribution, so word frequency falls off as in real text; three words
stand in for common (≈13 % of messages), medium (≈1.4 %) and rare (≈0.05 %) terms. The
common word is stored accented ("cocaína") and searched without the accent.

Each timed search is what the page does: `workspace.search.selectors.search` (the newest
matches the user may see, with counts per kind and space) plus `page_items` for the first
page (rows re-read through the access rule, ts_headline snippets). Goal: p95 <= 50 ms.

    BENCH_SEARCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/workspace_bench_search \\
        .venv/bin/python bench/bench_search.py [--messages 1000000] [--rounds 200] [--explain]

The database is dedicated to this benchmark: it is created when missing and recreated
when it holds a different number of messages (seeding 1M rows takes a few minutes, by
INSERT … SELECT over generate_series; the GIN index is built after the load). Without a
PostgreSQL URL (BENCH_SEARCH_DATABASE_URL, or DATABASE_URL) the benchmark says so and
skips. BENCH_SEARCH_MESSAGES sets N too.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
SPACES = 50
MEMBER_OF = 25  # every other space
CLEARANCE = 2  # CONFIDENTIAL: levels 0..2 of 0..3
VOCABULARY = 5000
WORDS_PER_MESSAGE = 12
TERMS = {
    "common": (10, "cocaína", "cocaina"),
    "medium": (100, "contenedor", "contenedor"),
    "rare": (3000, "semisumergible", "semisumergible"),
}  # rank, stored, searched


def _database_url() -> str | None:
    url = os.environ.get("BENCH_SEARCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url or not url.startswith(("postgres://", "postgresql://")):
        return None
    if not os.environ.get("BENCH_SEARCH_DATABASE_URL"):
        # A shared DATABASE_URL: use a sibling database, never the application's own.
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(path="/workspace_bench_search"))
    return url


def _ensure_database(url: str, messages: int) -> None:
    """Create the dedicated database, or recreate it when it holds another N."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists:
        try:
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM messaging_message m JOIN networks_space s "
                    "ON s.id = m.space_id JOIN networks_network n ON n.id = s.network_id "
                    "WHERE n.slug = 'bench-search'"
                ).fetchone()
            if row and row[0] == messages:
                return
        except psycopg.Error:
            pass
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup(url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("WORKSPACE_DATA_DIR", tempfile.mkdtemp(prefix="bench-search-"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(messages: int) -> None:
    from django.db import connection, transaction

    from messaging.models import Message, Topic
    from networks.models import Network, Role, Space
    from networks.services import membership_set
    from tests.factories import UserFactory

    if Network.objects.filter(slug="bench-search").exists():
        print(f"  reusing the seeded database ({messages:,} messages)", flush=True)
        return
    started = time.perf_counter()
    with transaction.atomic():
        network = Network.objects.create(name="Bench search", slug="bench-search")
        admin = UserFactory(email="admin@bench.example", mfa=True)
        network.admins.add(admin)
        author = UserFactory(email="author@bench.example", mfa=True)
        searcher = UserFactory(email="searcher@bench.example", mfa=True)
        spaces = Space.objects.bulk_create(
            Space(network=network, name=f"Working group {i:02d}", slug=f"wg-{i:02d}")
            for i in range(SPACES)
        )
        for i, space in enumerate(spaces):
            membership_set(
                space=space, user=author, role=Role.MEMBER, clearance=3, acting_user=admin
            )
            if i % 2 == 0:
                membership_set(
                    space=space,
                    user=searcher,
                    role=Role.MEMBER,
                    clearance=CLEARANCE,
                    acting_user=admin,
                )
        topics = Topic.objects.bulk_create(
            Topic(space=space, name=f"Discussion {i}", created_by=author)
            for i, space in enumerate(spaces)
        )
    space_ids = [s.pk for s in spaces]
    topic_ids = [t.pk for t in topics]
    words = {rank: stored for rank, stored, _ in TERMS.values()}
    # The word of rank k: a few real words (accented or not) and synthetic ones.
    word_sql = "CASE k " + " ".join(f"WHEN {k} THEN '{w}'" for k, w in words.items())
    word_sql += " ELSE 'w' || k || 'x' END"
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("DROP INDEX IF EXISTS messaging_message_search_gin")
        cursor.execute("SELECT setseed(0.42)")
        batch = 100_000
        for start in range(0, messages, batch):
            stop = min(messages, start + batch)
            # The body subquery refers to i, so it is evaluated per row.
            cursor.execute(
                f"""
                INSERT INTO messaging_message
                  (space_id, topic_id, author_id, body, rendered_html, level, tlp, client_id,
                   seq, created_at)
                SELECT (%(spaces)s::bigint[])[1 + i %% {SPACES}],
                       (%(topics)s::bigint[])[1 + i %% {SPACES}],
                       %(author)s,
                       (SELECT string_agg({word_sql}, ' ')
                          FROM (SELECT floor(exp(random() * ln({VOCABULARY})))::int AS k
                                  FROM generate_series(1, {WORDS_PER_MESSAGE}) WHERE i > 0) w),
                       '',
                       floor(random() * 4)::int,
                       CASE WHEN random() < 0.05 THEN 'RED' ELSE 'GREEN' END,
                       gen_random_uuid(),
                       i,
                       now() - make_interval(secs => %(n)s - i)
                  FROM generate_series(%(lo)s, %(hi)s) AS i
                """,  # noqa: S608 (constants of this script only)
                {
                    "spaces": space_ids,
                    "topics": topic_ids,
                    "author": author.pk,
                    "lo": start + 1,
                    "hi": stop,
                    "n": messages,
                },
            )
            print(
                f"  seeded {stop:,} / {messages:,} messages "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        cursor.execute(
            "CREATE INDEX messaging_message_search_gin ON messaging_message "
            "USING gin (search_vector)"
        )
        print(f"  GIN index built ({time.perf_counter() - started:.0f} s)", flush=True)
        cursor.execute("VACUUM ANALYZE messaging_message")
    assert Message.objects.count() >= messages
    print(f"  seeding done in {time.perf_counter() - started:.0f} s", flush=True)


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    default_n = int(os.environ.get("BENCH_SEARCH_MESSAGES", "1000000"))
    parser.add_argument("--messages", type=int, default=default_n)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    url = _database_url()
    if url is None:
        print(
            "search: skipped (needs PostgreSQL: set BENCH_SEARCH_DATABASE_URL or "
            "DATABASE_URL=postgres://…)"
        )
        return 0
    _ensure_database(url, args.messages)
    _setup(url)
    print(f"search [postgresql]: {args.messages:,} messages, {SPACES} spaces", flush=True)
    _seed(args.messages)

    from django.db import connection

    from messaging.models import Message
    from networks.access import REQUEST_CACHE_ATTR, filter_visible
    from workspace.accounts.adapter import MFA_CHECKED_ATTR, user_has_mfa
    from workspace.accounts.models import User
    from workspace.search.selectors import page_items, parse_query, search

    searcher = User.objects.get(email="searcher@bench.example")
    total = Message.objects.count()
    visible = filter_visible(Message.objects.all(), searcher).count()
    print(
        f"  the searcher may see {visible:,} of {total:,} messages ({100 * visible / total:.1f} %)"
    )

    def run(q: str) -> int:
        # As in a request: RequireMFAMiddleware checks MFA once and keeps the answer on
        # that request's user object, which the access checks then reuse.
        searcher.__dict__.pop(MFA_CHECKED_ATTR, None)
        setattr(searcher, MFA_CHECKED_ATTR, user_has_mfa(searcher))
        setattr(searcher, REQUEST_CACHE_ATTR, {})  # and networks.access's per-request cache
        query = parse_query(q)
        result = search(user=searcher, query=query)
        page_items(
            user=searcher,
            query=query,
            hits=result.hits[:20],
            visible=result.visible,
            spaces=result.spaces,
        )
        return len(result.hits)

    with connection.cursor() as cursor:
        for label, (_, _, searched) in TERMS.items():
            cursor.execute(
                "SELECT count(*) FROM messaging_message WHERE search_vector @@ "
                "to_tsquery('workspace_search'::regconfig, %s)",
                [parse_query(searched).tsquery],
            )
            matching = cursor.fetchone()[0]
            print(
                f"  {label:6} term {searched!r}: {matching:,} messages contain it "
                f"({100 * matching / total:.2f} %), {run(searched)} results shown (cap)"
            )
    if args.explain:
        from workspace.search import selectors

        for label, (_, _, searched) in TERMS.items():
            query = parse_query(searched)
            parts = [
                selectors._candidates(
                    s, selectors._Visible(searcher), query.tsquery, selectors.SearchFilters()
                )
                for s in selectors._sources().values()
            ]
            qs = parts[0].union(*parts[1:], all=True).order_by("-r_ts", "-r_id")
            print(f"--- plan, {label} ---")
            print(qs[: selectors.RESULT_CAP + 1].explain(analyze=True))

    ids = list(Message.objects.order_by("?").values_list("pk", flat=True)[:1000])
    rng = random.Random(7)
    timings: dict[str, list[float]] = {label: [] for label in TERMS}
    timings["pk lookup"] = []
    for _ in range(5):  # warm up
        for _, _, searched in TERMS.values():
            run(searched)
    for _ in range(args.rounds):
        for label, (_, _, searched) in TERMS.items():
            started = time.perf_counter()
            run(searched)
            timings[label].append(time.perf_counter() - started)
        started = time.perf_counter()
        Message.objects.get(pk=rng.choice(ids))
        timings["pk lookup"].append(time.perf_counter() - started)
    pk50, pk95, pk99 = _percentiles(timings["pk lookup"])
    print(f"  {'':10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p95 / pk p95':>13}")
    for label, samples in timings.items():
        p50, p95, p99 = _percentiles(samples)
        print(f"  {label:10} {p50:8.2f} {p95:8.2f} {p99:8.2f} {p95 / pk95:12.1f}x")
    worst = max(_percentiles(timings[label])[1] for label in TERMS)
    print(
        f"  worst search p95 {worst:.1f} ms (goal <= 50 ms): {'met' if worst <= 50 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
