"""manage.py audit_verify: recompute the audit hash chain and report the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workspace.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the append-only audit log's SHA-256 hash chain; exits non-zero if broken."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_chain_verify()
        if not result.ok:
            raise CommandError(result.describe())
        self.stdout.write(result.describe())
        # Keep this outside the database (e.g. in monitoring) to detect a removed tail.
        self.stdout.write(f"head: seq {result.head_seq} hash {result.head_hash}")
