"""Topics, messages (with revisions, reactions, mentions, read markers) and the event log.

Every visible change in a space is an `Event` with a per-space `seq`, assigned under a
row lock on the space's `SpaceSequence`, so seq order is commit order. An event carries
the labels of the item it concerns (level, TLP, author, TLP:RED recipients), so its
visibility is decided by the same rule as the item's (`networks.access.filter_visible`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from networks.clearance import TLP, validate_level
from networks.models import Space


class SpaceSequence(models.Model):
    """The last seq handed out in a space; locked with select_for_update to assign the next."""

    space = models.OneToOneField(
        Space, on_delete=models.CASCADE, primary_key=True, related_name="sequence"
    )
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.space_id}@{self.last_seq}"


class Topic(models.Model):
    """A named thread of discussion inside a space; topics are visible to every member."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="topics")
    name = models.CharField(_("name"), max_length=120)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="topic_name_unique_in_space")
        ]
        indexes = [models.Index(fields=["space", "-last_seq"])]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="messages")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField(_("message"))
    rendered_html = models.TextField(editable=False)
    level = models.PositiveSmallIntegerField(_("level"), validators=[validate_level], default=0)
    tlp = models.CharField(_("TLP"), max_length=12, choices=TLP.choices, default=TLP.GREEN)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="red_messages",
        verbose_name=_("recipients"),
    )
    client_id = models.UUIDField(default=uuid.uuid4, editable=False)
    seq = models.BigIntegerField(editable=False, default=0)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            # A retried post (same client_id) is stored once.
            models.UniqueConstraint(fields=["author", "client_id"], name="message_client_id_once"),
        ]
        indexes = [
            models.Index(fields=["topic", "seq"]),
            models.Index(fields=["space", "seq"]),
            # Search lists newest first (workspace/search); the tsvector column and its GIN
            # index are made by migration 0003 on PostgreSQL only, outside Django's fields.
            models.Index(fields=["-created_at"], name="message_created_desc"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} in {self.topic_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class MessageRevision(models.Model):
    """Every version of a message body, the first one included."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    body = models.TextField()
    rendered_html = models.TextField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"revision {self.number} of message {self.message_id}"


class Emoji(models.TextChoices):
    """The reaction allow-list: short codes only, rendered by the client."""

    THUMBS_UP = "+1", "👍"
    THUMBS_DOWN = "-1", "👎"
    CHECK = "check", "✅"
    EYES = "eyes", "👀"
    QUESTION = "question", "❓"
    WARNING = "warning", "⚠️"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=16, choices=Emoji.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_once")
        ]

    def __str__(self) -> str:
        return f"{self.emoji} on message {self.message_id}"


class ReadMarker(models.Model):
    """The space seq up to which a user has read a topic."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="read_markers")
    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "topic"], name="read_marker_unique")]

    def __str__(self) -> str:
        return f"topic {self.topic_id} read to {self.last_seq}"


class Mention(models.Model):
    """A notification that a member was @mentioned in a message they may see."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="mention_once")]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"mention of {self.user_id} in message {self.message_id}"


class EventKind(models.TextChoices):
    TOPIC_NEW = "topic.new"
    MESSAGE_NEW = "message.new"
    MESSAGE_EDIT = "message.edit"
    MESSAGE_DELETE = "message.delete"
    REACTION_ADD = "reaction.add"
    REACTION_REMOVE = "reaction.remove"


class Event(models.Model):
    """One numbered change in a space; the source of truth for real-time delivery."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, null=True, related_name="+")
    # The labels of the item: visibility of the event = visibility of the item.
    level = models.PositiveSmallIntegerField(validators=[validate_level], default=0)
    tlp = models.CharField(max_length=12, choices=TLP.choices, default=TLP.CLEAR)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "seq"], name="event_seq_unique_in_space"),
            models.CheckConstraint(condition=Q(seq__gt=0), name="event_seq_positive"),
        ]
        ordering = ["space", "seq"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} in space {self.space_id}"


# --- Modus-operandi notes ------------------------------------------------------------
# A note is structured intelligence about how criminal organisations work. Its category,
# substances, grading and handling code are codes from the shipped taxonomy
# (messaging/taxonomy/*.json); validation lives in messaging/note_services.py.


class NoteGradingScheme(models.TextChoices):
    EUROPOL_4X4 = "europol_4x4", _("Europol 4x4")
    NATO_6X6 = "nato_6x6", _("NATO Admiralty 6x6")


class Note(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="notes")
    # Its discussion: created with the note, named after `reference` (never the title,
    # because every member of the space sees topic names, whatever the note's level).
    topic = models.OneToOneField(Topic, on_delete=models.PROTECT, related_name="note")
    reference = models.CharField(_("reference"), max_length=16, unique=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"))
    summary_html = models.TextField(editable=False)
    category = models.CharField(_("category"), max_length=64)
    substances = models.JSONField(_("substances"), default=list, blank=True)
    countries = models.JSONField(_("countries"), default=list, blank=True)
    route = models.JSONField(_("route"), default=list, blank=True)
    indicators = models.JSONField(_("indicators"), default=list, blank=True)
    # "|cocaine|nps|" and "|CO|ES|": list membership as a plain LIKE, on every database.
    substances_key = models.CharField(max_length=400, editable=False, default="", blank=True)
    countries_key = models.CharField(max_length=400, editable=False, default="", blank=True)
    period_start = models.DateField(_("period start"), null=True, blank=True)
    period_end = models.DateField(_("period end"), null=True, blank=True)
    grading_scheme = models.CharField(
        _("grading scheme"),
        max_length=16,
        choices=NoteGradingScheme.choices,
        default=NoteGradingScheme.EUROPOL_4X4,
    )
    source_reliability = models.CharField(_("source reliability"), max_length=2)
    information_credibility = models.CharField(_("information credibility"), max_length=2)
    handling_code = models.CharField(_("handling code"), max_length=4)
    handling_text = models.CharField(_("handling restrictions"), max_length=500, blank=True)
    level = models.PositiveSmallIntegerField(_("level"), validators=[validate_level], default=0)
    tlp = models.CharField(_("TLP"), max_length=12, choices=TLP.choices, default=TLP.AMBER)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="red_notes",
        verbose_name=_("recipients"),
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        indexes = [
            models.Index(fields=["space", "-updated_at"]),
            models.Index(fields=["space", "category"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__isnull=True)
                | Q(period_end__isnull=True)
                | Q(period_start__lte=models.F("period_end")),
                name="note_period_in_order",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def grading(self) -> str:
        return f"{self.source_reliability}{self.information_credibility}"


class NoteRevision(models.Model):
    """Every version of a note, the first one included: a full snapshot of its fields."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["note", "number"], name="note_revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"version {self.number} of note {self.note_id}"
