"""`manage.py rotate_space_key SPACE`: new space key; re-wrap every header; resumable."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.services import space_key_rotate
from networks.models import Space


def _space(ref: str) -> Space:
    space = Space.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
    space = space or Space.objects.filter(slug=ref).first()
    if space is None:
        raise CommandError(f"No space {ref!r} (give its id or slug).")
    return space


class Command(BaseCommand):
    help = "Rotate a space's key: re-wrap each document header, payloads untouched."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("space", help="space id or slug")

    def handle(self, *args: Any, **options: Any) -> None:
        space = _space(options["space"])
        out = self.stdout

        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // max(total, 1)
            out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
            if done == total:
                out.write("")
            sys.stdout.flush()

        key = space_key_rotate(space=space, progress=progress)
        out.write(self.style.SUCCESS(f"Space {space.slug}: current key {key.key_id}"))
