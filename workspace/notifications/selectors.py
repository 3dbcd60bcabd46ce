"""Reads for notifications: the ones a user may still see, and their unread count.

Whether a notification is shown is decided at read time by `networks.access`, never by
what was true when it was created: content kinds go through `filter_visible` (level,
TLP, active membership, MFA), join requests need the moderate permission today, and
invitations are addressed to the user alone.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)

from networks.access import (
    Action,
    ItemLabels,
    access_space,
    can_see_item,
    delivery_memberships_of_users,
    filter_visible,
    user_has_completed_mfa,
)
from workspace.notifications.models import (
    CONTENT_KINDS,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from workspace.prepared import Prepared


def _may_moderate(user: Any, space_id: int) -> bool:
    try:
        access_space(user, space_id, action=Action.MODERATE)
    except PermissionDenied:
        return False
    return True


def _moderated_space_ids(user: Any, base: QuerySet[Notification]) -> list[int]:
    space_ids = (
        base.filter(kind=NotificationKind.JOIN_REQUEST)
        .order_by()
        .values_list("space_id", flat=True)
        .distinct()
    )
    return [space_id for space_id in space_ids if _may_moderate(user, space_id)]


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
    """`visible_notifications(...).filter(read_at__isnull=True).count()`, in fewer queries,
    because the header bell shows it on every page: one grouped query, plus the note and
    moderation checks only when the user has such notifications."""
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    content = filter_visible(unread.filter(kind__in=CONTENT_KINDS), user)  # checks MFA
    groups = (
        unread.filter(Q(pk__in=content.values("pk")) | ~Q(kind__in=CONTENT_KINDS))
        .annotate(
            in_discussion=ExpressionWrapper(
                Q(topic__note__isnull=False), output_field=BooleanField()
            )
        )
        .order_by()
        .values("kind", "space_id", "in_discussion")
        .annotate(n=Count("pk"))
    )
    total = 0
    moderated: dict[int, bool] = {}
    needs_note_check = False
    mfa: bool | None = None
    for group in groups:
        kind, space_id = group["kind"], group["space_id"]
        if kind == NotificationKind.JOIN_REQUEST:
            if space_id not in moderated:
                moderated[space_id] = _may_moderate(user, space_id)
            total += group["n"] if moderated[space_id] else 0
        elif kind == NotificationKind.INVITATION:
            if mfa is None:
                mfa = user_has_completed_mfa(user)
            total += group["n"] if mfa else 0
        elif group["in_discussion"]:
            needs_note_check = True  # a message in a note's discussion: the note decides
        else:
            total += group["n"]
    if needs_note_check:
        in_discussions = content.filter(topic__note__isnull=False)
        total += _outside_hidden_discussions(in_discussions, user).count()
    return total


# Users per statement of `unread_counts` (SQLite allows 999 parameters).
_MANY_USERS_CHUNK = 400


def _with_mfa(*user_ids: int) -> QuerySet[Any]:
    from allauth.mfa.models import Authenticator

    from workspace.accounts.adapter import MFA_TYPES

    return Authenticator.objects.filter(user_id__in=user_ids, type__in=MFA_TYPES).values_list(
        "user_id", flat=True
    )


def _unread_groups(*user_ids: int) -> QuerySet[Any]:
    named = Notification.recipients.through.objects.filter(
        notification_id=OuterRef("pk"), user_id=OuterRef("user_id")
    )
    return (
        Notification.objects.filter(user_id__in=user_ids, read_at__isnull=True)
        .annotate(
            in_discussion=ExpressionWrapper(
                Q(topic__note__isnull=False), output_field=BooleanField()
            ),
            own=ExpressionWrapper(Q(author_id=F("user_id")), output_field=BooleanField()),
            named=Exists(named),
        )
        .order_by()
        .values_list(
            "user_id", "kind", "space_id", "level", "tlp", "own", "named", "in_discussion"
        )
        .annotate(n=Count("pk"))
    )


# One statement per number of users, for the first 64 numbers seen.
_WITH_MFA = Prepared(_with_mfa, shapes=64)
_UNREAD_GROUPS = Prepared(_unread_groups, shapes=64)


def unread_counts(users: list[Any]) -> list[int]:
    """`unread_count` for each of `users`, in three queries however many (per 400 users):
    the sockets a count ring reached in one batch (a new document rings a whole space).

    The unread notifications are counted per user and per set of labels (kind, space,
    level, TLP, whether the user wrote the item or is one of its TLP:RED recipients, and
    whether it lies in a note's discussion); each group is then judged by the access rule
    in memory (`networks.access.can_see_item`, with the memberships delivery reads: active,
    of an active user with MFA), as `delivery_memberships` does for events. The rare cases
    that need another check are asked of `unread_count` itself: a join request (the
    moderate permission) and a message in a note's discussion (the note's own labels).

    Every post rings its topic's followers, so this runs for most sockets after most
    posts: its three statements are built once per number of users (`Prepared`), and the
    memberships are delivery's narrow rows. Built afresh each time, the ORM's compiling
    was two thirds of a call's 12 ms (25 users, the load test's database).
    """
    counts: dict[int, int] = {}
    ask_one: set[int] = set()
    ids = sorted({u.pk for u in users if u.is_authenticated and u.is_active})
    for start in range(0, len(ids), _MANY_USERS_CHUNK):
        chunk = ids[start : start + _MANY_USERS_CHUNK]
        mfa = set(_WITH_MFA.list(*chunk))
        memberships = delivery_memberships_of_users(chunk)
        for user_id, kind, space_id, level, tlp, own, is_named, in_discussion, n in (
            _UNREAD_GROUPS.list(*chunk)
        ):
            if kind == NotificationKind.JOIN_REQUEST or (kind in CONTENT_KINDS and in_discussion):
                ask_one.add(user_id)
            elif kind == NotificationKind.INVITATION:
                counts[user_id] = counts.get(user_id, 0) + (n if user_id in mfa else 0)
            elif kind not in CONTENT_KINDS:
                counts[user_id] = counts.get(user_id, 0) + n
            else:
                membership = memberships.get((space_id, user_id))
                labels = ItemLabels(
                    space_id=space_id,
                    level=level,
                    tlp=tlp,
                    author_id=user_id if own else None,
                    recipient_ids=frozenset({user_id}) if is_named else frozenset(),
                )
                seen = membership is not None and can_see_item(membership, labels)
                counts[user_id] = counts.get(user_id, 0) + (n if seen else 0)
    by_id: dict[int, int] = {}
    for user in users:
        if user.pk in ask_one and user.pk not in by_id:
            by_id[user.pk] = unread_count(user=user)
    return [
        by_id.get(u.pk, counts.get(u.pk, 0)) if u.is_authenticated and u.is_active else 0
        for u in users
    ]


def notification_page_rows(*, user: Any) -> QuerySet[Notification]:
    return visible_notifications(user=user).select_related(
        "space", "author", "message", "topic", "document", "invitation", "join_request"
    )


def preference_for(*, user: Any) -> NotificationPreference:
    """The user's preference, or the default one (not saved)."""
    pref = NotificationPreference.objects.filter(user_id=user.pk).first()
    return pref or NotificationPreference(user=user)
