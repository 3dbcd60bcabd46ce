"""`manage.py export_space_identity SPACE --as ADMIN_EMAIL --out FILE`: disaster recovery.

Writes the space's age identities (AGE-SECRET-KEY-1…, one per live key) to a file with
mode 0600, for use with `age -d -i FILE`. Network admins only; every export is audited.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.keys import space_key_identity
from documents.management.commands.rotate_space_key import _space
from documents.models import SpaceKey
from networks.access import is_network_admin
from workspace.accounts.models import User
from workspace.audit.services import audit_record


class Command(BaseCommand):
    help = "Export a space's age identities for disaster recovery (network admins only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("space", help="space id or slug")
        parser.add_argument("--as", dest="admin", required=True, help="network admin's email")
        parser.add_argument("--out", required=True, help="file to create (mode 0600)")

    def handle(self, *args: Any, **options: Any) -> None:
        space = _space(options["space"])
        admin = User.objects.filter(email__iexact=options["admin"], is_active=True).first()
        if admin is None or not is_network_admin(admin, space.network_id):
            raise CommandError("Only a network admin (with MFA set up) may export identities.")
        keys = SpaceKey.objects.filter(space=space, destroyed_at__isnull=True).order_by(
            "created_at"
        )
        lines = [f"# space {space.slug} key {k.key_id}\n{space_key_identity(k)}\n" for k in keys]
        path = Path(options["out"])
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists; refusing to overwrite it.") from None
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)
        audit_record(
            action="space_key.exported",
            actor=admin,
            space_id=space.pk,
            target=f"space:{space.pk}",
            details={"keys": len(lines)},
        )
        self.stdout.write(self.style.SUCCESS(f"Wrote {len(lines)} identities to {path}"))
