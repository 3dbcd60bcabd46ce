"""manage.py audit_checkpoint: sign the audit chain's head, store it, and export it as JSON."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspace.audit.selectors import audit_chain_verify
from workspace.audit.services import AuditChainEmpty, audit_checkpoint_create


class Command(BaseCommand):
    help = (
        "Verify the audit chain, then write an Ed25519-signed checkpoint of its head; "
        "print it (or write it to --out) as JSON to keep outside the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", metavar="FILE", help="write the checkpoint here (mode 0600)")

    def handle(self, *args: Any, **options: Any) -> None:
        # Signing a broken chain would only hide the break behind a valid signature.
        result = audit_chain_verify()
        if not result.ok:
            raise CommandError(f"not signing: {result.describe()}")
        try:
            checkpoint = audit_checkpoint_create()
        except AuditChainEmpty as exc:
            raise CommandError(str(exc)) from exc
        text = checkpoint.signed().to_json() + "\n"
        if options["out"]:
            fd = os.open(options["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            self.stdout.write(f"checkpoint: seq {checkpoint.seq} hash {checkpoint.hash}")
        else:
            self.stdout.write(text, ending="")
