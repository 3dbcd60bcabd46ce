"""Writes for messaging. Each checks access itself, stores the row and its Event in one
transaction, and rings the space's doorbell after commit. The HTML views and the
WebSocket consumer call these same functions.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from messaging import selectors
from messaging.app_settings import messaging_settings
from messaging.events import broadcast_on_commit
from messaging.markdown import render_markdown
from messaging.models import (
    Emoji,
    Event,
    EventKind,
    Mention,
    Message,
    MessageRevision,
    Reaction,
    ReadMarker,
    SpaceSequence,
    Topic,
)
from networks.access import (
    Action,
    ItemLabels,
    access_item,
    access_space,
    can_see_item,
    clearance_in_effect,
)
from networks.clearance import TLP, level_name, level_names
from networks.models import Space
from workspace.audit.services import audit_record
from workspace.notifications import services as notifications
from workspace.prepared import Prepared, PreparedInsert

MAX_RECIPIENTS = 50
MAX_MENTIONS = 20
MENTION_RE = re.compile(r"@\*\*([^*\n]{1,200})\*\*")
# `@moderators` (or `@**moderators**`): the space's moderators who may see the message.
# Not inside a word or an address (`ops@moderators.example` names nobody).
MODERATORS_RE = re.compile(r"(?<![\w@*.])@(?:\*\*)?moderators(?:\*\*)?(?![\w@.-])", re.IGNORECASE)
# The rows every post writes (and every event): their INSERTs are built once.
_MESSAGE_INSERT = PreparedInsert(Message)
_REVISION_INSERT = PreparedInsert(MessageRevision)
_EVENT_INSERT = PreparedInsert(Event)


# --- helpers ------------------------------------------------------------------------


def _next_seq(space_id: int) -> int:
    """The next seq of the space, under a row lock held until commit: seq order = commit order.

    The increment is the UPDATE that takes the lock (PostgreSQL locks the row, SQLite the
    database), so no SELECT ... FOR UPDATE is needed before it. The row is made on the
    space's first event; two first events at once both insert-or-ignore, and the second
    one's UPDATE then waits for the first one's commit like any other.
    """
    seq = _increment_seq(space_id)
    if seq is None:
        SpaceSequence.objects.bulk_create([SpaceSequence(space_id=space_id)], ignore_conflicts=True)
        seq = _increment_seq(space_id)
        assert seq is not None
    return seq


def _increment_seq(space_id: int) -> int | None:
    """last_seq + 1 for the space's row, or None when the space has no row yet."""
    connection = connections[router.db_for_write(SpaceSequence)]
    if _can_update_returning(connection):
        # One statement: QuerySet.update() cannot return the new value (Django 5.2).
        table, last_seq, space = _quoted(connection, SpaceSequence, "last_seq", "space")
        # Only quoted names from the model are formatted in; the id is a parameter.
        sql = f"UPDATE {table} SET {last_seq} = {last_seq} + 1 WHERE {space} = %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} RETURNING {last_seq}", [space_id])
            row = cursor.fetchone()
        return None if row is None else int(row[0])
    rows = SpaceSequence.objects.filter(space_id=space_id)
    if not rows.update(last_seq=F("last_seq") + 1):
        return None
    return rows.values_list("last_seq", flat=True).get()


def _topic_reached(topic_id: int, seq: int) -> None:
    """The topic's last seq is now `seq` (its place in the topic list): one UPDATE, whose
    SQL is not built by the ORM at every post."""
    connection = connections[router.db_for_write(Topic)]
    table, last_seq, pk = _quoted(connection, Topic, "last_seq", "pk")
    # Only quoted names from the model are formatted in; the values are parameters.
    sql = f"UPDATE {table} SET {last_seq} = %s WHERE {pk} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [seq, topic_id])


def _quoted(connection: Any, model: Any, *fields: str) -> tuple[str, ...]:
    """The model's table and the named fields' columns ("pk": its key), quoted for SQL."""
    meta = model._meta
    columns = [meta.pk.column if f == "pk" else meta.get_field(f).column for f in fields]
    return tuple(map(connection.ops.quote_name, [meta.db_table, *columns]))


def _can_update_returning(connection: Any) -> bool:
    """UPDATE ... RETURNING: PostgreSQL, and SQLite from 3.35 (Django 5.2 allows 3.31)."""
    return connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 35)
    )


def _emit(
    *,
    space_id: int,
    kind: str,
    labels: ItemLabels,
    payload: dict[str, Any],
    seq: int | None = None,
    message: Message | None = None,
    topic: Topic | None = None,
    with_frame: bool = False,
) -> Event:
    event = _EVENT_INSERT.save(Event(
        space_id=space_id,
        seq=seq if seq is not None else _next_seq(space_id),
        kind=kind,
        message=message,
        topic=topic,
        level=labels.level,
        tlp=labels.tlp,
        author_id=labels.author_id,
        payload=payload,
    ))
    if labels.recipient_ids:
        event.recipients.add(*labels.recipient_ids)  # a new row: no need to read old ones
    broadcast_on_commit(event, recipient_ids=list(labels.recipient_ids), with_frame=with_frame)
    return event


def _check_user_rate(user_id: int) -> None:
    """Writes per user per minute, across all their connections and pages (shared cache)."""
    limit = messaging_settings().user_writes_per_minute
    if _count_write(_rate_key(user_id)) > limit:
        raise ValidationError(
            _("You are sending too quickly; please wait a moment."), code="rate_limited"
        )


def _rate_key(user_id: int, now: float | None = None) -> str:
    """The user's write counter for the current minute: each minute counts afresh."""
    minute = int((time.time() if now is None else now) // 60)
    return f"messaging:writes:{int(user_id)}:{minute}"


def _count_write(key: str) -> int:
    """Count one write under `key` (kept two minutes) and return the count so far."""
    client = _redis_client()
    if client is not None:
        # One round trip: create the key if it is missing, then increment it. Django's
        # `incr` is two (EXISTS, then INCRBY), and a minute's first write took four.
        full_key = cache.make_and_validate_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.set(full_key, 0, ex=120, nx=True)
        pipe.incr(full_key)
        return int(pipe.execute()[1])
    # Any other cache: increment first, one call (not add + incr) for every write but a
    # minute's first.
    try:
        return cache.incr(key)
    except ValueError:  # the minute's first write, or the key was evicted
        if cache.add(key, 1, timeout=120):
            return 1
    try:
        return cache.incr(key)  # another connection of the user's added it meanwhile
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=120)
        return 1


_redis_clients: dict[str, Any] = {}


def _redis_client() -> Any | None:
    """A Redis client for the default cache's server, when that cache is Django's Redis
    cache on one server; else None. The counter's keys are the cache's own
    (`make_and_validate_key`), so the cache reads and clears them as ever."""
    from django.conf import settings

    config = settings.CACHES.get("default", {})
    location = config.get("LOCATION")
    if (
        config.get("BACKEND") != "django.core.cache.backends.redis.RedisCache"
        or not isinstance(location, str)
        or "," in location
    ):
        return None
    client = _redis_clients.get(location)
    if client is None:
        import redis

        client = _redis_clients.setdefault(location, redis.Redis.from_url(location))
    return client


def _clean_body(body: Any) -> str:
    if not isinstance(body, str):
        raise ValidationError(_("The message must be text."), code="invalid_body")
    body = body.replace("\x00", "").strip()
    if not body:
        raise ValidationError(_("The message is empty."), code="empty_body")
    limit = messaging_settings().max_body_chars
    if len(body) > limit:
        raise ValidationError(
            _("The message is too long (at most %(limit)d characters).") % {"limit": limit},
            code="body_too_long",
        )
    return body


def _clean_level(level: Any, clearance: int) -> int:
    if (
        not isinstance(level, int)
        or isinstance(level, bool)
        or not (0 <= level < len(level_names()))
    ):
        raise ValidationError(_("Unknown level."), code="unknown_level")
    if level > clearance:
        raise ValidationError(
            _("You cannot post above your clearance (%(clearance)s).")
            % {"clearance": level_name(clearance)},
            code="level_above_clearance",
        )
    return level


def _clean_tlp(tlp: Any) -> str:
    if not isinstance(tlp, str) or tlp not in TLP.values:
        raise ValidationError(_("Unknown TLP label."), code="unknown_tlp")
    return tlp


def _clean_recipients(
    *, space_id: int, tlp: str, level: int, recipients: Any, author: Any
) -> frozenset[int]:
    """TLP:RED needs named recipients, each an active member cleared for the level."""
    from workspace.accounts.models import User

    ids: set[int] = set()
    for value in recipients or ():
        pk = getattr(value, "pk", value)
        if not isinstance(pk, int) or isinstance(pk, bool):
            raise ValidationError(_("Unknown recipient."), code="unknown_recipient")
        ids.add(pk)
    ids.discard(author.pk)
    if tlp != TLP.RED:
        if ids:
            raise ValidationError(
                _("Only TLP:RED messages have named recipients."), code="recipients_not_red"
            )
        return frozenset()
    if not ids:
        raise ValidationError(
            _("A TLP:RED message needs at least one named recipient."), code="no_recipients"
        )
    if len(ids) > MAX_RECIPIENTS:
        raise ValidationError(_("Too many recipients."), code="too_many_recipients")
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    for pk in ids:
        user = users.get(pk)
        try:
            if user is None:
                raise PermissionDenied
            membership = access_space(user, space_id, action=Action.VIEW)
        except PermissionDenied:
            raise ValidationError(
                _("Every recipient must be an active member of this space."),
                code="recipient_not_member",
            ) from None
        if clearance_in_effect(membership) < level:
            raise ValidationError(
                _("A recipient is not cleared for this level."), code="recipient_not_cleared"
            )
    return frozenset(ids)


def _clean_client_id(client_id: Any) -> uuid.UUID:
    if isinstance(client_id, uuid.UUID):
        return client_id
    try:
        return uuid.UUID(str(client_id))
    except (ValueError, TypeError, AttributeError):
        raise ValidationError(_("Invalid client id."), code="invalid_client_id") from None


def _author_payload(user: Any) -> dict[str, Any]:
    if user is None:
        return {"id": None, "name": ""}
    return {"id": user.pk, "name": user.display_name or user.email}


def message_payload(message: Message, labels: ItemLabels) -> dict[str, Any]:
    return {
        "message": {
            "id": message.pk,
            "topic_id": message.topic_id,
            "author": _author_payload(message.author),
            "body": message.body,
            "html": message.rendered_html,
            "level": message.level,
            "level_name": level_name(message.level),
            "tlp": message.tlp,
            "recipient_ids": sorted(labels.recipient_ids),
            "client_id": str(message.client_id),
            "created_at": message.created_at.isoformat(),
        }
    }


def _notify_mentions(
    message: Message, labels: ItemLabels, *, discussion: ItemLabels | None
) -> list[int]:
    """Mention rows for members named with @**name** who may see the message.

    `discussion` is the labels of the note whose discussion the message is in (None for an
    ordinary topic). A body without a mention costs no query.
    """
    names = {m.strip() for m in MENTION_RE.findall(message.body)[:MAX_MENTIONS] if m.strip()}
    moderators = MODERATORS_RE.search(message.body) is not None
    names = {n for n in names if n.lower() != "moderators"}
    if not names and not moderators:
        return []
    candidates = selectors.mentionable_members(space_id=message.space_id, names=names)
    if moderators:
        candidates += selectors.space_moderators(space_id=message.space_id)
    notified: list[int] = []
    for user in candidates:
        if user.pk == message.author_id or user.pk in notified:
            continue
        try:
            membership = access_item(user, labels)
        except PermissionDenied:
            continue  # never tell anyone about a message they may not see
        if discussion is not None and not can_see_item(membership, discussion):
            continue  # nor about a message in the discussion of a note hidden from them
        notified.append(user.pk)
    # One statement; an edit that names someone again keeps their existing row.
    Mention.objects.bulk_create(
        [Mention(message=message, user_id=pk) for pk in notified], ignore_conflicts=True
    )
    return sorted(notified)


def _labels(message: Message) -> ItemLabels:
    return selectors.message_labels(message)


# --- topics ------------------------------------------------------------------------


@transaction.atomic
def topic_create(*, space: Space, name: str, acting_user: Any) -> Topic:
    access_space(acting_user, space.pk, action=Action.POST)
    name = (name or "").replace("\x00", "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 120:
        raise ValidationError(
            _("A topic needs a name of at most 120 characters."), code="invalid_topic_name"
        )
    _check_user_rate(acting_user.pk)
    seq = _next_seq(space.pk)
    if Topic.objects.filter(space=space, name__iexact=name).exists():
        raise ValidationError(_("This topic already exists."), code="topic_exists")
    topic = Topic(space=space, name=name, created_by=acting_user, last_seq=seq)
    topic.full_clean()
    topic.save()
    labels = ItemLabels(space_id=space.pk, level=0, tlp=TLP.CLEAR, author_id=acting_user.pk)
    _emit(
        space_id=space.pk,
        kind=EventKind.TOPIC_NEW,
        labels=labels,
        seq=seq,
        topic=topic,
        payload={
            "topic": {
                "id": topic.pk,
                "name": topic.name,
                "created_by": _author_payload(acting_user),
            }
        },
    )
    return topic


# --- messages ----------------------------------------------------------------------


def message_post(
    *,
    space: Space,
    topic: Topic,
    body: str,
    level: int,
    tlp: str,
    recipients: Any = (),
    client_id: Any = None,
    acting_user: Any,
) -> Message:
    """Post a message; a retry with the same client_id returns the stored message.

    A retry is found by the (author, client_id) constraint, not by a read before the
    write: every post would pay that read for the rare retry. The retry's transaction is
    refused and rolled back, its seq with it, and the stored message is returned. So a
    retry is checked and counted like the first attempt was; over the rate limit, a retry
    of a stored post still gets its message.
    """
    client_uuid = _clean_client_id(client_id) if client_id is not None else uuid.uuid4()
    membership = access_space(acting_user, space.pk, action=Action.POST)
    if topic.space_id != space.pk:
        raise PermissionDenied
    body = _clean_body(body)
    level = _clean_level(level, clearance_in_effect(membership))
    tlp = _clean_tlp(tlp)
    recipient_ids = _clean_recipients(
        space_id=space.pk, tlp=tlp, level=level, recipients=recipients, author=acting_user
    )
    html = render_markdown(body)
    try:
        _check_user_rate(acting_user.pk)
    except ValidationError:
        # Over the limit: a retry of a stored post still gets its message (a client
        # resending its pending posts after a reconnect is not refused for them).
        existing = _existing_post(acting_user, client_uuid, space)
        if existing is None:
            raise
        return existing
    try:
        return _message_store(
            space=space,
            topic=topic,
            body=body,
            html=html,
            level=level,
            tlp=tlp,
            recipient_ids=recipient_ids,
            client_uuid=client_uuid,
            acting_user=acting_user,
        )
    except IntegrityError:
        # The same client_id is stored already (a retry, from this connection or another,
        # in this space or another): the (author, client_id) constraint refused this one,
        # and its transaction, seq included, was rolled back.
        existing = _existing_post(acting_user, client_uuid, space)
        if existing is None:
            raise
        return existing


# Read when a post is refused as a retry: its SQL is built once (workspace/prepared.py).
_POST_BY_CLIENT_ID = Prepared(
    lambda author_id, client_uuid: Message.objects.filter(
        author_id=author_id, client_id=client_uuid
    ).order_by("pk")[:1]
)


def _existing_post(acting_user: Any, client_uuid: uuid.UUID, space: Space) -> Message | None:
    existing = _POST_BY_CLIENT_ID.first(acting_user.pk, client_uuid)
    if existing is not None and existing.space_id != space.pk:
        raise ValidationError(_("This client id was already used."), code="client_id_reused")
    if existing is not None:
        existing.idempotent_replay = True  # type: ignore[attr-defined]
    return existing


@transaction.atomic
def _message_store(
    *,
    space: Space,
    topic: Topic,
    body: str,
    html: str,
    level: int,
    tlp: str,
    recipient_ids: frozenset[int],
    client_uuid: uuid.UUID,
    acting_user: Any,
) -> Message:
    seq = _next_seq(space.pk)
    message = Message(
        space=space,
        topic=topic,
        author=acting_user,
        body=body,
        rendered_html=html,
        level=level,
        tlp=tlp,
        client_id=client_uuid,
        seq=seq,
    )
    # The space, the topic (in that space) and the author were checked by message_post, and
    # the foreign keys hold in the database: no query per relation. The one uniqueness
    # rule, (author, client_id), is the constraint message_post handles on IntegrityError.
    message.full_clean(
        exclude=["space", "topic", "author"], validate_unique=False, validate_constraints=False
    )
    _MESSAGE_INSERT.save(message)
    if recipient_ids:
        message.recipients.add(*recipient_ids)  # a new row: no need to read old ones
    _REVISION_INSERT.save(MessageRevision(
        message=message, number=1, body=body, rendered_html=html, edited_by=acting_user
    ))
    _topic_reached(topic.pk, seq)
    labels = ItemLabels(
        space_id=space.pk,
        level=level,
        tlp=tlp,
        author_id=acting_user.pk,
        recipient_ids=recipient_ids,
    )
    discussion = selectors.topic_discussion_labels(topic)
    mention_ids = _notify_mentions(message, labels, discussion=discussion)
    payload = message_payload(message, labels)
    payload["message"]["mention_ids"] = mention_ids
    # The author's socket delivers its own event from this object (consumers._write).
    message.new_event = _emit(  # type: ignore[attr-defined]
        space_id=space.pk,
        kind=EventKind.MESSAGE_NEW,
        labels=labels,
        payload=payload,
        seq=seq,
        message=message,
        topic=topic,
        # An ordinary topic's message is judged by its own labels: its doorbell can carry
        # the frame (messaging/events.py). A discussion's also needs its note's labels.
        with_frame=discussion is None,
    )
    notifications.message_posted(
        message=message, labels=labels, mention_ids=mention_ids, discussion=discussion
    )
    return message


@transaction.atomic
def message_edit(*, message: Message, body: str, acting_user: Any) -> Message:
    """The author edits the body; every version is kept. Level and TLP are fixed at posting."""
    message = Message.objects.select_related("author").get(pk=message.pk)
    labels = _labels(message)
    access_item(acting_user, labels, action=Action.POST)
    if message.author_id != acting_user.pk:
        raise PermissionDenied
    if message.is_deleted:
        raise ValidationError(_("This message was deleted."), code="deleted")
    body = _clean_body(body)
    if body == message.body:
        return message
    _check_user_rate(acting_user.pk)
    html = render_markdown(body)
    seq = _next_seq(message.space_id)
    number = message.revisions.count() + 1
    MessageRevision.objects.create(
        message=message, number=number, body=body, rendered_html=html, edited_by=acting_user
    )
    message.body, message.rendered_html, message.edited_at = body, html, timezone.now()
    message.save(update_fields=["body", "rendered_html", "edited_at"])
    discussion = selectors.discussion_note_labels(topic_id=message.topic_id)
    mention_ids = _notify_mentions(message, labels, discussion=discussion)
    notifications.message_posted(
        message=message,
        labels=labels,
        mention_ids=mention_ids,
        discussion=discussion,
        edited=True,
    )
    _emit(
        space_id=message.space_id,
        kind=EventKind.MESSAGE_EDIT,
        labels=labels,
        seq=seq,
        message=message,
        topic=message.topic,
        payload={
            "message": {
                "id": message.pk,
                "topic_id": message.topic_id,
                "body": body,
                "html": html,
                "edited_at": message.edited_at.isoformat(),
                "revision": number,
                "mention_ids": mention_ids,
            }
        },
    )
    return message


@transaction.atomic
def message_delete(
    *, message: Message, acting_user: Any, request: HttpRequest | None = None
) -> Message:
    """The author, or a moderator (audited), leaves a tombstone in place of the message."""
    message = Message.objects.get(pk=message.pk)
    labels = _labels(message)
    by_moderator = message.author_id != acting_user.pk
    access_item(acting_user, labels, action=Action.MODERATE if by_moderator else Action.POST)
    if message.is_deleted:
        return message
    _check_user_rate(acting_user.pk)
    seq = _next_seq(message.space_id)
    message.deleted_at, message.deleted_by = timezone.now(), acting_user
    message.body, message.rendered_html = "", ""
    message.save(update_fields=["deleted_at", "deleted_by", "body", "rendered_html"])
    # A client resuming from before the delete must not receive the deleted text again.
    # Revisions stay, for moderators only (selectors.can_view_revisions).
    for old in Event.objects.filter(
        message=message,
        kind__in=[
            EventKind.MESSAGE_NEW,
            EventKind.MESSAGE_EDIT,
        ],
    ):
        old.payload["message"].update({"body": "", "html": "", "deleted": True})
        old.save(update_fields=["payload"])
    if by_moderator:
        audit_record(
            action="message.deleted_by_moderator",
            actor=acting_user,
            request=request,
            space_id=message.space_id,
            target=f"message:{message.pk}",
            details={
                "author_id": message.author_id,
                "topic_id": message.topic_id,
                "level": message.level,
                "tlp": message.tlp,
            },
        )
    _emit(
        space_id=message.space_id,
        kind=EventKind.MESSAGE_DELETE,
        labels=labels,
        seq=seq,
        message=message,
        topic=message.topic,
        payload={
            "message": {
                "id": message.pk,
                "topic_id": message.topic_id,
                "deleted_at": message.deleted_at.isoformat(),
                "by_moderator": by_moderator,
            }
        },
    )
    return message


@transaction.atomic
def reaction_toggle(
    *, message: Message, emoji: str, acting_user: Any, present: bool | None = None
) -> bool:
    """Add or remove a reaction (toggle when `present` is None); True if it is now present.

    `present` makes a retried frame idempotent: adding twice stores one reaction.
    """
    message = Message.objects.get(pk=message.pk)
    labels = _labels(message)
    access_item(acting_user, labels, action=Action.POST)
    if not isinstance(emoji, str) or emoji not in Emoji.values:
        raise ValidationError(_("Unknown reaction."), code="unknown_emoji")
    if message.is_deleted:
        raise ValidationError(_("This message was deleted."), code="deleted")
    seq = _next_seq(message.space_id)
    existing = Reaction.objects.filter(message=message, user=acting_user, emoji=emoji).first()
    want = (existing is None) if present is None else present
    if want == (existing is not None):
        transaction.set_rollback(True)  # nothing changes: give the seq back
        return want
    _check_user_rate(acting_user.pk)
    if want:
        Reaction.objects.create(message=message, user=acting_user, emoji=emoji)
    else:
        existing.delete()  # type: ignore[union-attr]
    count = Reaction.objects.filter(message=message, emoji=emoji).count()
    _emit(
        space_id=message.space_id,
        kind=EventKind.REACTION_ADD if want else EventKind.REACTION_REMOVE,
        labels=labels,
        seq=seq,
        message=message,
        topic=message.topic,
        payload={
            "reaction": {
                "message_id": message.pk,
                "topic_id": message.topic_id,
                "emoji": emoji,
                "user_id": acting_user.pk,
                "count": count,
            }
        },
    )
    return want


@transaction.atomic
def read_mark(*, topic: Topic, seq: int, acting_user: Any) -> ReadMarker:
    """Mark the topic read up to `seq` (never backwards); clears mentions read with it."""
    access_space(acting_user, topic.space_id, action=Action.VIEW)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValidationError(_("Invalid sequence number."), code="invalid_seq")
    seq = min(seq, selectors.space_head(space_id=topic.space_id))
    marker, _created = ReadMarker.objects.select_for_update().get_or_create(
        user=acting_user, topic=topic, defaults={"space_id": topic.space_id, "last_seq": seq}
    )
    if seq > marker.last_seq:
        marker.last_seq = seq
        marker.save(update_fields=["last_seq", "updated_at"])
    Mention.objects.filter(
        user=acting_user,
        read_at__isnull=True,
        message__topic=topic,
        message__seq__lte=marker.last_seq,
    ).update(read_at=timezone.now())
    notifications.topic_read(topic=topic, seq=marker.last_seq, acting_user=acting_user)
    return marker
