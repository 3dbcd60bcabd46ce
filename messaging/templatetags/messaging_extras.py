"""Template helpers for discussion pages: level and TLP badges."""

from __future__ import annotations

import html
from typing import Any

from django import template
from django.urls import reverse
from django.utils import dateformat, formats, timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from networks.clearance import TLP, level_name

register = template.Library()


@register.filter
def level_label(rank: int) -> str:
    return level_name(int(rank))


@register.filter
def tlp_class(tlp: str) -> str:
    """A CSS class per TLP label, e.g. AMBER+STRICT -> tlp-amber-strict."""
    return "tlp-" + str(tlp).lower().replace("+", "-")


@register.filter
def tlp_label(tlp: str) -> str:
    """ "TLP:AMBER+STRICT": the standard's own label (never translated)."""
    return str(TLP(tlp).label) if tlp in TLP.values else "TLP:?"


@register.simple_tag
def badges(level: int, tlp: str) -> SafeString:
    """An item's level and TLP badges (`{% badges item.level item.tlp %}`): a tag rather
    than an included template, as a page shows them once per message."""
    return format_html(
        '<span class="badge level-badge level-{}" title="{}">{}</span> '
        '<span class="badge tlp-badge {}" title="{}">{}</span>',
        level,
        gettext("Level"),
        level_label(level),
        tlp_class(tlp),
        gettext("Traffic Light Protocol label"),
        tlp_label(tlp),
    )


@register.simple_tag(takes_context=True)
def message_article(context: template.Context, message: Any) -> SafeString:
    """One message of a topic page, as `<article>`.

    A page shows up to a page-size of messages; as an included template each cost about
    3,500 Python calls, and with format_html still 1,300. The markup is the same as the
    template's was; every value is escaped (`_e`, which is what Django's `escape` does,
    without its lazy-string checks) except the message's own HTML, which render_markdown
    sanitised (nh3) when it was stored.
    """
    space_id = context["space"].pk
    user = context["user"]
    author = message.author
    author_name = (
        (author.display_name or author.email) if author is not None else gettext("Former member")
    )
    created = timezone.localtime(message.created_at)
    header = (
        f"<strong>{_e(author_name)}</strong>\n"
        f'<time datetime="{_e(dateformat.format(created, "c"))}">'
        f"{_e(formats.date_format(created, 'SHORT_DATETIME_FORMAT'))}</time>\n"
        f"{badges(message.level, message.tlp)}"
    )
    if message.tlp == TLP.RED:
        names = ", ".join(u.display_name or u.email for u in message.recipients.all())
        header += f'\n<span class="muted recipients">{_e(gettext("To:"))} {_e(names)}</span>'
    if message.edited_at and not message.is_deleted:
        revisions = reverse("message_revisions", args=[space_id, message.pk])
        header += f'\n<a class="muted" href="{_e(revisions)}">{_e(gettext("(edited)"))}</a>'
    if message.is_deleted:
        main = f'<p class="empty">{_e(gettext("This message was deleted."))}</p>'
    else:
        main = (
            f'<div class="message-body">{message.rendered_html}</div>\n'  # sanitised when stored
            f'<footer class="message-actions">{_message_actions(context, message, space_id, user)}'
            "</footer>"
        )
    return mark_safe(  # noqa: S308 - every value above is escaped or sanitised
        f'<article class="message card{" deleted" if message.is_deleted else ""}" '
        f'id="m{int(message.pk)}" data-message-id="{int(message.pk)}" '
        f'data-seq="{int(message.seq)}">\n'
        f'<header class="message-meta">{header}</header>\n{main}\n</article>'
    )


def _e(value: Any) -> str:
    """Django's `escape` (html.escape of the string), minus its lazy-string wrapper."""
    return html.escape(str(value))


def _message_actions(context: template.Context, message: Any, space_id: int, user: Any) -> str:
    token = context.get("csrf_token")
    csrf = (  # as {% csrf_token %} renders it
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{_e(token)}">'
        if token and token != "NOTPROVIDED"  # noqa: S105 - Django's "no token" marker
        else ""
    )
    pk = int(message.pk)
    reactions = "".join(
        f'<li class="badge" data-emoji="{_e(r["emoji"])}">{_e(r["emoji"])} {int(r["count"])}</li>'
        for r in message.reaction_summary
    )
    parts = [f'<ul class="reactions">{reactions}</ul>']
    if context.get("can_post"):
        react = reverse("reaction_toggle", args=[space_id, pk])
        options = conditional_escape(context.get("emoji_options", ""))
        parts.append(
            f'<form method="post" action="{_e(react)}" class="inline-form">{csrf}'
            f'<label class="visually-hidden" for="react-{pk}">{_e(gettext("Reaction"))}</label>'
            f'<select id="react-{pk}" name="emoji">{options}'
            f'</select><button type="submit" class="button-secondary">{_e(gettext("React"))}'
            "</button></form>"
        )
    if message.author_id == user.pk:
        edit = reverse("message_edit", args=[space_id, pk])
        parts.append(f'<a href="{_e(edit)}">{_e(gettext("Edit"))}</a>')
    if getattr(message, "can_delete", False):
        delete = reverse("message_delete", args=[space_id, pk])
        parts.append(
            f'<form method="post" action="{_e(delete)}" class="inline-form">{csrf}'
            f'<button type="submit" class="link-button">{_e(gettext("Delete"))}</button></form>'
        )
    return "\n".join(parts)
