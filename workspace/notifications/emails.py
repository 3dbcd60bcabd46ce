"""Notification emails: immediate mention emails and the digests of `send_digests`.

Each email is in the recipient's language, re-checks the access rule when it is built,
and is redacted by label (`presenting.must_redact`). A notification is emailed at most
once: `emailed_at` is set, and an `EmailDelivery` recorded, in the transaction that
sends it, so running the digest twice sends nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from workspace.notifications import selectors
from workspace.notifications.models import (
    EmailDelivery,
    EmailDeliveryKind,
    EmailFrequency,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from workspace.notifications.presenting import present

logger = logging.getLogger(__name__)


def email_language(user: Any, preference: NotificationPreference | None = None) -> str:
    """The preference's language, else the first site language among the user's profile
    languages, else the site's default."""
    available = dict(settings.LANGUAGES)
    if preference is not None and preference.language in available:
        return preference.language
    for code in getattr(user, "languages", None) or ():
        if isinstance(code, str) and code in available:
            return code
    return settings.LANGUAGE_CODE


def _absolute(path: str) -> str:
    return settings.WORKSPACE_SITE_URL.rstrip("/") + path


def _send(*, user: Any, template: str, context: dict[str, Any]) -> None:
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    text = render_to_string(f"{template}.txt", context)
    html = render_to_string(f"{template}.html", context)
    email = EmailMultiAlternatives(subject=subject, body=text, to=[user.email])
    email.attach_alternative(html, "text/html")
    email.send()


def _items(notifications: list[Notification]) -> list[dict[str, str]]:
    items = []
    for notification in notifications:
        shown = present(notification, for_email=True)
        items.append(
            {"headline": shown.headline, "excerpt": shown.excerpt, "url": _absolute(shown.path)}
        )
    return items


def _record(user: Any, kind: str, notifications: list[Notification]) -> EmailDelivery:
    now = timezone.now()
    Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(emailed_at=now)
    delivery = EmailDelivery.objects.create(user=user, kind=kind, sent_at=now)
    delivery.notifications.set(notifications)
    return delivery


def mention_email_send(*, notification_id: int) -> bool:
    """The immediate email for one mention, if the user wants it and may still see it."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(
                pk=notification_id,
                kind=NotificationKind.MENTION,
                emailed_at__isnull=True,
                read_at__isnull=True,
            )
            .select_related("user")
            .first()
        )
        if notification is None:
            return False
        user = notification.user
        preference = selectors.preference_for(user=user)
        if preference.email != EmailFrequency.IMMEDIATE or not user.is_active:
            return False
        visible = selectors.notification_page_rows(user=user).filter(pk=notification.pk).first()
        if visible is None:
            return False
        with translation.override(email_language(user, preference)):
            context = {
                "user": user,
                "items": _items([visible]),
                "settings_url": _absolute("/notifications/settings/"),
            }
            _send(user=user, template="notifications/email/mention", context=context)
        _record(user, EmailDeliveryKind.MENTION, [visible])
    return True


def _digest_user_ids() -> list[int]:
    off = NotificationPreference.objects.filter(email=EmailFrequency.OFF).values("user_id")
    return list(
        Notification.objects.filter(
            read_at__isnull=True, emailed_at__isnull=True, user__is_active=True
        )
        .exclude(user_id__in=off)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )


def digest_send(*, user: Any) -> int:
    """One digest of the user's unread, not yet emailed notifications they may still see;
    the number of notifications it listed (0: nothing sent)."""
    with transaction.atomic():
        preference = selectors.preference_for(user=user)
        if preference.email == EmailFrequency.OFF:
            return 0
        pending = Notification.objects.select_for_update().filter(
            Q(user_id=user.pk) & Q(read_at__isnull=True) & Q(emailed_at__isnull=True)
        )
        locked = list(pending.values_list("pk", flat=True))
        rows = list(selectors.notification_page_rows(user=user).filter(pk__in=locked))
        if not rows:
            return 0
        with translation.override(email_language(user, preference)):
            context = {
                "user": user,
                "items": _items(rows),
                "count": len(rows),
                "settings_url": _absolute("/notifications/settings/"),
                "list_url": _absolute("/notifications/"),
            }
            _send(user=user, template="notifications/email/digest", context=context)
        _record(user, EmailDeliveryKind.DIGEST, rows)
    return len(rows)


def digests_send() -> tuple[int, int]:
    """Send every due digest; (emails sent, notifications listed). A failure for one user
    is logged and leaves that user's notifications for the next run."""
    from workspace.accounts.models import User

    emails = listed = 0
    for user in User.objects.filter(pk__in=_digest_user_ids()).order_by("pk"):
        try:
            count = digest_send(user=user)
        except Exception:
            logger.exception("digest for user %s failed", user.pk)
            continue
        emails += 1 if count else 0
        listed += count
    return emails, listed
