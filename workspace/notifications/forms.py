"""Forms for notification settings and topic follows."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from workspace.notifications.models import EmailFrequency


class PreferenceForm(forms.Form):
    email = forms.ChoiceField(
        label=_("Email notifications"), choices=EmailFrequency.choices, widget=forms.RadioSelect
    )
    language = forms.ChoiceField(
        label=_("Language of the emails"),
        required=False,
        help_text=_("Empty: the first of your profile languages the site speaks, else English."),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["language"].choices = [("", "—"), *settings.LANGUAGES]


class FollowForm(forms.Form):
    following = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda v: v == "1")
