"""Writes for notifications.

The services of networks, messaging and documents call the hooks below inside their own
transaction, so a notification exists exactly when its item does. Each hook notifies only
users who may see the item (`networks.access`); the count update to the user's sockets
and any immediate email go out after commit. This module imports neither messaging nor
documents: it receives their objects and their `ItemLabels`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from networks.access import (
    Action,
    ItemLabels,
    access_space,
    can_see_item,
    delivery_memberships,
)
from networks.clearance import TLP
from networks.models import Membership, MembershipStatus, Role
from workspace.notifications import selectors
from workspace.notifications.models import (
    EmailFrequency,
    Notification,
    NotificationKind,
    NotificationPreference,
    TopicFollow,
)
from workspace.prepared import Prepared
from workspace.realtime import group_send_many, user_group

# The channel-layer message the consumer forwards as a `notification` frame.
COUNT_MESSAGE_TYPE = "notification.count"


# --- delivery after commit -----------------------------------------------------------


def push_counts(user_ids: Iterable[int]) -> None:
    """Ring each user's sockets: their unread count changed. The doorbell carries nothing;
    each open socket counts for its own user (batched per process), so the writer's
    transaction never pays one count query per follower, and users with no socket open
    cost nothing. All the rings go in one batch (`workspace.realtime.group_send_many`)."""
    group_send_many(
        (user_group(user_id), {"type": COUNT_MESSAGE_TYPE}) for user_id in sorted(set(user_ids))
    )


def push_counts_on_commit(user_ids: Iterable[int]) -> None:
    ids = sorted(set(user_ids))
    if ids:
        transaction.on_commit(lambda: push_counts(ids))


def _visible_to(
    user_ids: Iterable[int], labels: ItemLabels, *, also: ItemLabels | None = None
) -> list[int]:
    """Those of `user_ids` who may see the item (and `also` the item containing it): one
    query, the rule of networks.access."""
    user_ids = list(user_ids)
    if not user_ids:
        return []
    memberships = delivery_memberships(space_id=labels.space_id, user_ids=user_ids)
    return sorted(
        uid
        for uid, m in memberships.items()
        if can_see_item(m, labels) and (also is None or can_see_item(m, also))
    )


def _notify(
    user_ids: Iterable[int], *, kind: str, labels: ItemLabels, new: bool = False, **item: Any
) -> list[Notification]:
    """One notification per user, in a constant number of queries however many users (a
    new document notifies a whole space), none when there is nobody to notify. At most
    one per user and message: an edit that mentions someone again does not notify them
    twice. `new`: the item was made in this transaction, so nobody has one about it yet."""
    user_ids = set(user_ids)
    if not user_ids:
        return []
    message = item.get("message")
    if message is not None and not new:
        user_ids -= set(
            Notification.objects.filter(
                kind=kind, message=message, user_id__in=user_ids
            ).values_list("user_id", flat=True)
        )
    created = Notification.objects.bulk_create(
        Notification(
            user_id=user_id,
            kind=kind,
            space_id=labels.space_id,
            level=labels.level,
            tlp=labels.tlp,
            author_id=labels.author_id,
            **item,
        )
        for user_id in sorted(user_ids)
    )
    if labels.recipient_ids:
        through = Notification.recipients.through
        through.objects.bulk_create(
            through(notification_id=n.pk, user_id=r) for n in created for r in labels.recipient_ids
        )
    push_counts_on_commit(n.user_id for n in created)
    return created


# --- hooks called by the other apps' services -------------------------------------------


def message_posted(
    *,
    message: Any,
    labels: ItemLabels,
    mention_ids: Iterable[int],
    discussion: ItemLabels | None,
    edited: bool = False,
) -> list[Notification]:
    """Mentions (messaging chose who may see the message; checked again here) and, for a
    new message, replies to the topic's followers. The poster and the topic's author
    follow it, unless they chose not to. `discussion` is the labels of the note whose
    discussion the topic is (None for an ordinary topic), read by messaging in the same
    transaction: its messages are hidden from whoever may not see the note."""
    author_id = message.author_id
    mentioned = _visible_to(
        [uid for uid in mention_ids if uid != author_id], labels, also=discussion
    )
    created = _notify(
        mentioned,
        kind=NotificationKind.MENTION,
        labels=labels,
        new=not edited,
        message=message,
        topic_id=message.topic_id,
    )
    if not edited:
        followers = _followers_to_tell(message, labels, skip={author_id, *mentioned})
        created += _notify(
            _visible_to(followers, labels, also=discussion),
            kind=NotificationKind.REPLY,
            labels=labels,
            new=True,
            message=message,
            topic_id=message.topic_id,
        )
    _email_mentions_on_commit([n.pk for n in created if n.kind == NotificationKind.MENTION])
    return created


def _follows(topic_id: int, level: int, *user_ids: int, shape: tuple[bool, str]) -> QuerySet:
    """(user id, following, waiting) of the topic's follows: those following or among
    `user_ids` ("following or"), or only those among `user_ids` ("only"). `waiting`: the
    user has an unread reply notification of the topic that they can see whenever they
    can see a message at `level` (never for a TLP:RED message, shape[0])."""
    red, which = shape
    follows = TopicFollow.objects.filter(topic_id=topic_id)
    if red:
        follows = follows.annotate(waiting=Value(False))
    else:
        follows = follows.annotate(
            waiting=Exists(
                Notification.objects.filter(
                    user_id=OuterRef("user_id"),
                    kind=NotificationKind.REPLY,
                    topic_id=topic_id,
                    read_at__isnull=True,
                    level__lte=level,
                ).exclude(tlp=TLP.RED)
            )
        )
    if which == "only":
        follows = follows.filter(user_id__in=user_ids)
    else:
        follows = follows.filter(Q(following=True) | Q(user_id__in=user_ids))
    return follows.values_list("user_id", "following", "waiting")


# Read for every new message: its SQL is built once per shape (workspace/prepared.py).
_FOLLOWS = Prepared(_follows, shaped=True)


def _followers_to_tell(message: Any, labels: ItemLabels, *, skip: set[int]) -> list[int]:
    """The topic's followers (but `skip`) to tell of a new message, who may then be told
    only if they may see it; the poster and the topic's author are made followers first.

    One unread reply notification per follower and topic: a follower who still has an
    unread one that they can see whenever they can see this message (not TLP:RED, level
    at most this one's) is not notified again until they read the topic. A busy topic
    would otherwise write a row, and ring every follower's sockets, for every message.

    One query (the follows, each with whether it has such an unread reply) once the
    poster follows the topic; the poster's first message there adds the insert.
    """
    topic = message.topic
    starters = {message.author_id, topic.created_by_id} - {None}
    red = labels.tlp == TLP.RED
    found = {
        uid: (following, waiting)
        for uid, following, waiting in _FOLLOWS.list(
            topic.pk, labels.level, *sorted(starters), shape=(red, "following or")
        )
    }
    missing = starters - found.keys()
    if missing:
        TopicFollow.objects.bulk_create(  # one statement; an existing choice stays as it is
            [TopicFollow(user_id=user_id, topic_id=topic.pk) for user_id in sorted(missing)],
            ignore_conflicts=True,
        )
        if missing - skip:  # what the insert left (a choice made meanwhile stays)
            found.update(
                (uid, (following, waiting))
                for uid, following, waiting in _FOLLOWS.list(
                    topic.pk, labels.level, *sorted(missing - skip), shape=(red, "only")
                )
            )
    return sorted(
        uid
        for uid, (following, waiting) in found.items()
        if following and not waiting and uid not in skip
    )


def document_added(*, document: Any, labels: ItemLabels) -> list[Notification]:
    """A new document: every member who may see it, except its author."""
    members = (
        Membership.objects.filter(space_id=document.space_id, status=MembershipStatus.ACTIVE)
        .exclude(user_id=document.author_id)
        .values_list("user_id", flat=True)
    )
    return _notify(
        _visible_to(members, labels),
        kind=NotificationKind.DOCUMENT,
        labels=labels,
        document=document,
    )


def invitation_sent(*, invitation: Any) -> list[Notification]:
    """An invitation to someone who already has an account (the email is the identity)."""
    from workspace.accounts.models import User

    user = User.objects.filter(email__iexact=invitation.email, is_active=True).first()
    if user is None:
        return []
    labels = ItemLabels(
        space_id=invitation.space_id, level=0, tlp=TLP.CLEAR, author_id=invitation.invited_by_id
    )
    return _notify(
        [user.pk], kind=NotificationKind.INVITATION, labels=labels, invitation=invitation
    )


def join_requested(*, join_request: Any) -> list[Notification]:
    """A join request: the space's moderators who may moderate it now."""
    from workspace.accounts.models import User

    candidates = User.objects.filter(
        pk__in=Membership.objects.filter(
            space_id=join_request.space_id,
            role=Role.MODERATOR,
            status=MembershipStatus.ACTIVE,
        ).values("user_id")
    )
    moderators = []
    for user in candidates:
        try:
            access_space(user, join_request.space_id, action=Action.MODERATE)
        except PermissionDenied:
            continue
        moderators.append(user.pk)
    labels = ItemLabels(
        space_id=join_request.space_id, level=0, tlp=TLP.CLEAR, author_id=join_request.user_id
    )
    return _notify(
        moderators,
        kind=NotificationKind.JOIN_REQUEST,
        labels=labels,
        join_request=join_request,
    )


def _email_mentions_on_commit(notification_ids: list[int]) -> None:
    if not notification_ids:
        return

    def send() -> None:
        from workspace.notifications.emails import mention_email_send

        for pk in notification_ids:
            mention_email_send(notification_id=pk)

    transaction.on_commit(send)


# --- the user's own actions ----------------------------------------------------------


@transaction.atomic
def topic_follow_set(*, topic: Any, following: bool, acting_user: Any) -> TopicFollow:
    access_space(acting_user, topic.space_id, action=Action.VIEW)
    follow, _created = TopicFollow.objects.update_or_create(
        user=acting_user, topic_id=topic.pk, defaults={"following": bool(following)}
    )
    return follow


@transaction.atomic
def notification_mark_read(*, notification_id: int, acting_user: Any) -> Notification:
    """Mark one of the user's own visible notifications read; anything else does not exist."""
    notification = selectors.visible_notifications(user=acting_user).get(pk=notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        push_counts_on_commit([acting_user.pk])
    return notification


def topic_read(*, topic: Any, seq: int, acting_user: Any) -> int:
    """Reading a topic up to `seq` (messaging's read marker) reads its mentions and
    replies up to there too; called inside messaging's transaction."""
    count = Notification.objects.filter(
        user_id=acting_user.pk,
        read_at__isnull=True,
        kind__in=[NotificationKind.MENTION, NotificationKind.REPLY],
        topic_id=topic.pk,
        message__seq__lte=seq,
    ).update(read_at=timezone.now())
    if count:
        push_counts_on_commit([acting_user.pk])
    return count


@transaction.atomic
def notification_mark_all_read(*, acting_user: Any) -> int:
    count = Notification.objects.filter(user_id=acting_user.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if count:
        push_counts_on_commit([acting_user.pk])
    return count


def preference_set(*, email: str, language: str, acting_user: Any) -> NotificationPreference:
    if email not in EmailFrequency.values:
        raise ValidationError(_("Unknown email setting."), code="invalid_email_setting")
    if language and language not in dict(settings.LANGUAGES):
        raise ValidationError(_("Unknown language."), code="invalid_language")
    pref, _created = NotificationPreference.objects.update_or_create(
        user=acting_user, defaults={"email": email, "language": language}
    )
    return pref
