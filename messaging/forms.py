"""Messaging forms: they parse and validate input; services enforce every rule again."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from messaging.app_settings import messaging_settings
from messaging.models import Emoji
from networks.clearance import TLP, level_choices


class TopicForm(forms.Form):
    name = forms.CharField(label=_("Topic name"), max_length=120)


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Markdown is supported. Mention a member with @**name**."),
    )
    level = forms.TypedChoiceField(label=_("Level"), coerce=int, choices=())
    tlp = forms.ChoiceField(label=_("TLP"), choices=TLP.choices, initial=TLP.GREEN)
    recipients = forms.ModelMultipleChoiceField(
        label=_("Recipients (TLP:RED only)"),
        required=False,
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
    )
    # Generated when the form is shown: submitting the same form twice stores one message.
    client_id = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(self, *args: Any, clearance: int, members: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"].max_length = messaging_settings().max_body_chars
        self.fields["body"].validators.append(
            forms.CharField(max_length=messaging_settings().max_body_chars).validators[-1]
        )
        self.fields["level"].choices = [c for c in level_choices() if c[0] <= clearance]
        self.fields["recipients"].queryset = members
        self.fields["recipients"].label_from_instance = lambda user: user.display_name or user.email


class EditForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 6}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = messaging_settings().max_body_chars
        self.fields["body"].max_length = limit
        self.fields["body"].validators.append(forms.CharField(max_length=limit).validators[-1])


class ReactionForm(forms.Form):
    emoji = forms.ChoiceField(choices=Emoji.choices)
