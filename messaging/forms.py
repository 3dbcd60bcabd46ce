"""Messaging forms: they parse and validate input; services enforce every rule again."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from messaging.app_settings import messaging_settings
from messaging.models import Emoji
from networks.clearance import TLP, level_choices


class CheckboxList(forms.CheckboxSelectMultiple):
    """CheckboxSelectMultiple with the same HTML, built in Python.

    Django renders each checkbox through four templates (option, label, input, attrs):
    with a space's 50 members that was a fifth of a topic page's time. The output is
    byte-identical to Django's (tests/messaging/test_forms.py compares them); a choice
    list with groups goes through Django's templates as before.
    """

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        if any(group for group, _options, _index in widget["optgroups"]):
            return super().render(name, value, attrs, renderer)
        options = "".join(
            format_html("<div>\n    {}\n\n</div>", _checkbox_option(option))
            for _group, group_options, _index in widget["optgroups"]
            for option in group_options
        )
        id_, css = widget["attrs"].get("id"), widget["attrs"].get("class")
        return format_html(
            "<div{}{}>{}\n</div>",
            format_html(' id="{}"', id_) if id_ else "",
            format_html(' class="{}"', css) if css else "",
            mark_safe(options),  # noqa: S308 - each part went through format_html
        )


def _attrs_html(attrs: dict[str, Any]) -> SafeString:
    return mark_safe(  # noqa: S308 - each part went through format_html
        "".join(
            format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
            for name, value in attrs.items()
            if value is not False
        )
    )


def _checkbox_option(option: dict[str, Any]) -> SafeString:
    value = option["value"]
    tag = format_html(
        '<input type="{}" name="{}"{}{}>\n',
        option["type"],
        option["name"],
        format_html(' value="{}"', value) if value is not None else "",
        _attrs_html(option["attrs"]),
    )
    if not option["wrap_label"]:
        return tag
    id_ = option["attrs"].get("id")
    return format_html(
        "<label{}>{} {}</label>", format_html(' for="{}"', id_) if id_ else "", tag, option["label"]
    )


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
        widget=CheckboxList,
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
