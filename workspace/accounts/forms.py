"""Profile form: the expert's public details."""

from __future__ import annotations

from django import forms
from django.conf import global_settings
from django.utils.translation import gettext_lazy as _

from workspace.accounts.models import User

LANGUAGE_CHOICES = [(code, name) for code, name in global_settings.LANGUAGES if "-" not in code]


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
