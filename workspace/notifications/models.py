"""Notifications, topic follows, email preferences and the record of emails sent.

A notification stores the labels of the item it is about (space, level, TLP, author,
TLP:RED recipients), so whether its text may be shown is decided again, by
`networks.access`, every time it is displayed or emailed. It never copies the item's
text: the text is read from the item itself at display time.
Other apps' models are named by string, so this app imports neither messaging nor
documents.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from networks.clearance import TLP, validate_level


class NotificationKind(models.TextChoices):
    MENTION = "mention", _("Mention")
    REPLY = "reply", _("Reply in a followed topic")
    DOCUMENT = "document", _("New document")
    INVITATION = "invitation", _("Invitation")
    JOIN_REQUEST = "join_request", _("Join request")


# Kinds about an item of a space: shown only under the access rule (level, TLP, membership).
CONTENT_KINDS = (NotificationKind.MENTION, NotificationKind.REPLY, NotificationKind.DOCUMENT)


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    space = models.ForeignKey("networks.Space", on_delete=models.CASCADE, related_name="+")
    # The labels of the item, for the access rule at display time.
    level = models.PositiveSmallIntegerField(validators=[validate_level], default=0)
    tlp = models.CharField(max_length=12, choices=TLP.choices, default=TLP.CLEAR)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # The item itself (one of these, by kind).
    message = models.ForeignKey(
        "messaging.Message", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    topic = models.ForeignKey(
        "messaging.Topic", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    document = models.ForeignKey(
        "documents.Document", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    invitation = models.ForeignKey(
        "networks.Invitation", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    join_request = models.ForeignKey(
        "networks.JoinRequest", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "read_at"]),
            models.Index(fields=["user", "-created_at"]),
        ]
        constraints = [
            # A message edited to mention someone again notifies them once.
            models.UniqueConstraint(
                fields=["user", "kind", "message"],
                condition=Q(message__isnull=False),
                name="notification_once_per_message",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.user_id}"


class TopicFollow(models.Model):
    """A user's choice about a topic: following it, or explicitly not (so posting in it
    again does not follow it automatically)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    topic = models.ForeignKey("messaging.Topic", on_delete=models.CASCADE, related_name="+")
    following = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "topic"], name="topic_follow_once")]

    def __str__(self) -> str:
        return f"user {self.user_id} {'follows' if self.following else 'ignores'} {self.topic_id}"


class EmailFrequency(models.TextChoices):
    OFF = "off", _("No email")
    DAILY = "daily", _("A daily digest")
    IMMEDIATE = "immediate", _("Mentions at once, the rest in a daily digest")


class NotificationPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.CharField(
        _("email notifications"),
        max_length=12,
        choices=EmailFrequency.choices,
        default=EmailFrequency.DAILY,
    )
    language = models.CharField(
        _("language of the emails"),
        max_length=8,
        blank=True,
        help_text=_("Empty: the site's default language."),
    )

    def __str__(self) -> str:
        return f"{self.email} for user {self.user_id}"


class EmailDeliveryKind(models.TextChoices):
    DIGEST = "digest", _("Digest")
    MENTION = "mention", _("Mention")


class EmailDelivery(models.Model):
    """What was emailed to whom: the record that makes `send_digests` idempotent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=EmailDeliveryKind.choices)
    notifications = models.ManyToManyField(Notification, related_name="deliveries")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.kind} to user {self.user_id} at {self.sent_at:%Y-%m-%d %H:%M}"
