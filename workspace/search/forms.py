"""The search form: the words and the filters, all in the query string (works without JS)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from networks.clearance import level_choices
from workspace.search.selectors import KIND_LABELS, MAX_QUERY_CHARS, Kind, SearchFilters


class SearchForm(forms.Form):
    # The length is checked by parse_query, which says so in words; the widget's maxlength
    # only helps browsers.
    q = forms.CharField(
        label=_("Search for"),
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"type": "search", "maxlength": MAX_QUERY_CHARS}),
    )
    space = forms.TypedChoiceField(label=_("Space"), required=False, coerce=int, empty_value=None)
    kind = forms.ChoiceField(label=_("Type"), required=False)
    level = forms.TypedChoiceField(label=_("Level"), required=False, coerce=int, empty_value=None)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, spaces: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["space"].choices = [("", _("All my spaces"))] + [(s.pk, s.name) for s in spaces]
        self.fields["kind"].choices = [("", _("All types"))] + [
            (str(k), label) for k, label in KIND_LABELS.items()
        ]
        self.fields["level"].choices = [("", _("Any level"))] + level_choices()

    def filters(self) -> SearchFilters:
        data = self.cleaned_data
        return SearchFilters(
            space_id=data.get("space"),
            kinds=frozenset({Kind(data["kind"])}) if data.get("kind") else frozenset(),
            level=data.get("level"),
            date_from=data.get("since"),
            date_to=data.get("until"),
        )
