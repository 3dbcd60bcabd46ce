"""Template helpers for discussion pages: level and TLP badges, one message's markup."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC
from typing import Any

from django import template
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_noop

from messaging.models import Emoji
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


EMOJI: dict[str, str] = dict(Emoji.choices)  # stored code -> the emoji shown (one place)
_EMOJI_ORDER = {code: index for index, code in enumerate(EMOJI)}

# Translated inside the f-strings below, where makemessages (xgettext) cannot see them.
_F_STRING_LABELS = (
    gettext_noop("To:"),
    gettext_noop("(edited)"),
    gettext_noop("Add reaction"),
    gettext_noop("Reaction"),
    gettext_noop("React"),
    gettext_noop("Reply"),
    gettext_noop("Delete"),
)


@register.simple_tag(takes_context=True)
def message_url(context: template.Context) -> str:
    """A message's URL prefix with id 0 (`/spaces/1/messages/0/`), for realtime.js."""
    return reverse("message_revisions", args=[context["space"].pk, 0]).removesuffix("revisions/")


@register.simple_tag
def emoji_json() -> str:
    """The reaction allow-list as JSON, for realtime.js (a data attribute, escaped there)."""
    return json.dumps(list(Emoji.choices), ensure_ascii=False)


@register.simple_tag(takes_context=True)
def message_article(context: template.Context, message: Any) -> SafeString:
    """One message of a topic page, as `<article>`.

    realtime.js builds live messages by cloning `message_template` (the same function with
    every optional part present) and filling it, so a message looks and behaves the same
    whether it came with the page or over the socket; tests/e2e/test_chat_message.py
    compares the two. A page shows up to a page-size of messages, so this is Python
    rather than an included template; every value is escaped (`_e`, which is what Django's
    `escape` does, without its lazy-string checks) except the message's own HTML, which
    render_markdown sanitised (nh3) when it was stored.
    """
    author = message.author
    author_name = (
        (author.display_name or author.email) if author is not None else gettext("Former member")
    )
    recipients = None
    if message.tlp == TLP.RED:
        recipients = ", ".join(u.display_name or u.email for u in message.recipients.all())
    return _article(
        context,
        pk=int(message.pk),
        seq=int(message.seq),
        author_id=message.author_id,
        author_name=author_name,
        created=message.created_at,
        level=message.level,
        tlp=message.tlp,
        recipients=recipients,
        edited=bool(message.edited_at) and not message.is_deleted,
        deleted=message.is_deleted,
        html=message.rendered_html,
        reactions=getattr(message, "reaction_summary", []),
        can_edit=message.author_id == context["user"].pk,
        can_delete=getattr(message, "can_delete", False),
    )


@register.simple_tag(takes_context=True)
def message_template(context: template.Context) -> SafeString:
    """The `<template>` realtime.js clones for a live message: an article with every
    optional part (recipients, edited link, controls) that the script removes or fills."""
    return mark_safe(  # noqa: S308 - built by _article, which escapes every value
        '<template id="message-template">'
        + _article(
            context,
            pk=0,
            seq=0,
            author_id=0,
            author_name="",
            created=None,
            level=0,
            tlp=TLP.CLEAR,
            recipients="",
            edited=True,
            deleted=False,
            html="",
            reactions=[],
            can_edit=True,
            can_delete=True,
        )
        + "</template>"
        + '<template id="reaction-template">'
        + reaction_button(Emoji.THUMBS_UP.value, [0], [""], mine=False)
        + "</template>"
    )


def _article(
    context: template.Context,
    *,
    pk: int,
    seq: int,
    author_id: int | None,
    author_name: str,
    created: Any,
    level: int,
    tlp: str,
    recipients: str | None,
    edited: bool,
    deleted: bool,
    html: str,
    reactions: list[dict[str, Any]],
    can_edit: bool,
    can_delete: bool,
) -> SafeString:
    space_id = context["space"].pk

    def url(name: str) -> str:
        # The template's links name their route ("#message_edit"); realtime.js puts the
        # live message's own URL there (the page's data-message-url, with its verb).
        return f"#{name}" if pk == 0 else reverse(name, args=[space_id, pk])

    # UTC ISO 8601, as the socket's payload gives it; the browser shows it in its own zone.
    iso = created.astimezone(UTC).isoformat() if created is not None else ""
    shown = (
        formats.date_format(timezone.localtime(created), "SHORT_DATETIME_FORMAT")
        if created is not None
        else ""
    )
    header = (
        f"<strong>{_e(author_name)}</strong>\n"
        f'<a class="message-time" href="#m{pk}"><time datetime="{_e(iso)}">{_e(shown)}</time></a>\n'
        f"{badges(level, tlp)}"
    )
    if recipients is not None:
        header += f'\n<span class="muted recipients">{_e(gettext("To:"))} {_e(recipients)}</span>'
    if edited:
        revisions = url("message_revisions")
        header += (
            f'\n<a class="muted message-edited" href="{_e(revisions)}">'
            f"{_e(gettext('(edited)'))}</a>"
        )
    if deleted:
        main = f'<p class="empty">{_e(gettext("This message was deleted."))}</p>'
    else:
        actions = _message_actions(context, pk, url, reactions, can_edit, can_delete)
        main = (
            f'<div class="message-body">{html}</div>\n'  # sanitised when stored
            f'<footer class="message-actions">{actions}</footer>'
        )
    return mark_safe(  # noqa: S308 - every value above is escaped or sanitised
        f'<article class="message{" deleted" if deleted else ""}" '
        f'id="m{pk}" data-message-id="{pk}" data-seq="{seq}" '
        f'data-author-id="{int(author_id or 0)}">\n'
        f'<header class="message-meta">{header}</header>\n{main}\n</article>'
    )


def _e(value: Any) -> str:
    """Django's `escape` (html.escape of the string), minus its lazy-string wrapper."""
    return html.escape(str(value))


def reaction_button(code: str, user_ids: list[int], names: list[str], *, mine: bool) -> str:
    """One reaction chip: a toggle (a submit button without JS) that says who reacted."""
    emoji = EMOJI.get(code, "?")
    who = ", ".join(names)
    return (
        f'<button type="submit" name="emoji" value="{_e(code)}" class="reaction" '
        f'aria-pressed="{"true" if mine else "false"}" '
        f'data-user-ids="{" ".join(str(int(i)) for i in user_ids)}" data-who="{_e(who)}" '
        f'aria-label="{_e(emoji)} {len(user_ids)}: {_e(who)}">'
        f'<span aria-hidden="true">{_e(emoji)}</span> '
        f'<span class="reaction-count" aria-hidden="true">{len(user_ids)}</span></button>'
    )


def _message_actions(
    context: template.Context,
    pk: int,
    url: Callable[[str], str],
    reactions: list[dict[str, Any]],
    can_edit: bool,
    can_delete: bool,
) -> str:
    token = context.get("csrf_token")
    csrf = (  # as {% csrf_token %} renders it
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{_e(token)}">'
        if token and token != "NOTPROVIDED"  # noqa: S105 - Django's "no token" marker
        else ""
    )
    user_id = context["user"].pk
    names: dict[int, str] = context.get("member_names") or {}
    react = url("reaction_toggle")
    chips = "".join(
        reaction_button(
            r["emoji"],
            sorted(r["user_ids"]),
            [names.get(i) or r.get("names", {}).get(i, "?") for i in sorted(r["user_ids"])],
            mine=user_id in r["user_ids"],
        )
        for r in sorted(reactions, key=lambda r: _EMOJI_ORDER.get(r["emoji"], 99))
    )
    reactions_form = (
        f'<form method="post" action="{_e(react)}" class="reactions">{csrf}{chips}</form>'
    )
    parts = []
    if context.get("can_post"):
        options = conditional_escape(context.get("emoji_options", ""))
        parts.append(
            f'<button type="button" class="react-add js-only" aria-haspopup="true" '
            f'aria-expanded="false" aria-label="{_e(gettext("Add reaction"))}">'
            f'<span class="react-add-icon" aria-hidden="true"></span></button>'
            f'<form method="post" action="{_e(react)}" class="inline-form react-form">{csrf}'
            f'<label class="visually-hidden" for="react-{pk}">{_e(gettext("Reaction"))}</label>'
            f'<select id="react-{pk}" name="emoji">{options}'
            f'</select><button type="submit" class="button-secondary">{_e(gettext("React"))}'
            "</button></form>"
            f'<button type="button" class="reply-button link-button js-only">'
            f"{_e(gettext('Reply'))}</button>"
        )
    if can_edit:
        edit = url("message_edit")
        parts.append(f'<a class="edit-link" href="{_e(edit)}">{_e(gettext("Edit"))}</a>')
    if can_delete:
        delete = url("message_delete")
        parts.append(
            f'<form method="post" action="{_e(delete)}" class="inline-form delete-form">{csrf}'
            f'<button type="submit" class="link-button">{_e(gettext("Delete"))}</button></form>'
        )
    if not parts:
        return reactions_form
    return f'{reactions_form}\n<div class="message-tools">{chr(10).join(parts)}</div>'
