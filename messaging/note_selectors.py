"""Reads for modus-operandi notes: what a user may see, filtered in SQL, and version diffs."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django_countries import countries as country_registry

from messaging.models import Note, NoteRevision
from messaging.taxonomy import load_taxonomy
from networks.access import ItemLabels, filter_visible
from networks.clearance import TLP, level_name


def note_labels(note: Note) -> ItemLabels:
    """What the access rule needs to know about one note (one query for TLP:RED)."""
    recipients: frozenset[int] = frozenset()
    if note.tlp == TLP.RED:
        recipients = frozenset(note.recipients.values_list("pk", flat=True))
    return ItemLabels(
        space_id=note.space_id,
        level=note.level,
        tlp=note.tlp,
        author_id=note.author_id,
        recipient_ids=recipients,
    )


def visible_notes(*, user: Any, space_id: int) -> QuerySet[Note]:
    """The space's notes the user may see: the access rule inside the SQL query."""
    return filter_visible(
        Note.objects.filter(space_id=space_id), user, recipients_field="recipients"
    )


@dataclass(frozen=True)
class NoteFilters:
    """List filters; each is a code (validated by the form) or empty."""

    category: str = ""  # a category code, or a group code for the whole group
    substance: str = ""
    country: str = ""
    grading: str = ""  # e.g. "B2": source reliability + information credibility
    handling_code: str = ""
    tlp: str = ""


def apply_filters(queryset: QuerySet[Note], filters: NoteFilters) -> QuerySet[Note]:
    taxonomy = load_taxonomy()
    if filters.category:
        group = next((g for g in taxonomy.groups if g.code == filters.category), None)
        if group is not None:
            queryset = queryset.filter(category__in=[c.code for c in group.categories])
        else:
            queryset = queryset.filter(category=filters.category)
    # The keys are "|code|code|"; codes never contain "|", "%" or "_" wildcards that matter
    # (they are validated against the taxonomy and ISO 3166-1 before reaching here).
    if filters.substance:
        queryset = queryset.filter(substances_key__contains=f"|{filters.substance}|")
    if filters.country:
        queryset = queryset.filter(countries_key__contains=f"|{filters.country}|")
    if filters.grading:
        queryset = queryset.filter(
            source_reliability=filters.grading[:1], information_credibility=filters.grading[1:]
        )
    if filters.handling_code:
        queryset = queryset.filter(handling_code=filters.handling_code)
    if filters.tlp:
        queryset = queryset.filter(tlp=filters.tlp)
    return queryset


def note_list(*, user: Any, space_id: int, filters: NoteFilters) -> QuerySet[Note]:
    """Visible notes of the space, filtered, most recently updated first."""
    return (
        apply_filters(visible_notes(user=user, space_id=space_id), filters)
        .select_related("author")
        .order_by("-updated_at", "-pk")
    )


def visible_note(*, user: Any, space_id: int, note_id: int) -> Note | None:
    """One note of the space if the user may see it; hidden and missing are both None."""
    return (
        visible_notes(user=user, space_id=space_id)
        .select_related("author", "topic", "space")
        .filter(pk=note_id)
        .first()
    )


# --- history ------------------------------------------------------------------------


def render_snapshot(snapshot: dict[str, Any], *, language: str | None = None) -> list[str]:
    """A readable, line-per-fact rendering of one version, for diffs."""
    taxonomy = load_taxonomy()

    def label(source: dict[str, Any], code: Any) -> str:
        term = source.get(code)
        return f"{code} ({term.label(language)})" if term else str(code)

    scheme = taxonomy.schemes_by_code.get(snapshot.get("grading_scheme", ""))
    lines = [f"Title: {snapshot.get('title', '')}"]
    lines += ["Summary:"] + [f"  {line}" for line in str(snapshot.get("summary", "")).splitlines()]
    lines.append(f"Category: {label(taxonomy.categories, snapshot.get('category'))}")
    lines += [
        f"Substance: {label(taxonomy.substances_by_code, code)}"
        for code in snapshot.get("substances", [])
    ]
    lines += [
        f"Country: {code} ({country_registry.name(code)})" for code in snapshot.get("countries", [])
    ]
    lines += [
        f"Route {i}: {stop.get('role')} {stop.get('country')}"
        for i, stop in enumerate(snapshot.get("route", []), start=1)
    ]
    lines += [f"Indicator: {text}" for text in snapshot.get("indicators", [])]
    lines.append(
        f"Period: {snapshot.get('period_start') or '…'} – {snapshot.get('period_end') or '…'}"
    )
    lines.append(
        f"Grading: {scheme.label(language) if scheme else snapshot.get('grading_scheme')} "
        f"{snapshot.get('source_reliability')}{snapshot.get('information_credibility')}"
    )
    handling = f"Handling: {snapshot.get('handling_code')}"
    if snapshot.get("handling_text"):
        handling += f" ({snapshot['handling_text']})"
    lines.append(handling)
    lines.append(f"Level: {level_name(int(snapshot.get('level', 0)))}")
    lines.append(f"TLP: TLP:{snapshot.get('tlp')}")
    lines.append(f"Recipients: {len(snapshot.get('recipient_ids', []))}")
    return lines


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "remove", "context", "hunk"
    text: str


@dataclass(frozen=True)
class VersionDiff:
    revision: NoteRevision
    previous: NoteRevision | None
    lines: list[DiffLine]


def _diff(old: list[str], new: list[str]) -> list[DiffLine]:
    lines = []
    for raw in difflib.unified_diff(old, new, lineterm="", n=1):
        if raw.startswith(("---", "+++")):
            continue
        if raw.startswith("@@"):
            lines.append(DiffLine("hunk", "…"))
        elif raw.startswith("+"):
            lines.append(DiffLine("add", raw[1:]))
        elif raw.startswith("-"):
            lines.append(DiffLine("remove", raw[1:]))
        else:
            lines.append(DiffLine("context", raw[1:]))
    return lines


def note_history(*, note: Note, language: str | None = None) -> list[VersionDiff]:
    """Every version, newest first, each with its diff against the one before."""
    revisions = list(note.revisions.select_related("edited_by").order_by("number"))
    history = []
    previous: NoteRevision | None = None
    for revision in revisions:
        new = render_snapshot(revision.snapshot, language=language)
        old = render_snapshot(previous.snapshot, language=language) if previous else []
        history.append(VersionDiff(revision=revision, previous=previous, lines=_diff(old, new)))
        previous = revision
    return list(reversed(history))


def grading_choices(scheme_code: str) -> list[str]:
    """Every valid pair of a scheme, e.g. A1…X4, for the list filter."""
    scheme = load_taxonomy().schemes_by_code[scheme_code]
    return [
        s.code + i.code for s in scheme.source_reliability for i in scheme.information_credibility
    ]


def all_grading_pairs() -> list[str]:
    pairs: dict[str, None] = {}
    for scheme in load_taxonomy().schemes:
        for pair in grading_choices(scheme.code):
            pairs.setdefault(pair, None)
    return sorted(pairs)
