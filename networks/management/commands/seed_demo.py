"""`manage.py seed_demo`: create the demo network and print its logins (demo mode only)."""

from __future__ import annotations

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
