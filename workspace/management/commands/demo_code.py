"""`manage.py demo_code EMAIL`: print a demo user's current TOTP code (demo mode only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspace.accounts.models import User
from workspace.accounts.totp import totp_current_code


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo user (demo mode only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--demo", action="store_true", help="Allow without DEBUG.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEBUG or options["demo"]):
            raise CommandError("demo_code runs only in demo mode (DJANGO_DEBUG=1 or --demo).")
        email = options["email"].strip().lower()
        if not email.endswith("@demo.example"):
            raise CommandError("demo_code only serves demo accounts (@demo.example).")
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(f"No demo user {email}.")
        try:
            self.stdout.write(totp_current_code(user=user))
        except Exception as exc:  # noqa: BLE001
            raise CommandError(f"{email} has no TOTP authenticator.") from exc
