"""`manage.py send_digests`: email each user the digest of their unread notifications.

Safe to run from cron at any rate: a notification is emailed at most once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workspace.notifications.emails import digests_send


class Command(BaseCommand):
    help = "Email each user a digest of their unread notifications (each one at most once)."

    def handle(self, *args: Any, **options: Any) -> None:
        emails, listed = digests_send()
        self.stdout.write(f"digests sent: {emails}, notifications listed: {listed}")
