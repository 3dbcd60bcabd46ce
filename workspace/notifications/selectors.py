"""Reads for notifications: the ones a user may still see, and their unread count.

Whether a notification is shown is decided at read time by `networks.access`, never by
what was true when it was created: content kinds go through `filter_visible` (level,
TLP, active membership, MFA), join requests need the moderate permission today, and
invitations are addressed to the user alone.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from networks.access import Action, access_space, filter_visible, user_has_completed_mfa
from workspace.notifications.models import (
    CONTENT_KINDS,
    Notification,
    NotificationKind,
    NotificationPreference,
)


def _moderated_space_ids(user: Any, base: QuerySet[Notification]) -> list[int]:
    space_ids = (
        base.filter(kind=NotificationKind.JOIN_REQUEST)
        .order_by()
        .values_list("space_id", flat=True)
        .distinct()
    )
    allowed = []
    for space_id in space_ids:
        try:
            access_space(user, space_id, action=Action.MODERATE)
        except PermissionDenied:
            continue
        allowed.append(space_id)
    return allowed


def _outside_hidden_discussions(
    queryset: QuerySet[Notification], user: Any
) -> QuerySet[Notification]:
    """Drop notifications about messages in the discussion of a note the user may not see
    (as messaging.selectors.in_visible_discussions does, across all spaces at once)."""
    from messaging.models import Note  # local: this app never imports messaging at load

    visible_notes = filter_visible(Note.objects.all(), user).values("pk")
    return queryset.filter(
        Q(topic__isnull=True) | Q(topic__note__isnull=True) | Q(topic__note__in=visible_notes)
    )


def visible_notifications(*, user: Any) -> QuerySet[Notification]:
    """The user's notifications about things they may see now, newest first."""
    base = Notification.objects.filter(user_id=user.pk)
    if not user_has_completed_mfa(user):
        return base.none()
    content = _outside_hidden_discussions(
        filter_visible(base.filter(kind__in=CONTENT_KINDS), user), user
    ).values("pk")
    return base.filter(
        Q(pk__in=content)
        | Q(kind=NotificationKind.INVITATION)
        | Q(kind=NotificationKind.JOIN_REQUEST, space_id__in=_moderated_space_ids(user, base))
    )


def unread_count(*, user: Any) -> int:
    return visible_notifications(user=user).filter(read_at__isnull=True).count()


def notification_page_rows(*, user: Any) -> QuerySet[Notification]:
    return visible_notifications(user=user).select_related(
        "space", "author", "message", "topic", "document", "invitation", "join_request"
    )


def preference_for(*, user: Any) -> NotificationPreference:
    """The user's preference, or the default one (not saved)."""
    pref = NotificationPreference.objects.filter(user_id=user.pk).first()
    return pref or NotificationPreference(user=user)
