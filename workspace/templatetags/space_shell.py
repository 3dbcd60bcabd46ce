"""The navigation around every page of a space: the sidebar and the tab bar.

Any space page gets it by extending templates/networks/space_base.html, whose view need
pass only `space`: the tags read the rest (messaging.selectors.space_shell), once per
page render, and pick the active tab and topic from the URL that was resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.utils import timezone

from documents.selectors import documents_visible
from messaging.note_selectors import NoteFilters, note_list
from messaging.selectors import SpaceShell, space_shell
from networks.access import Action, is_network_admin
from networks.permissions import ROLE_PERMISSIONS
from networks.selectors import space_moderator_names

register = template.Library()

# The URL names of each tab's pages (workspace/urls.py).
TAB_OF_URL = {
    "space_detail": "overview",
    "topic_list": "discussions",
    "topic_detail": "discussions",
    "message_edit": "discussions",
    "message_revisions": "discussions",
    "note_list": "notes",
    "note_create": "notes",
    "note_detail": "notes",
    "note_edit": "notes",
    "note_export": "notes",
    "note_list_export": "notes",
    "document_list": "documents",
    "document_new": "documents",
    "document_detail": "documents",
    "space_members": "members",
    "space_audit": "audit",
    "space_insight": "insight",
}


@dataclass(frozen=True)
class Shell:
    """One page's navigation: the reads, the active tab and topic, the tabs to show."""

    data: SpaceShell
    active_tab: str
    active_topic_id: int | None
    can_manage_members: bool
    can_moderate: bool
    clearance_expired: bool
    moderators: list[str]


def _build(context: template.Context, space: Any) -> Shell:
    request = context.get("request")
    user = context.get("user")
    match = getattr(request, "resolver_match", None)
    url_name = getattr(match, "url_name", "") or ""
    topic_id = (getattr(match, "kwargs", None) or {}).get("topic_id")
    data = space_shell(user=user, space_id=space.pk)
    membership = data.membership
    granted = ROLE_PERMISSIONS.get(membership.role, frozenset()) if membership else frozenset()
    can_manage = Action.MANAGE_MEMBERS in granted
    can_moderate = Action.MODERATE in granted
    if not (can_manage and can_moderate) and is_network_admin(user, space.network_id):
        can_manage = can_moderate = True
    expires = getattr(membership, "clearance_expires_at", None)
    expired = expires is not None and expires <= timezone.now()
    return Shell(
        data=data,
        active_tab=TAB_OF_URL.get(url_name, ""),
        active_topic_id=topic_id,
        can_manage_members=can_manage,
        can_moderate=can_moderate,
        clearance_expired=expired,
        moderators=space_moderator_names(space_id=space.pk) if expired else [],
    )


@register.simple_tag(takes_context=True)
def space_shell_for(context: template.Context, space: Any) -> Shell | None:
    """The page's shell, read once however many parts of the page ask for it."""
    if space is None or getattr(space, "pk", None) is None:
        return None
    key = ("space_shell", space.pk)
    memo = context.render_context
    if key not in memo:
        memo[key] = _build(context, space)
    return memo[key]


OVERVIEW_ROWS = 5


@register.simple_tag(takes_context=True)
def space_recent(context: template.Context, space: Any) -> dict[str, list[Any]]:
    """The space overview's newest documents and notes the user may see (two queries,
    each through the access rule)."""
    user = context.get("user")
    return {
        "documents": list(documents_visible(user=user, space_id=space.pk)[:OVERVIEW_ROWS]),
        "notes": list(
            note_list(user=user, space_id=space.pk, filters=NoteFilters())[:OVERVIEW_ROWS]
        ),
    }
