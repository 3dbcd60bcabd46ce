"""Messaging forms: they parse and validate input; services enforce every rule again."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from messaging.app_settings import messaging_settings
from messaging.models import Emoji
from networks.clearance import TLP, level_choices

# Django renders a widget through its templates (django/forms/widgets/*.html), with an
# include per attribute list and per option: on a topic page the message form's four plain
# widgets cost about a sixth of the page. These classes build the same HTML in Python, from
# the same context Django's `get_context` gives the templates; tests/messaging/
# test_forms.py compares them with Django's output byte for byte, hostile values included.
# `{{ value }}` in those templates is `conditional_escape(value)`; so is
# `{{ value|stringformat:'s' }}` (an is_safe filter: safe input stays unescaped).


def _widget_attrs(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html"""
    return "".join(
        f" {conditional_escape(name)}"
        if value is True
        else f' {conditional_escape(name)}="{conditional_escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


_INPUT_TEMPLATES = ("django/forms/widgets/input.html", "django/forms/widgets/hidden.html")


class FastInput:
    """For `forms.Input` subclasses: django/forms/widgets/input.html."""

    def _render(self, template_name: str, context: dict[str, Any], renderer: Any = None) -> Any:
        if template_name not in _INPUT_TEMPLATES:
            return super()._render(template_name, context, renderer)  # type: ignore[misc]
        w = context["widget"]
        value = "" if w["value"] is None else f' value="{conditional_escape(w["value"])}"'
        return mark_safe(  # noqa: S308 - every value escaped as the template does
            f'<input type="{conditional_escape(w["type"])}" name="{conditional_escape(w["name"])}"'
            f"{value}{_widget_attrs(w['attrs'])}>"
        )


class FastTextarea(forms.Textarea):
    """django/forms/widgets/textarea.html"""

    def _render(self, template_name: str, context: dict[str, Any], renderer: Any = None) -> Any:
        if template_name != "django/forms/widgets/textarea.html":
            return super()._render(template_name, context, renderer)
        w = context["widget"]
        value = conditional_escape(w["value"]) if w["value"] else ""
        name = conditional_escape(w["name"])
        html = f'<textarea name="{name}"{_widget_attrs(w["attrs"])}>\n{value}</textarea>'
        return mark_safe(html.strip())  # noqa: S308 - as the renderer does; values escaped


class FastHiddenInput(FastInput, forms.HiddenInput):
    pass


class FastSelect(forms.Select):
    """django/forms/widgets/select.html and select_option.html"""

    def _render(self, template_name: str, context: dict[str, Any], renderer: Any = None) -> Any:
        if template_name != "django/forms/widgets/select.html" or any(
            option["template_name"] != "django/forms/widgets/select_option.html"
            for _name, options, _index in context["widget"]["optgroups"]
            for option in options
        ):
            return super()._render(template_name, context, renderer)
        w = context["widget"]
        parts = [f'<select name="{conditional_escape(w["name"])}"{_widget_attrs(w["attrs"])}>']
        for group_name, options, _index in w["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            parts.extend(
                f'\n  <option value="{conditional_escape(option["value"])}"'
                f"{_widget_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
                for option in options
            )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value escaped as the templates do


class CheckboxList(forms.CheckboxSelectMultiple):
    """django/forms/widgets/checkbox_select.html (with multiple_input.html, input_option.html,
    input.html and attrs.html), for a choice list without groups; with groups it falls back
    to Django's templates. With a space's 50 members the templates were a fifth of a topic
    page's time."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        if any(group for group, _options, _index in widget["optgroups"]):
            return super().render(name, value, attrs, renderer)
        options = "".join(
            f"<div>\n    {_checkbox_option(option)}\n\n</div>"
            for _group, group_options, _index in widget["optgroups"]
            for option in group_options
        )
        id_, css = widget["attrs"].get("id"), widget["attrs"].get("class")
        id_html = f' id="{conditional_escape(id_)}"' if id_ else ""
        css_html = f' class="{conditional_escape(css)}"' if css else ""
        return mark_safe(f"<div{id_html}{css_html}>{options}\n</div>")  # noqa: S308 - escaped


def _checkbox_option(option: dict[str, Any]) -> str:
    value = option["value"]
    value_html = f' value="{conditional_escape(value)}"' if value is not None else ""
    tag = (
        f'<input type="{conditional_escape(option["type"])}" '
        f'name="{conditional_escape(option["name"])}"{value_html}{_widget_attrs(option["attrs"])}>\n'
    )
    if not option["wrap_label"]:
        return tag
    id_ = option["attrs"].get("id")
    for_html = f' for="{conditional_escape(id_)}"' if id_ else ""
    return f"<label{for_html}>{tag} {conditional_escape(option['label'])}</label>"


class TopicForm(forms.Form):
    name = forms.CharField(label=_("Topic name"), max_length=120)


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Message"),
        widget=FastTextarea(attrs={"rows": 4}),
        help_text=_("Markdown is supported. Mention a member with @**name**."),
    )
    level = forms.TypedChoiceField(label=_("Level"), coerce=int, choices=(), widget=FastSelect)
    tlp = forms.ChoiceField(
        label=_("TLP"), choices=TLP.choices, initial=TLP.GREEN, widget=FastSelect
    )
    recipients = forms.ModelMultipleChoiceField(
        label=_("Recipients (TLP:RED only)"),
        required=False,
        queryset=None,
        widget=CheckboxList,
    )
    # Generated when the form is shown: submitting the same form twice stores one message.
    client_id = forms.UUIDField(widget=FastHiddenInput, initial=uuid.uuid4)

    def __init__(self, *args: Any, clearance: int, members: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"].max_length = messaging_settings().max_body_chars
        self.fields["body"].validators.append(
            forms.CharField(max_length=messaging_settings().max_body_chars).validators[-1]
        )
        self.fields["level"].choices = [c for c in level_choices() if c[0] <= clearance]
        recipients = self.fields["recipients"]
        recipients.queryset = members  # what a submitted choice is checked against
        # What is shown: three columns of each member in one plain query. Django's
        # ModelChoiceIterator builds a full user row per member through a server-side
        # cursor (three round trips on PostgreSQL), at every render.
        shown = members.values_list("pk", "display_name", "email")
        recipients.widget.choices = [(pk, name or email) for pk, name, email in shown]


class EditForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 6}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = messaging_settings().max_body_chars
        self.fields["body"].max_length = limit
        self.fields["body"].validators.append(forms.CharField(max_length=limit).validators[-1])


class ReactionForm(forms.Form):
    emoji = forms.ChoiceField(choices=Emoji.choices)
