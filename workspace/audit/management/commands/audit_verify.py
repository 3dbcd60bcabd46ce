"""manage.py audit_verify: check the keyed audit chain and its checkpoints; name the first break."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspace.audit.chain import SignedCheckpoint
from workspace.audit.selectors import ExpectedRow, audit_chain_verify

HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _expected_head(value: str) -> ExpectedRow:
    match = HEAD.match(value.strip())
    if match is None:
        raise CommandError(f"--expect-head wants SEQ:HASH (64 hex digits), not {value!r}")
    return ExpectedRow(seq=int(match[1]), hash=match[2], source=f"--expect-head {value}")


def _checkpoint_file(path: str) -> SignedCheckpoint:
    try:
        return SignedCheckpoint.from_json(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"{path}: {exc}") from exc


class Command(BaseCommand):
    help = (
        "Verify the append-only audit log: every row's HMAC under the chain key, every "
        "stored checkpoint's signature, and that the chain still holds each checkpoint "
        "and expected head given here. Exits non-zero on the first break."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="FILE",
            help="a checkpoint exported by audit_checkpoint --out; repeatable",
        )
        parser.add_argument(
            "--expect-head",
            action="append",
            default=[],
            metavar="SEQ:HASH",
            help="a head printed by an earlier audit_verify (its last line); repeatable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expected = [_expected_head(value) for value in options["expect_head"]]
        files = [
            (f"checkpoint file {path}", _checkpoint_file(path)) for path in options["checkpoint"]
        ]
        result = audit_chain_verify(checkpoints=files, expected=expected)
        if not result.ok:
            raise CommandError(result.describe())
        self.stdout.write(result.describe())
        # Keep this, or an exported checkpoint, outside the database: `--expect-head`
        # or `--checkpoint` then detects rows removed from the end, or all of them.
        self.stdout.write(f"head: seq {result.head_seq} hash {result.head_hash}")
