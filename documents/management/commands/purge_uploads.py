"""`manage.py purge_uploads`: remove abandoned uploads in parts (run it from cron)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from documents.services import upload_sessions_purge


class Command(BaseCommand):
    help = "Delete upload sessions (and their staged ciphertext parts) older than N hours."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-hours", type=int, default=24)

    def handle(self, *args: Any, **options: Any) -> None:
        hours = max(1, options["older_than_hours"])
        count = upload_sessions_purge(older_than=timedelta(hours=hours))
        self.stdout.write(f"Purged {count} abandoned upload(s) older than {hours} h.")
