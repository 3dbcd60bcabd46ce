"""Note forms: they parse and validate input; note_services enforces every rule again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries import countries as country_registry

from messaging.models import Note, NoteGradingScheme
from messaging.note_selectors import NoteFilters, all_grading_pairs
from messaging.note_services import (
    MAX_HANDLING_TEXT,
    MAX_INDICATOR_CHARS,
    MAX_INDICATORS,
    MAX_ROUTE,
    MAX_SUMMARY,
    MAX_TITLE,
    ROUTE_ROLES,
    NoteInput,
)
from messaging.taxonomy import load_taxonomy
from networks.clearance import TLP, level_choices


class TitledSelect(forms.Select):
    """A select whose options carry their meaning as a `title` (shown on hover)."""

    def __init__(self, *args: Any, titles: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.titles = titles or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):  # type: ignore[no-untyped-def]
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        title = self.titles.get(str(value))
        if title:
            option["attrs"]["title"] = title
        return option


def category_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Categories grouped under their group, labelled in the active language."""
    return [
        (group.label(), [(c.code, c.label()) for c in group.categories])
        for group in load_taxonomy().groups
    ]


def substance_choices() -> list[tuple[str, str]]:
    return [(s.code, s.label()) for s in load_taxonomy().substances]


def handling_choices() -> list[tuple[str, str]]:
    return [(h.code, f"{h.code}: {h.label()}") for h in load_taxonomy().handling_codes]


def grade_titles(part: str) -> dict[str, str]:
    """Each grade's meaning in every scheme it exists in, for hover titles."""
    titles: dict[str, list[str]] = {}
    for scheme in load_taxonomy().schemes:
        terms = scheme.source_reliability if part == "source" else scheme.information_credibility
        for term in terms:
            titles.setdefault(term.code, []).append(f"{scheme.label()}: {term.label()}")
    return {code: " · ".join(parts) for code, parts in titles.items()}


def grade_choices(part: str) -> list[tuple[str, str]]:
    return [(code, code) for code in grade_titles(part)]


def route_as_text(route: list[dict[str, str]]) -> str:
    return "\n".join(f"{stop['country']} {stop['role']}" for stop in route)


class NoteForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=MAX_TITLE)
    summary = forms.CharField(
        label=_("Summary"),
        max_length=MAX_SUMMARY,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Markdown is supported. Never name informants or ongoing cases."),
    )
    category = forms.ChoiceField(label=_("Category"), choices=())
    substances = forms.MultipleChoiceField(
        label=_("Substances"), required=False, choices=(), widget=forms.CheckboxSelectMultiple
    )
    countries = forms.MultipleChoiceField(
        label=_("Countries involved"),
        required=False,
        choices=(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Countries on the route are added automatically."),
    )
    route = forms.CharField(
        label=_("Route"),
        required=False,
        max_length=MAX_ROUTE * 20,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One stop per line, in order: a country code and origin, transit or destination, "
            "e.g. “EC origin”, “PA transit”, “BE destination”."
        ),
    )
    indicators = forms.CharField(
        label=_("Indicators"),
        required=False,
        max_length=MAX_INDICATORS * (MAX_INDICATOR_CHARS + 2),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One indicator per line: at most 20, each at most 200 characters."),
    )
    period_start = forms.DateField(
        label=_("Period start"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    period_end = forms.DateField(
        label=_("Period end"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    grading_scheme = forms.ChoiceField(
        label=_("Grading scheme"),
        choices=NoteGradingScheme.choices,
        initial=NoteGradingScheme.EUROPOL_4X4,
    )
    source_reliability = forms.ChoiceField(label=_("Source reliability"), choices=())
    information_credibility = forms.ChoiceField(label=_("Information credibility"), choices=())
    handling_code = forms.ChoiceField(
        label=_("Handling code"), choices=(), widget=forms.RadioSelect
    )
    handling_text = forms.CharField(
        label=_("Handling restrictions (H3)"),
        required=False,
        max_length=MAX_HANDLING_TEXT,
        help_text=_("Required for H3: describe the restrictions."),
    )
    level = forms.TypedChoiceField(label=_("Level"), coerce=int, choices=())
    tlp = forms.ChoiceField(label=_("TLP"), choices=TLP.choices, initial=TLP.AMBER)
    recipients = forms.ModelMultipleChoiceField(
        label=_("Recipients (TLP:RED only)"),
        required=False,
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, clearance: int, members: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "—"), *category_choices()]
        self.fields["substances"].choices = substance_choices()
        self.fields["countries"].choices = list(country_registry)
        source, info = grade_titles("source"), grade_titles("information")
        # The widget first: setting a field's choices passes them on to its widget.
        self.fields["source_reliability"].widget = TitledSelect(titles=source)
        self.fields["source_reliability"].choices = grade_choices("source")
        self.fields["information_credibility"].widget = TitledSelect(titles=info)
        self.fields["information_credibility"].choices = grade_choices("information")
        self.fields["handling_code"].choices = handling_choices()
        self.fields["level"].choices = [c for c in level_choices() if c[0] <= clearance]
        self.fields["recipients"].queryset = members
        self.fields["recipients"].label_from_instance = lambda user: user.display_name or user.email
        for name, field in self.fields.items():
            if name in self.errors:
                field.widget.attrs["aria-invalid"] = "true"

    def clean_route(self) -> list[dict[str, str]]:
        stops = []
        for number, line in enumerate(self.cleaned_data["route"].splitlines(), start=1):
            parts = line.replace(",", " ").split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1].lower() not in ROUTE_ROLES:
                raise forms.ValidationError(
                    _("Line %(number)d: write a country code and a role."),
                    code="invalid_stop",
                    params={"number": number},
                )
            stops.append({"country": parts[0].upper(), "role": parts[1].lower()})
        return stops

    def clean_indicators(self) -> list[str]:
        return [
            line.strip() for line in self.cleaned_data["indicators"].splitlines() if line.strip()
        ]

    def to_input(self) -> NoteInput:
        data = self.cleaned_data
        return NoteInput(
            title=data["title"],
            summary=data["summary"],
            category=data["category"],
            substances=list(data["substances"]),
            countries=list(data["countries"]),
            route=data["route"],
            indicators=data["indicators"],
            period_start=data["period_start"],
            period_end=data["period_end"],
            grading_scheme=data["grading_scheme"],
            source_reliability=data["source_reliability"],
            information_credibility=data["information_credibility"],
            handling_code=data["handling_code"],
            handling_text=data["handling_text"],
            level=data["level"],
            tlp=data["tlp"],
            recipients=list(data["recipients"]),
        )

    @staticmethod
    def initial_for(note: Note, recipient_ids: list[int]) -> dict[str, Any]:
        return {
            "title": note.title,
            "summary": note.summary,
            "category": note.category,
            "substances": note.substances,
            "countries": note.countries,
            "route": route_as_text(note.route),
            "indicators": "\n".join(note.indicators),
            "period_start": note.period_start,
            "period_end": note.period_end,
            "grading_scheme": note.grading_scheme,
            "source_reliability": note.source_reliability,
            "information_credibility": note.information_credibility,
            "handling_code": note.handling_code,
            "handling_text": note.handling_text,
            "level": note.level,
            "tlp": note.tlp,
            "recipients": recipient_ids,
        }


class NoteFilterForm(forms.Form):
    """The list filters (GET); an invalid value is reported and that filter ignored."""

    category = forms.ChoiceField(label=_("Category"), required=False, choices=())
    substance = forms.ChoiceField(label=_("Substance"), required=False, choices=())
    country = forms.ChoiceField(label=_("Country"), required=False, choices=())
    grading = forms.ChoiceField(label=_("Grading"), required=False, choices=())
    handling_code = forms.ChoiceField(label=_("Handling code"), required=False, choices=())
    tlp = forms.ChoiceField(label=_("TLP"), required=False, choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        anything = ("", _("Any"))
        groups = [(g.code, g.label()) for g in load_taxonomy().groups]
        self.fields["category"].choices = [
            anything,
            (_("Whole group"), groups),
            *category_choices(),
        ]
        self.fields["substance"].choices = [anything, *substance_choices()]
        self.fields["country"].choices = [anything, *list(country_registry)]
        self.fields["grading"].choices = [anything, *[(p, p) for p in all_grading_pairs()]]
        self.fields["handling_code"].choices = [anything, *handling_choices()]
        self.fields["tlp"].choices = [anything, *TLP.choices]

    def filters(self) -> NoteFilters:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return NoteFilters(**{name: data.get(name) or "" for name in self.fields})
