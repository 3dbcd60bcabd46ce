"""Writes for modus-operandi notes: create, edit (versioned) and export (audited).

Each service checks access itself (the views check too) and validates every field
against the shipped taxonomy; a failed validation raises one ValidationError, keyed by
field, with a code on every error, and changes nothing.
"""

from __future__ import annotations

import datetime
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries import countries as country_registry

from messaging import note_selectors
from messaging.markdown import render_markdown
from messaging.models import Note, NoteGradingScheme, NoteRevision
from messaging.services import topic_create
from messaging.taxonomy import load_taxonomy, localized
from networks.access import Action, access_item, access_space, clearance_in_effect
from networks.clearance import TLP, level_name, level_names
from networks.models import Space
from workspace.audit.services import audit_record

MAX_TITLE = 200
MAX_SUMMARY = 20_000
MAX_SUBSTANCES = 10
MAX_COUNTRIES = 40
MAX_ROUTE = 20
MAX_INDICATORS = 20
MAX_INDICATOR_CHARS = 200
MAX_HANDLING_TEXT = 500
MAX_RECIPIENTS = 50
MAX_EXPORT = 500
ROUTE_ROLES = ("origin", "transit", "destination")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class NoteInput:
    """Every editable field of a note, as the form or a caller gives it (unvalidated)."""

    title: Any
    summary: Any
    category: Any
    source_reliability: Any
    information_credibility: Any
    handling_code: Any
    level: Any
    tlp: Any
    grading_scheme: Any = NoteGradingScheme.EUROPOL_4X4
    substances: Any = ()
    countries: Any = ()
    route: Any = ()
    indicators: Any = ()
    period_start: Any = None
    period_end: Any = None
    handling_text: Any = ""
    recipients: Any = field(default=())


class NoteExportRefused(PermissionDenied):
    """An export that the handling code or the TLP label forbids (H2, TLP:RED)."""

    def __init__(self, message: str, *, references: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.references = references


# --- validation ---------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[ValidationError]] = {}

    def add(self, name: str, message: str, code: str) -> None:
        self.by_field.setdefault(name, []).append(ValidationError(message, code=code))

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _text(value: Any, *, name: str, limit: int, required: bool, errors: _Errors) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(name, _("This must be text."), "invalid_type")
        return ""
    value = value.replace("\x00", "").strip()
    if required and not value:
        errors.add(name, _("This field is required."), "required")
    elif len(value) > limit:
        errors.add(
            name,
            _("At most %(limit)d characters.") % {"limit": limit},
            "too_long",
        )
    return value


def _code_list(value: Any, *, name: str, limit: int, errors: _Errors) -> list[str]:
    """A list of strings (a tuple or a set too); anything else is a type error."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        errors.add(name, _("Expected a list."), "invalid_type")
        return []
    items = list(value)
    if len(items) > limit:
        errors.add(name, _("Too many entries (at most %(limit)d).") % {"limit": limit}, "too_many")
        return []
    if not all(isinstance(item, str) for item in items):
        errors.add(name, _("Every entry must be text."), "invalid_type")
        return []
    return list(dict.fromkeys(item.strip() for item in items))  # unique, in order


def _country(code: str) -> str | None:
    code = code.strip().upper()
    if COUNTRY_RE.match(code) and country_registry.name(code):
        return code
    return None


def _clean_countries(value: Any, errors: _Errors) -> list[str]:
    codes = _code_list(value, name="countries", limit=MAX_COUNTRIES, errors=errors)
    cleaned = []
    for code in codes:
        country = _country(code)
        if country is None:
            errors.add("countries", _("Unknown country code."), "unknown_country")
            return []
        cleaned.append(country)
    return list(dict.fromkeys(cleaned))


def _clean_route(value: Any, errors: _Errors) -> list[dict[str, str]]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        errors.add("route", _("Expected a list of stops."), "invalid_type")
        return []
    if len(value) > MAX_ROUTE:
        errors.add(
            "route", _("Too many stops (at most %(limit)d).") % {"limit": MAX_ROUTE}, "too_many"
        )
        return []
    stops: list[dict[str, str]] = []
    for stop in value:
        if not isinstance(stop, dict) or set(stop) != {"country", "role"}:
            errors.add("route", _("Each stop needs a country and a role."), "invalid_stop")
            return []
        country, role = stop["country"], stop["role"]
        if not isinstance(country, str) or _country(country) is None:
            errors.add("route", _("Unknown country code in the route."), "unknown_country")
            return []
        if not isinstance(role, str) or role not in ROUTE_ROLES:
            errors.add(
                "route",
                _("A route role is origin, transit or destination."),
                "invalid_route_role",
            )
            return []
        stops.append({"country": _country(country) or "", "role": role})
    ranks = [ROUTE_ROLES.index(s["role"]) for s in stops]
    if ranks != sorted(ranks):
        errors.add(
            "route",
            _("A route runs from origin through transit to destination."),
            "route_order",
        )
        return []
    return stops


def _clean_indicators(value: Any, errors: _Errors) -> list[str]:
    items = _code_list(value, name="indicators", limit=MAX_INDICATORS, errors=errors)
    items = [item.replace("\x00", "") for item in items if item]
    if any(len(item) > MAX_INDICATOR_CHARS for item in items):
        errors.add(
            "indicators",
            _("Each indicator has at most %(limit)d characters.") % {"limit": MAX_INDICATOR_CHARS},
            "indicator_too_long",
        )
        return []
    return items


def _clean_date(value: Any, *, name: str, errors: _Errors) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                pass
        errors.add(name, _("Enter a valid date."), "invalid_date")
        return None
    return value


def _clean_level(value: Any, clearance: int, errors: _Errors) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(level_names()):
        errors.add("level", _("Unknown level."), "unknown_level")
        return 0
    if value > clearance:
        errors.add(
            "level",
            _("You cannot set a level above your clearance (%(clearance)s).")
            % {"clearance": level_name(clearance)},
            "level_above_clearance",
        )
    return value


def _clean_recipients(
    *, space_id: int, tlp: str, level: int, recipients: Any, author_id: int, errors: _Errors
) -> frozenset[int]:
    """TLP:RED needs named recipients, each an active member cleared for the level."""
    from workspace.accounts.models import User

    if recipients is None:
        recipients = ()
    if isinstance(recipients, str) or not hasattr(recipients, "__iter__"):
        errors.add("recipients", _("Expected a list of members."), "invalid_type")
        return frozenset()
    ids: set[int] = set()
    for value in recipients:
        pk = getattr(value, "pk", value)
        if not isinstance(pk, int) or isinstance(pk, bool):
            errors.add("recipients", _("Unknown recipient."), "unknown_recipient")
            return frozenset()
        ids.add(pk)
    ids.discard(author_id)
    if tlp != TLP.RED:
        if ids:
            errors.add(
                "recipients",
                _("Only TLP:RED notes have named recipients."),
                "recipients_not_red",
            )
        return frozenset()
    if not ids:
        errors.add(
            "recipients",
            _("A TLP:RED note needs at least one named recipient."),
            "no_recipients",
        )
        return frozenset()
    if len(ids) > MAX_RECIPIENTS:
        errors.add("recipients", _("Too many recipients."), "too_many_recipients")
        return frozenset()
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    for pk in ids:
        try:
            user = users.get(pk)
            if user is None:
                raise PermissionDenied
            membership = access_space(user, space_id, action=Action.VIEW)
        except PermissionDenied:
            errors.add(
                "recipients",
                _("Every recipient must be an active member of this space."),
                "recipient_not_member",
            )
            return frozenset()
        if clearance_in_effect(membership) < level:
            errors.add(
                "recipients",
                _("A recipient is not cleared for this level."),
                "recipient_not_cleared",
            )
            return frozenset()
    return frozenset(ids)


@dataclass(frozen=True)
class _Clean:
    fields: dict[str, Any]
    recipient_ids: frozenset[int]


def _validate(data: NoteInput, *, space_id: int, clearance: int, author_id: int) -> _Clean:
    taxonomy = load_taxonomy()
    errors = _Errors()
    title = _text(data.title, name="title", limit=MAX_TITLE, required=True, errors=errors)
    summary = _text(data.summary, name="summary", limit=MAX_SUMMARY, required=True, errors=errors)

    category = data.category
    if not isinstance(category, str) or category not in taxonomy.categories:
        errors.add("category", _("Unknown category."), "unknown_category")

    substances = _code_list(data.substances, name="substances", limit=MAX_SUBSTANCES, errors=errors)
    if any(code not in taxonomy.substances_by_code for code in substances):
        errors.add("substances", _("Unknown substance."), "unknown_substance")

    countries = _clean_countries(data.countries, errors)
    route = _clean_route(data.route, errors)
    # Every country on the route is a country involved.
    countries = list(dict.fromkeys(countries + [stop["country"] for stop in route]))
    if len(countries) > MAX_COUNTRIES:
        errors.add("countries", _("Too many countries."), "too_many")
    indicators = _clean_indicators(data.indicators, errors)

    start = _clean_date(data.period_start, name="period_start", errors=errors)
    end = _clean_date(data.period_end, name="period_end", errors=errors)
    if start and end and start > end:
        errors.add("period_end", _("The period ends before it starts."), "period_reversed")

    scheme = (
        taxonomy.schemes_by_code.get(data.grading_scheme)
        if isinstance(data.grading_scheme, str)
        else None
    )
    if scheme is None:
        errors.add("grading_scheme", _("Unknown grading scheme."), "unknown_grading_scheme")
    else:
        source_ok = isinstance(data.source_reliability, str) and scheme.source(
            data.source_reliability
        )
        info_ok = isinstance(data.information_credibility, str) and scheme.information(
            data.information_credibility
        )
        if not source_ok:
            errors.add(
                "source_reliability",
                _("This source grade does not exist in the chosen scheme."),
                "invalid_grading",
            )
        if not info_ok:
            errors.add(
                "information_credibility",
                _("This information grade does not exist in the chosen scheme."),
                "invalid_grading",
            )

    handling = (
        taxonomy.handling_by_code.get(data.handling_code)
        if isinstance(data.handling_code, str)
        else None
    )
    handling_text = _text(
        data.handling_text,
        name="handling_text",
        limit=MAX_HANDLING_TEXT,
        required=False,
        errors=errors,
    )
    if handling is None:
        errors.add("handling_code", _("Unknown handling code."), "unknown_handling_code")
    elif handling.requires_text and not handling_text:
        errors.add(
            "handling_text",
            _("Describe the restrictions of handling code %(code)s.") % {"code": handling.code},
            "handling_text_required",
        )
    elif not handling.requires_text:
        handling_text = ""  # only H3 carries free text

    level = _clean_level(data.level, clearance, errors)
    tlp = data.tlp
    if not isinstance(tlp, str) or tlp not in TLP.values:
        errors.add("tlp", _("Unknown TLP label."), "unknown_tlp")
        tlp = TLP.AMBER
    errors.raise_if_any()
    # Recipients need the valid level and TLP, and cost queries: checked last.
    recipient_ids = _clean_recipients(
        space_id=space_id,
        tlp=tlp,
        level=level,
        recipients=data.recipients,
        author_id=author_id,
        errors=errors,
    )
    errors.raise_if_any()
    return _Clean(
        fields={
            "title": title,
            "summary": summary,
            "summary_html": render_markdown(summary),
            "category": category,
            "substances": substances,
            "substances_key": _key(substances),
            "countries": countries,
            "countries_key": _key(countries),
            "route": route,
            "indicators": indicators,
            "period_start": start,
            "period_end": end,
            "grading_scheme": scheme.code if scheme else "",
            "source_reliability": data.source_reliability,
            "information_credibility": data.information_credibility,
            "handling_code": data.handling_code,
            "handling_text": handling_text,
            "level": level,
            "tlp": tlp,
        },
        recipient_ids=recipient_ids,
    )


def _key(codes: list[str]) -> str:
    return "|" + "|".join(codes) + "|" if codes else ""


def _new_reference() -> str:
    while True:
        reference = "MO-" + secrets.token_hex(4).upper()
        if not Note.objects.filter(reference=reference).exists():
            return reference


def snapshot(note: Note, recipient_ids: frozenset[int] | set[int]) -> dict[str, Any]:
    """Every field of a version, JSON-ready (codes, not labels: labels may be reworded)."""
    return {
        "title": note.title,
        "summary": note.summary,
        "category": note.category,
        "substances": list(note.substances),
        "countries": list(note.countries),
        "route": list(note.route),
        "indicators": list(note.indicators),
        "period_start": note.period_start.isoformat() if note.period_start else None,
        "period_end": note.period_end.isoformat() if note.period_end else None,
        "grading_scheme": note.grading_scheme,
        "source_reliability": note.source_reliability,
        "information_credibility": note.information_credibility,
        "handling_code": note.handling_code,
        "handling_text": note.handling_text,
        "level": note.level,
        "tlp": note.tlp,
        "recipient_ids": sorted(recipient_ids),
    }


# --- writes -------------------------------------------------------------------------


@transaction.atomic
def note_create(*, space: Space, data: NoteInput, acting_user: Any) -> Note:
    """A new note (version 1) with its own discussion topic in the space."""
    membership = access_space(acting_user, space.pk, action=Action.POST)
    clean = _validate(
        data,
        space_id=space.pk,
        clearance=clearance_in_effect(membership),
        author_id=acting_user.pk,
    )
    reference = _new_reference()
    topic = topic_create(space=space, name=f"Note {reference}", acting_user=acting_user)
    now = timezone.now()
    note = Note(
        space=space,
        topic=topic,
        reference=reference,
        author=acting_user,
        created_at=now,
        updated_at=now,
        version=1,
        **clean.fields,
    )
    note.full_clean()
    note.save()
    if clean.recipient_ids:
        note.recipients.set(clean.recipient_ids)
    NoteRevision.objects.create(
        note=note, number=1, snapshot=snapshot(note, clean.recipient_ids), edited_by=acting_user
    )
    return note


def can_edit_note(user: Any, note: Note) -> bool:
    """The author (still allowed to post) or a moderator, if they may see the note."""
    labels = note_selectors.note_labels(note)
    action = Action.POST if note.author_id == user.pk else Action.MODERATE
    try:
        access_item(user, labels, action=action)
    except PermissionDenied:
        return False
    return True


@transaction.atomic
def note_edit(
    *, note: Note, data: NoteInput, acting_user: Any, request: HttpRequest | None = None
) -> Note:
    """A new version of the note, by its author or a moderator; every version is kept."""
    note = Note.objects.select_for_update().get(pk=note.pk)
    labels = note_selectors.note_labels(note)
    by_moderator = note.author_id != acting_user.pk
    membership = access_item(
        acting_user, labels, action=Action.MODERATE if by_moderator else Action.POST
    )
    clean = _validate(
        data,
        space_id=note.space_id,
        clearance=clearance_in_effect(membership),
        author_id=note.author_id if note.author_id is not None else acting_user.pk,
    )
    before = snapshot(note, labels.recipient_ids)
    for name, value in clean.fields.items():
        setattr(note, name, value)
    after = snapshot(note, clean.recipient_ids)
    if after == before:
        return note
    note.version += 1
    note.updated_at = timezone.now()
    note.full_clean()
    note.save()
    note.recipients.set(clean.recipient_ids)
    NoteRevision.objects.create(
        note=note, number=note.version, snapshot=after, edited_by=acting_user
    )
    if by_moderator:
        audit_record(
            action="note.edited_by_moderator",
            actor=acting_user,
            request=request,
            space_id=note.space_id,
            target=f"note:{note.pk}",
            details={"version": note.version, "author_id": note.author_id},
        )
    return note


# --- export -------------------------------------------------------------------------


def _term(labels_source: Any, code: str, language: str) -> dict[str, str]:
    return {"code": code, "label": labels_source.label(language) if labels_source else code}


def note_as_export(note: Note, *, language: str) -> dict[str, Any]:
    """One note, with its labels in `language` and the meaning of its grading."""
    taxonomy = load_taxonomy()
    scheme = taxonomy.schemes_by_code.get(note.grading_scheme)
    group = taxonomy.category_group(note.category)
    handling = taxonomy.handling_by_code.get(note.handling_code)
    return {
        "reference": note.reference,
        "version": note.version,
        "title": note.title,
        "summary": note.summary,
        "category": {
            **_term(taxonomy.categories.get(note.category), note.category, language),
            "group": _term(group, group.code, language) if group else None,
        },
        "substances": [
            _term(taxonomy.substances_by_code.get(code), code, language) for code in note.substances
        ],
        "countries": [
            {"code": code, "name": str(country_registry.name(code))} for code in note.countries
        ],
        "route": [dict(stop) for stop in note.route],
        "indicators": list(note.indicators),
        "period": {
            "start": note.period_start.isoformat() if note.period_start else None,
            "end": note.period_end.isoformat() if note.period_end else None,
        },
        "grading": {
            "scheme": _term(scheme, note.grading_scheme, language),
            "code": note.grading,
            "source_reliability": _term(
                scheme.source(note.source_reliability) if scheme else None,
                note.source_reliability,
                language,
            ),
            "information_credibility": _term(
                scheme.information(note.information_credibility) if scheme else None,
                note.information_credibility,
                language,
            ),
        },
        "handling": {
            "code": note.handling_code,
            "label": localized(handling.labels, language) if handling else note.handling_code,
            "restrictions": note.handling_text,
        },
        "level": {"rank": note.level, "name": level_name(note.level)},
        "tlp": f"TLP:{note.tlp}",
        "author": (note.author.display_name or note.author.email) if note.author else None,
        "created_at": note.created_at.isoformat(),
        "updated_at": note.updated_at.isoformat(),
    }


def note_export(
    *,
    notes: list[Note],
    acting_user: Any,
    language: str = "en",
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """The notes as a JSON-ready dict; refused (and audited) if any is H2 or TLP:RED."""
    if not notes:
        raise ValidationError(_("There is nothing to export."), code="empty_export")
    if len(notes) > MAX_EXPORT:
        raise ValidationError(
            _("Export at most %(limit)d notes at once; narrow the filters.")
            % {"limit": MAX_EXPORT},
            code="export_too_large",
        )
    space_ids = {note.space_id for note in notes}
    if len(space_ids) != 1:
        raise ValidationError(_("Export notes of one space at a time."), code="mixed_spaces")
    (space_id,) = space_ids
    access_space(acting_user, space_id, action=Action.VIEW)
    for note in notes:
        access_item(acting_user, note_selectors.note_labels(note))
    taxonomy = load_taxonomy()
    refused = [
        note
        for note in notes
        if note.tlp == TLP.RED
        or not getattr(taxonomy.handling_by_code.get(note.handling_code), "exportable", False)
    ]
    references = [note.reference for note in notes]
    if refused:
        refused_refs = [note.reference for note in refused]
        audit_record(
            action="note.export_refused",
            actor=acting_user,
            request=request,
            space_id=space_id,
            target=",".join(f"note:{note.pk}" for note in refused)[:200],
            details={
                "notes": refused_refs,
                "requested": len(notes),
                "reasons": sorted(
                    {"TLP:RED" if note.tlp == TLP.RED else note.handling_code for note in refused}
                ),
            },
        )
        raise NoteExportRefused(
            _(
                "Export refused: %(refs)s may not be exported (handling code H2 or TLP:RED). "
                "Ask the provider, or leave these notes out of the export."
            )
            % {"refs": ", ".join(refused_refs[:10])},
            references=refused_refs,
        )
    audit_record(
        action="note.exported",
        actor=acting_user,
        request=request,
        space_id=space_id,
        target=",".join(f"note:{note.pk}" for note in notes)[:200],
        details={"notes": references, "count": len(notes), "language": language},
    )
    return {
        "format": "workspace.notes/1",
        "exported_at": timezone.now().isoformat(),
        "exported_by": acting_user.email,
        "language": language,
        "space": {"id": space_id},
        "notes": [note_as_export(note, language=language) for note in notes],
    }
