"""Reads for messaging: what a user may see, for pages and for real-time delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet

from messaging.models import Event, Mention, Message, Reaction, ReadMarker, SpaceSequence, Topic
from networks.access import (
    ItemLabels,
    access_item,
    can_see_item,
    delivery_memberships,
    filter_visible,
    row_id,
)
from networks.clearance import TLP
from workspace.prepared import Prepared


def message_labels(message: Message) -> ItemLabels:
    """What the access rule needs to know about one message (one query for TLP:RED)."""
    recipients: frozenset[int] = frozenset()
    if message.tlp == TLP.RED:
        recipients = frozenset(message.recipients.values_list("pk", flat=True))
    return ItemLabels(
        space_id=message.space_id,
        level=message.level,
        tlp=message.tlp,
        author_id=message.author_id,
        recipient_ids=recipients,
    )


def _visible_note_ids(*, user: Any, space_id: int) -> QuerySet[Any]:
    from messaging.note_selectors import visible_notes

    return visible_notes(user=user, space_id=space_id).values("pk")


def in_visible_discussions(queryset: QuerySet[Any], *, user: Any, space_id: int,
                           topic_field: str = "topic") -> QuerySet[Any]:
    """Keep rows outside note discussions, or in the discussion of a note the user may see.

    A note's discussion topic is part of the note: its name, its messages and its events
    are hidden from whoever may not see the note, whatever their own labels say, so
    neither the topic list nor unread counts nor replay reveal that the note exists.
    """
    prefix = f"{topic_field}__" if topic_field else ""
    return queryset.filter(
        Q(**{f"{prefix}note__isnull": True})
        | Q(**{f"{prefix}note__in": _visible_note_ids(user=user, space_id=space_id)})
    )


def visible_topics(*, user: Any, space_id: int) -> QuerySet[Topic]:
    """The space's topics the user may see (all but the discussions of hidden notes)."""
    return in_visible_discussions(
        Topic.objects.filter(space_id=space_id), user=user, space_id=space_id, topic_field=""
    )


def visible_topic(*, user: Any, space_id: int, topic_id: Any) -> Topic:
    """One topic the user may see, or Topic.DoesNotExist (hidden and missing alike).

    The same answer as `visible_topics(...).get(pk=topic_id)`, cheaper on the write path:
    an ordinary topic costs one query; only a note's discussion checks the note."""
    from messaging.note_selectors import note_labels

    topic_pk, space_pk = row_id(topic_id), row_id(space_id)
    topic = (
        _TOPIC_WITH_NOTE.first(topic_pk, space_pk)
        if topic_pk is not None and space_pk is not None
        else None
    )
    if topic is None:
        raise Topic.DoesNotExist
    note = getattr(topic, "note", None)
    if note is not None:
        try:
            access_item(user, note_labels(note))
        except PermissionDenied:
            raise Topic.DoesNotExist from None
    return topic


# Read on every post frame: its SQL is built once (workspace/prepared.py).
_TOPIC_WITH_NOTE = Prepared(
    lambda topic_id, space_id: Topic.objects.select_related("note").filter(
        pk=topic_id, space_id=space_id
    )
)


def visible_messages(*, user: Any, space_id: int) -> QuerySet[Message]:
    return in_visible_discussions(
        filter_visible(Message.objects.filter(space_id=space_id), user),
        user=user,
        space_id=space_id,
    )


def topic_messages(*, user: Any, topic: Topic) -> QuerySet[Message]:
    """The topic's messages the user may see, oldest first, with what a page shows."""
    return (
        visible_messages(user=user, space_id=topic.space_id)
        .filter(topic=topic)
        .select_related("author", "deleted_by")
        .prefetch_related(
            "recipients",
            Prefetch(
                "reactions",
                queryset=Reaction.objects.select_related("user").order_by("emoji", "user_id"),
            ),
        )
        .order_by("seq")
    )


def space_head(*, space_id: int) -> int:
    """The last seq handed out in the space (0 before the first event)."""
    value = SpaceSequence.objects.filter(space_id=space_id).values_list("last_seq", flat=True)
    return next(iter(value), 0)


def space_heads(*, space_ids: list[int]) -> dict[int, int]:
    found = dict(
        SpaceSequence.objects.filter(space_id__in=space_ids).values_list("space_id", "last_seq")
    )
    return {space_id: found.get(space_id, 0) for space_id in space_ids}


@dataclass(frozen=True)
class EventBatch:
    """Visible events after a seq, up to the head read first (all of them committed)."""

    head: int
    events: list[Event]
    overflow: bool  # more than `limit` visible events: the client must resync
    # The user's membership as this read found it (None: no access), when the read looked
    # it up; `membership_read` says whether it did.
    membership: Any = None
    membership_read: bool = False


def visible_events_after(
    *, user: Any, space_id: int, after_seq: int, limit: int, upto: int | None = None
) -> EventBatch:
    """The one path for replay and live delivery: the access rule is applied in SQL.

    The head is read first; seq order is commit order (the seq is assigned under a row
    lock), so every event up to the head has committed and none can appear later. A
    doorbell's seq is such a head too (it rings after commit), which saves the query.
    """
    head = upto if upto is not None else space_head(space_id=space_id)
    if head <= after_seq:
        return EventBatch(head=head, events=[], overflow=False)
    events = list(
        in_visible_discussions(
            filter_visible(
                Event.objects.filter(space_id=space_id, seq__gt=after_seq, seq__lte=head), user
            ),
            user=user,
            space_id=space_id,
        ).order_by("seq")[: limit + 1]
    )
    if len(events) > limit:
        return EventBatch(head=head, events=[], overflow=True)
    return EventBatch(head=head, events=events, overflow=False)


def _events_between(space_id: int, after: int, upto: int, *, shape: int) -> QuerySet[Event]:
    """The space's events in (after, upto], at most `shape` + 1 (the limit + 1)."""
    return Event.objects.filter(space_id=space_id, seq__gt=after, seq__lte=upto).order_by(
        "seq"
    )[: shape + 1]


# Read for every doorbell batch: its SQL is built once per limit (a setting).
_EVENTS_BETWEEN = Prepared(_events_between, shaped=True)


def visible_events_after_many(
    *, windows: list[tuple[Any, int]], space_id: int, limit: int, upto: int
) -> list[EventBatch]:
    """`visible_events_after` for many (user, after_seq) windows up to one committed
    head, in three queries.

    Doorbells bring the sockets of a space windows that overlap: each socket's own last
    seq, up to a head that has committed with everything before it (the newest doorbell
    of the batch will do for all). The events after the lowest seq are read once, the
    users' memberships once (`networks.access.delivery_memberships`), and each user gets
    the events of their own window that `can_see_item` allows: the same rule as the SQL
    filter.
    """
    first = min((after for _, after in windows), default=upto)
    if upto <= first:
        return [EventBatch(head=upto, events=[], overflow=False) for _ in windows]
    events = _EVENTS_BETWEEN.list(space_id, first, upto, shape=limit)
    if len(events) > limit:  # rare: fall back to the per-user query, which counts exactly
        return [
            visible_events_after(user=u, space_id=space_id, after_seq=after, limit=limit, upto=upto)
            for u, after in windows
        ]
    recipients = _red_recipients(Event, [e.pk for e in events if e.tlp == TLP.RED])
    labels = [
        ItemLabels(
            space_id=space_id,
            level=e.level,
            tlp=e.tlp,
            author_id=e.author_id,
            recipient_ids=frozenset(recipients.get(e.pk, ())),
        )
        for e in events
    ]
    discussions = _note_labels_by_topic({e.topic_id for e in events if e.topic_id})
    memberships = delivery_memberships(space_id=space_id, user_ids=[u.pk for u, _ in windows])
    batches = []
    for user, after in windows:
        membership = memberships.get(user.pk)
        visible = (
            [
                e
                for e, label in zip(events, labels, strict=True)
                if e.seq > after
                and can_see_item(membership, label)
                and (
                    e.topic_id not in discussions
                    or can_see_item(membership, discussions[e.topic_id])
                )
            ]
            if membership is not None
            else []
        )
        batches.append(
            EventBatch(
                head=upto,
                events=visible,
                overflow=False,
                membership=membership,
                membership_read=True,
            )
        )
    return batches


def _red_recipients(model: Any, ids: list[int]) -> dict[int, set[int]]:
    """{item id: its named recipients} for TLP:RED items of `model`, in one query."""
    recipients: dict[int, set[int]] = {}
    if ids:
        through = model.recipients.through
        owner = f"{model._meta.model_name}_id"
        for item_id, user_id in through.objects.filter(**{f"{owner}__in": ids}).values_list(
            owner, "user_id"
        ):
            recipients.setdefault(item_id, set()).add(user_id)
    return recipients


def discussion_note_labels(*, topic_id: int) -> ItemLabels | None:
    """The labels of the note whose discussion the topic is, or None for an ordinary topic
    (one query; two for a TLP:RED note). Its messages are hidden from whoever may not see
    the note; the write path reads this once per message and judges each user in memory."""
    return _note_labels_by_topic({topic_id}).get(topic_id)


def topic_discussion_labels(topic: Topic) -> ItemLabels | None:
    """`discussion_note_labels` for a topic object: no query when the topic was read with
    its note (`visible_topic` does), whether it has one or not; one for a TLP:RED note."""
    from messaging.note_selectors import note_labels

    if not Topic.note.is_cached(topic):
        return discussion_note_labels(topic_id=topic.pk)
    note = getattr(topic, "note", None)
    return note_labels(note) if note is not None else None


def _notes_of_topics(*topic_ids: int) -> QuerySet[Any]:
    from messaging.models import Note

    return Note.objects.filter(topic_id__in=topic_ids).values_list(
        "pk", "topic_id", "space_id", "level", "tlp", "author_id"
    )


# Read for every doorbell batch (most name one topic): its SQL is built once per length.
_NOTES_OF_TOPICS = Prepared(_notes_of_topics)


def _note_labels_by_topic(topic_ids: set[int]) -> dict[int, ItemLabels]:
    """Labels of the notes whose discussion topics are among `topic_ids` (two queries)."""
    from messaging.models import Note

    if not topic_ids:
        return {}
    notes = _NOTES_OF_TOPICS.list(*sorted(topic_ids))
    recipients = _red_recipients(Note, [pk for pk, _t, _s, _l, tlp, _a in notes if tlp == TLP.RED])
    return {
        topic_id: ItemLabels(
            space_id=space_id,
            level=level,
            tlp=tlp,
            author_id=author_id,
            recipient_ids=frozenset(recipients.get(pk, ())),
        )
        for pk, topic_id, space_id, level, tlp, author_id in notes
    }


def unread_by_topic(*, user: Any, space_id: int) -> dict[int, int]:
    """Unread visible messages per topic (not one's own, not deleted)."""
    markers = ReadMarker.objects.filter(user_id=user.pk, topic_id=OuterRef("topic_id"))
    read_past = Exists(markers.filter(last_seq__gte=OuterRef("seq")))
    rows = (
        visible_messages(user=user, space_id=space_id)
        .filter(deleted_at__isnull=True)
        .exclude(author_id=user.pk)
        .filter(~read_past)
        .values("topic_id")
        .annotate(n=Count("pk"))
        .values_list("topic_id", "n")
    )
    return dict(rows)


def topics_with_unread(*, user: Any, space_id: int) -> list[Topic]:
    """Topics of the space, most recently active first, each with `.unread`."""
    unread = unread_by_topic(user=user, space_id=space_id)
    topics = list(
        visible_topics(user=user, space_id=space_id)
        .select_related("created_by")
        .order_by("-last_seq", "name")
    )
    for topic in topics:
        topic.unread = unread.get(topic.pk, 0)  # type: ignore[attr-defined]
    return topics


def unread_mentions(*, user: Any, space_id: int) -> int:
    messages = visible_messages(user=user, space_id=space_id).filter(deleted_at__isnull=True)
    return Mention.objects.filter(
        user_id=user.pk, read_at__isnull=True, message__in=messages
    ).count()


def reaction_summary(message: Message) -> list[dict[str, Any]]:
    """[{emoji, count, user_ids, names}] from prefetched reactions (names: {user id: name})."""
    by_emoji: dict[str, list[int]] = {}
    names: dict[int, str] = {}
    for reaction in message.reactions.all():
        by_emoji.setdefault(reaction.emoji, []).append(reaction.user_id)
        if Reaction.user.is_cached(reaction):
            names[reaction.user_id] = reaction.user.display_name or reaction.user.email
    return [
        {"emoji": e, "count": len(ids), "user_ids": ids, "names": names}
        for e, ids in by_emoji.items()
    ]


@dataclass(frozen=True)
class UnreadState:
    """Where a member stands in a topic: read up to `read_seq` (a space seq); the first
    unread message's seq (None: nothing unread), how many are unread, and how many
    visible messages come before the first unread (to open the page that holds it)."""

    read_seq: int
    first_unread_seq: int | None
    unread: int
    before_first_unread: int


def topic_unread_state(*, user: Any, topic: Topic) -> UnreadState:
    """The member's read marker and first unread message in a topic (three queries).

    Unread means what `unread_by_topic` counts: visible, not deleted, not one's own, after
    the read marker."""
    read_seq = next(
        iter(
            ReadMarker.objects.filter(user_id=user.pk, topic_id=topic.pk).values_list(
                "last_seq", flat=True
            )
        ),
        0,
    )
    visible = visible_messages(user=user, space_id=topic.space_id).filter(topic=topic)
    found = (
        visible.filter(deleted_at__isnull=True, seq__gt=read_seq)
        .exclude(author_id=user.pk)
        .aggregate(first=Min("seq"), n=Count("pk"))
    )
    first = found["first"]
    before = visible.filter(seq__lt=first).count() if first is not None else 0
    return UnreadState(
        read_seq=read_seq, first_unread_seq=first, unread=found["n"], before_first_unread=before
    )


@dataclass(frozen=True)
class RecipientChoice:
    """An active member the composer may name as a TLP:RED recipient."""

    pk: int
    name: str
    clearance: int  # in effect now (an expired clearance is the lowest level)


def recipient_choices(*, space_id: int, exclude_id: int) -> list[RecipientChoice]:
    """Active members but the author, by name, with their clearance in effect (one query):
    the composer lists those cleared for the chosen level; the service checks again."""
    from networks.access import clearance_in_effect
    from networks.models import Membership, MembershipStatus

    memberships = (
        Membership.objects.filter(space_id=space_id, status=MembershipStatus.ACTIVE)
        .exclude(user_id=exclude_id)
        .select_related("user")
        .order_by("user__display_name", "user__email")
    )
    return [
        RecipientChoice(
            pk=m.user_id,
            name=m.user.display_name or m.user.email,
            clearance=clearance_in_effect(m),
        )
        for m in memberships
    ]


def member_names(*, space_id: int) -> dict[int, str]:
    """{user id: the name a page shows} for the space's active members (one query)."""
    return {
        pk: name or email
        for pk, name, email in space_member_users(space_id=space_id).values_list(
            "pk", "display_name", "email"
        )
    }


def mentionable_members(*, space_id: int, names: set[str]) -> list[Any]:
    """Active members whose display name or email matches one of `names` (case-insensitive)."""
    from networks.models import Membership, MembershipStatus

    if not names:
        return []
    match = Q()
    for name in names:
        match |= Q(user__display_name__iexact=name) | Q(user__email__iexact=name)
    return [
        m.user
        for m in Membership.objects.filter(space_id=space_id, status=MembershipStatus.ACTIVE)
        .filter(match)
        .select_related("user")
    ]


def space_moderators(*, space_id: int) -> list[Any]:
    """The space's active moderators (`@moderators`); the caller applies the access rule."""
    from networks.models import Membership, MembershipStatus, Role

    return [
        m.user
        for m in Membership.objects.filter(
            space_id=space_id, status=MembershipStatus.ACTIVE, role=Role.MODERATOR
        ).select_related("user")
    ]


def space_member_users(*, space_id: int, exclude_id: int | None = None) -> QuerySet[Any]:
    """Active members of the space (candidate TLP:RED recipients), by name."""
    from django.contrib.auth import get_user_model

    from networks.models import MembershipStatus

    users = get_user_model().objects.filter(
        memberships__space_id=space_id, memberships__status=MembershipStatus.ACTIVE
    )
    if exclude_id is not None:
        users = users.exclude(pk=exclude_id)
    return users.order_by("display_name", "email")


# --- The space shell: the sidebar and tabs around every page of a space ---------------

SHELL_TOPICS = 30  # the most recently active topics listed in the sidebar


@dataclass(frozen=True)
class SpaceShell:
    """What the navigation around a space's pages shows to one user.

    `spaces`: the user's active memberships, by space name, each with its space.
    `membership`: the user's active membership in the open space, or None (a network
    admin on a moderation page, who is no member): then no topic is listed.
    `topics`: the open space's most recently active topics the user may see, each with
    `.unread`, the number of visible messages of others not yet read.
    """

    spaces: list[Any]
    membership: Any
    topics: list[Topic]
    more_topics: bool


def space_shell(*, user: Any, space_id: int) -> SpaceShell:
    """The sidebar's reads in four queries whatever the number of spaces and topics: the
    memberships, then (for a member of the open space) its topics and their unread counts.
    Topics and counts go through the access rule (`visible_topics`, `unread_by_topic`);
    the user's own spaces are listed as the dashboard lists them."""
    from networks.access import user_has_completed_mfa
    from networks.models import Membership, MembershipStatus

    if not user_has_completed_mfa(user):
        return SpaceShell(spaces=[], membership=None, topics=[], more_topics=False)
    memberships = list(
        Membership.objects.filter(user_id=user.pk, status=MembershipStatus.ACTIVE)
        .select_related("space")
        .order_by("space__name")
    )
    membership = next((m for m in memberships if m.space_id == space_id), None)
    topics: list[Topic] = []
    more = False
    if membership is not None:
        topics = list(
            visible_topics(user=user, space_id=space_id).order_by("-last_seq", "name")[
                : SHELL_TOPICS + 1
            ]
        )
        more = len(topics) > SHELL_TOPICS
        topics = topics[:SHELL_TOPICS]
        unread = unread_by_topic(user=user, space_id=space_id)
        for topic in topics:
            topic.unread = unread.get(topic.pk, 0)  # type: ignore[attr-defined]
    return SpaceShell(spaces=memberships, membership=membership, topics=topics, more_topics=more)
