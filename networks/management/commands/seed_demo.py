"""`manage.py seed_demo`: create the demo network and print its logins (demo mode only)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from networks.demo import DEMO_PASSWORD, demo_is_needed, seed_demo


class Command(BaseCommand):
    help = "Seed a demo network with users at every role and clearance (demo mode only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if data exists.")
        parser.add_argument("--demo", action="store_true", help="Allow without DEBUG.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG or options["demo"]):
            raise CommandError("seed_demo runs only in demo mode (DJANGO_DEBUG=1 or --demo).")
        if not demo_is_needed():
            if options["if_empty"]:
                self.stdout.write("Database already has data; demo seed skipped.")
                self._print_logins()
                return
            raise CommandError("The database already has a network; refusing to seed twice.")
        seed_demo()
        # messaging builds on networks, never the other way round: imported here only.
        from messaging.notes import seed_demo_notes

        seed_demo_notes()
        # The living demo: discussions in the four languages, read in part, and documents.
        seed_demo_conversations()
        self.stdout.write(self.style.SUCCESS("Demo network created."))
        self._print_logins()

    def _print_logins(self) -> None:
        from networks.demo import DEMO_USERS

        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for spec in DEMO_USERS:
            what = "network admin" if spec.role is None else f"{spec.role}, {spec.clearance}"
            if spec.clearance_expired:
                what += " (expired)"
            if spec.status != "active":
                what += f" ({spec.status})"
            self.stdout.write(f"  {spec.email:<28} {what}")
        self.stdout.write(
            "Second factor: run `.venv/bin/python manage.py demo_code EMAIL` (DJANGO_DEBUG=1)"
            " to print the current TOTP code.\n"
        )


def seed_demo_conversations() -> int:
    """The demo's discussions (networks.demo.DEMO_CONVERSATIONS), reactions, read markers
    and documents; returns how many messages. messaging and documents build on networks,
    never the other way round: they are imported here, in the command, only."""
    from django.core.exceptions import PermissionDenied
    from django.utils import timezone

    from documents.crypto import encrypt
    from documents.keys import space_key_current
    from documents.services import DocumentMeta, document_upload
    from messaging import services
    from messaging.models import Message
    from networks.demo import DEMO_CONVERSATIONS, DEMO_DOCUMENTS, MODERATOR
    from networks.models import Membership, MembershipStatus, Space
    from workspace.accounts.models import User

    people = {u.email: u for u in User.objects.filter(email__endswith="@demo.example")}
    now = timezone.now()
    posted = 0
    for conversation in DEMO_CONVERSATIONS:
        space = Space.objects.get(slug=conversation.space)
        first = people[conversation.posts[0].author]
        topic = services.topic_create(space=space, name=conversation.topic, acting_user=first)
        messages = []
        for post in conversation.posts:
            message = services.message_post(
                space=space,
                topic=topic,
                body=post.body,
                level=post.level,
                tlp=post.tlp,
                acting_user=people[post.author],
            )
            for who, emoji in post.reactions:
                services.reaction_toggle(
                    message=message, emoji=emoji, acting_user=people[who], present=True
                )
            messages.append(message)
        posted += len(messages)
        # Spread the times over the last days, oldest first (no service sets a date).
        start = now - timedelta(days=conversation.started_days_ago)
        step = timedelta(days=conversation.started_days_ago) / (len(messages) + 1)
        for i, message in enumerate(messages):
            Message.objects.filter(pk=message.pk).update(created_at=start + step * i)
        # What each member has read: the start of the discussion; the rest is unread.
        readers = Membership.objects.filter(
            space=space, status=MembershipStatus.ACTIVE
        ).select_related("user")
        for membership in readers:
            upto = (
                conversation.moderator_read_upto
                if membership.user.email == MODERATOR
                else conversation.read_upto
            )
            if upto <= 0:
                continue
            try:
                services.read_mark(
                    topic=topic, seq=messages[upto - 1].seq, acting_user=membership.user
                )
            except PermissionDenied:
                continue  # e.g. an expired clearance that may not read
    for slug, email, title, filename, level, text in DEMO_DOCUMENTS:
        space = Space.objects.get(slug=slug)
        recipient = space_key_current(space=space).recipient
        document_upload(
            space=space,
            acting_user=people[email],
            stream=io.BytesIO(encrypt(text.encode(), [recipient])),
            content_length=None,
            filename=filename,
            meta=DocumentMeta(title=title, level=level),
        )
    return posted
