"""Reads for moderator insight: weekly activity and members by country, aggregated in SQL.

Counts never carry content (no text, title or name of an item). They include only items
at or below the viewer's clearance in effect in each space, so a count cannot reveal
activity above what the viewer is cleared for.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, DateField, Model, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries import countries

from documents.models import Document
from messaging.models import Message, Note
from networks.access import clearance_in_effect, filter_visible
from networks.clearance import LOWEST_LEVEL
from networks.models import Membership, MembershipStatus, Role, Space

WEEKS = 12
# Every item that someone posts: activity by week, and who was active.
POSTED_MODELS: tuple[type[Model], ...] = (Message, Note, Document)


def week_starts(*, now: datetime | None = None, weeks: int = WEEKS) -> list[date]:
    """The Mondays of the last `weeks` weeks, oldest first, the current week last."""
    today = timezone.localdate(now)
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]


def clearance_ceilings(
    *, user: Any, space_ids: Iterable[int], now: datetime | None = None
) -> dict[int, int]:
    """For each space, the highest level counted for `user`: the clearance in effect of
    their active membership there, or the lowest level where they have none (a network
    admin who is not a member sees OPEN counts until they appoint themselves, audited)."""
    ids = list(space_ids)
    memberships = Membership.objects.filter(
        user_id=user.pk, space_id__in=ids, status=MembershipStatus.ACTIVE
    )
    cleared = {m.space_id: clearance_in_effect(m, now=now) for m in memberships}
    return {space_id: cleared.get(space_id, LOWEST_LEVEL) for space_id in ids}


def _within_ceilings(ceilings: Mapping[int, int]) -> Q:
    """One term per distinct ceiling (at most the number of levels), not per space."""
    by_level: dict[int, list[int]] = defaultdict(list)
    for space_id, level in ceilings.items():
        by_level[level].append(space_id)
    condition = Q(pk__in=[])  # no space, no rows
    for level, ids in by_level.items():
        condition |= Q(space_id__in=ids, level__lte=level)
    return condition


def _in_visible_discussions(viewer: Any, ceilings: Mapping[int, int]) -> Q:
    """Messages outside note discussions, or in the discussion of a note the viewer may
    see: a note's discussion is part of the note, so its messages count only for whoever
    the access rule lets see the note (as their topic and text are shown only to them)."""
    notes = filter_visible(Note.objects.filter(space_id__in=list(ceilings)), viewer)
    return Q(topic__note__isnull=True) | Q(topic__note__in=notes.values("pk"))


def _weekly(
    model: type[Model], ceilings: Mapping[int, int], since: date, discussions: Q
) -> QuerySet:
    start = datetime.combine(since, time(), timezone.get_current_timezone())
    rows = model._default_manager.filter(_within_ceilings(ceilings), created_at__gte=start)
    if model is Message:
        rows = rows.filter(discussions)
    return rows.annotate(week=TruncWeek("created_at", output_field=DateField())).order_by()


@dataclass
class Activity:
    """Counts per week (aligned with `weeks`) for one space or a whole network."""

    weeks: list[date]
    messages: list[int]
    documents: list[int]
    active_members: list[int]
    active_members_total: int = 0  # distinct people over all the weeks

    @property
    def messages_total(self) -> int:
        return sum(self.messages)

    @property
    def documents_total(self) -> int:
        return sum(self.documents)


@dataclass
class NetworkActivity:
    total: Activity
    per_space: dict[int, Activity] = field(default_factory=dict)


def weekly_activity(
    *, viewer: Any, ceilings: Mapping[int, int], now: datetime | None = None
) -> NetworkActivity:
    """Messages, documents and active members (distinct people who posted a message, a
    note or a document) per week, for the spaces in `ceilings`, each counted only at or
    below its ceiling, and a note discussion's messages only if `viewer` may see the note.
    Three queries whatever the number of spaces and weeks (and the viewer's memberships,
    read once per request)."""
    weeks = week_starts(now=now)
    index = {week: i for i, week in enumerate(weeks)}

    def empty() -> Activity:
        zeros = [0] * len(weeks)
        return Activity(weeks=weeks, messages=zeros[:], documents=zeros[:], active_members=zeros[:])

    total = empty()
    per_space = {space_id: empty() for space_id in ceilings}
    discussions = _in_visible_discussions(viewer, ceilings)

    for model, attr in ((Message, "messages"), (Document, "documents")):
        rows = (
            _weekly(model, ceilings, weeks[0], discussions)
            .values("space_id", "week")
            .annotate(n=Count("pk"))
        )
        for row in rows:
            i = index.get(_as_date(row["week"]))
            if i is None:
                continue
            getattr(per_space[row["space_id"]], attr)[i] += row["n"]
            getattr(total, attr)[i] += row["n"]

    # Distinct (space, week, author) across the three kinds of item, in one UNION query;
    # people are then counted per week in Python, per space and across the network.
    posted = [
        _weekly(model, ceilings, weeks[0], discussions)
        .filter(author__isnull=False)
        .values_list("space_id", "week", "author_id")
        for model in POSTED_MODELS
    ]
    people: dict[int | None, list[set[int]]] = defaultdict(lambda: [set() for _ in weeks])
    for space_id, week, author_id in posted[0].union(*posted[1:]):
        i = index.get(_as_date(week))
        if i is None:
            continue
        people[space_id][i].add(author_id)
        people[None][i].add(author_id)
    for key, activity in [(None, total), *per_space.items()]:
        sets = people.get(key, [set() for _ in weeks])
        activity.active_members = [len(s) for s in sets]
        activity.active_members_total = len(set().union(*sets))
    return NetworkActivity(total=total, per_space=per_space)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class CountryRow:
    code: str
    name: str
    moderators: int
    members: int
    observers: int
    suspended: int
    people: int  # distinct people with an active membership


def members_by_country(*, space_ids: Iterable[int]) -> list[CountryRow]:
    """Distinct people per country of their profile: active by role, suspended, and in all
    (across several spaces a person counts once per column). One query."""

    def people(**where: Any) -> Count:
        return Count("user_id", filter=Q(**where), distinct=True)

    active = MembershipStatus.ACTIVE
    rows = (
        Membership.objects.filter(
            space_id__in=list(space_ids), status__in=[active, MembershipStatus.SUSPENDED]
        )
        .values("user__country")
        .annotate(
            moderators=people(status=active, role=Role.MODERATOR),
            members=people(status=active, role=Role.MEMBER),
            observers=people(status=active, role=Role.OBSERVER),
            suspended=people(status=MembershipStatus.SUSPENDED),
            people=people(status=active),
        )
        .order_by()
    )
    result = [
        CountryRow(
            code=row["user__country"] or "",
            name=countries.name(row["user__country"]) if row["user__country"] else _("Not given"),
            moderators=row["moderators"],
            members=row["members"],
            observers=row["observers"],
            suspended=row["suspended"],
            people=row["people"],
        )
        for row in rows
    ]
    # Alphabetical in the reader's language (accents folded); "not given" last.
    return sorted(result, key=lambda row: (row.code == "", _fold(row.name)))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def network_spaces(*, network_id: int) -> QuerySet[Space]:
    """The network's spaces with their number of active members, by name."""
    return (
        Space.objects.filter(network_id=network_id)
        .annotate(
            active_members=Count(
                "memberships", filter=Q(memberships__status=MembershipStatus.ACTIVE)
            )
        )
        .order_by("name")
    )
