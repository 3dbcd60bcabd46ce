"""Profile form: the expert's public details."""

from __future__ import annotations

from django import forms
from django.conf import global_settings
from django.utils.translation import gettext_lazy as _

from workspace.accounts.models import User

# Working languages of the programme's experts: the EU's official languages, the
# languages of Latin America and the Caribbean covered by Django, and a few others
# common in cooperation work. Names come (translated) from Django's own catalogues.
PROFILE_LANGUAGES = {
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "it",
    "lt", "lv", "nl", "pl", "pt", "ro", "sk", "sl", "sv", "ar", "ca", "eu", "gl", "ru",
    "tr", "uk",
}
LANGUAGE_CHOICES = [
    (code, name) for code, name in global_settings.LANGUAGES if code in PROFILE_LANGUAGES
]


class ProfileForm(forms.ModelForm):
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=LANGUAGE_CHOICES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = User
        fields = ["display_name", "organisation", "country", "languages", "expertise"]
        widgets = {"expertise": forms.Textarea(attrs={"rows": 4})}
