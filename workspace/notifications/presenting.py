"""What a notification says, in the app and in email, and where it links.

In the app a notification is only listed when the access rule lets the user see its
item (selectors), so it may quote the item. An email leaves the access-controlled
site, so it quotes nothing of an item above the lowest level or marked TLP:AMBER or
stricter: it names the level and the space, and links to the item.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from networks.clearance import LOWEST_LEVEL, TLP, level_name
from workspace.notifications.models import Notification, NotificationKind

# TLP:AMBER and stricter never leave the site.
REDACTED_TLPS = frozenset({TLP.AMBER, TLP.AMBER_STRICT, TLP.RED})
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Presented:
    headline: str
    excerpt: str  # empty when there is nothing to quote, or it may not be quoted
    path: str  # the site-relative link to the item


def must_redact(notification: Notification) -> bool:
    """True when an email may not contain the text of the notification's item."""
    return notification.level > LOWEST_LEVEL or notification.tlp in REDACTED_TLPS


def _name(user: object) -> str:
    if user is None:
        return _("Someone")
    return getattr(user, "display_name", "") or getattr(user, "email", "")


def _path(notification: Notification) -> str:
    kind = notification.kind
    if kind in (NotificationKind.MENTION, NotificationKind.REPLY) and notification.message_id:
        topic_id = notification.topic_id or notification.message.topic_id
        url = reverse("topic_detail", args=[notification.space_id, topic_id])
        return f"{url}#m{notification.message_id}"
    if kind == NotificationKind.DOCUMENT and notification.document_id:
        return reverse("document_detail", args=[notification.document_id])
    if kind == NotificationKind.INVITATION and notification.invitation_id:
        from networks.invitations import invitation_link

        return invitation_link(notification.invitation)
    if kind == NotificationKind.JOIN_REQUEST:
        return reverse("space_members", args=[notification.space_id])
    return reverse("space_detail", args=[notification.space_id])


def _excerpt(notification: Notification) -> str:
    if notification.message_id:
        body = notification.message.body  # empty once the message is deleted
        return Truncator(" ".join(body.split())).chars(EXCERPT_CHARS)
    if notification.document_id:
        return notification.document.title
    return ""


def present(notification: Notification, *, for_email: bool = False) -> Presented:
    """The notification's headline, excerpt and link; redacted by label for email."""
    kind = notification.kind
    space = notification.space.name
    if (
        for_email
        and kind
        in (
            NotificationKind.MENTION,
            NotificationKind.REPLY,
            NotificationKind.DOCUMENT,
        )
        and must_redact(notification)
    ):
        params = {"level": level_name(notification.level), "space": space, "tlp": notification.tlp}
        if kind == NotificationKind.MENTION:
            headline = _(
                "You were mentioned in a new %(level)s message in %(space)s (TLP:%(tlp)s)."
            )
        elif kind == NotificationKind.REPLY:
            headline = _("A new %(level)s message in %(space)s (TLP:%(tlp)s).")
        else:
            headline = _("A new %(level)s document in %(space)s (TLP:%(tlp)s).")
        return Presented(headline % params, "", _path(notification))
    params = {
        "author": _name(notification.author),
        "space": space,
        "topic": notification.topic.name if notification.topic_id else "",
    }
    if kind == NotificationKind.MENTION:
        headline = _("%(author)s mentioned you in “%(topic)s” (%(space)s).")
    elif kind == NotificationKind.REPLY:
        headline = _("%(author)s wrote in “%(topic)s” (%(space)s), a topic you follow.")
    elif kind == NotificationKind.DOCUMENT:
        headline = _("%(author)s added a document to %(space)s.")
    elif kind == NotificationKind.INVITATION:
        headline = _("%(author)s invited you to join %(space)s.")
    else:
        headline = _("%(author)s asked to join %(space)s.")
    return Presented(headline % params, _excerpt(notification), _path(notification))
