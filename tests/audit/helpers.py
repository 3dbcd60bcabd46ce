"""Tampering for the audit tests, as an attacker who holds the database but not the master key.

On PostgreSQL the tampering runs as the tables' owner (DATABASE_OWNER_URL, when the tests
run as the restricted application role), with the append-only triggers disabled for its
own transaction, so tests that tamper mark themselves `tampering_db`: transactional on
PostgreSQL, where the tampering commits as the owner for the application's role to see.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection, transaction

from workspace.audit.chain import event_canonical_bytes
from workspace.audit.dbroles import as_table_owner
from workspace.audit.models import AuditCheckpoint, AuditEvent

TABLE = AuditEvent._meta.db_table
CHECKPOINT_TABLE = AuditCheckpoint._meta.db_table

Hasher = Callable[[bytes], str]

tampering_db = pytest.mark.django_db(transaction=connection.vendor == "postgresql")


def sha256_hasher(data: bytes) -> str:
    """The attacker recomputes with the old, unkeyed rule."""
    return hashlib.sha256(data).hexdigest()


def wrong_key_hasher(data: bytes) -> str:
    """The attacker recomputes with HMAC-SHA256 under a key of their own."""
    return hmac.new(b"k" * 32, data, hashlib.sha256).hexdigest()


def tamper(sql: str, params: Sequence[Any] = ()) -> None:
    """Run raw SQL against the audit tables, past the ORM guard and the PostgreSQL triggers."""
    with as_table_owner():
        with transaction.atomic(), connection.cursor() as cursor:
            postgres = connection.vendor == "postgresql"
            if postgres:
                for table in (TABLE, CHECKPOINT_TABLE):
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            if postgres:
                for table in (TABLE, CHECKPOINT_TABLE):
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def tamper_insert(event: AuditEvent) -> None:
    """Insert an unsaved AuditEvent's fields directly, skipping audit_record()."""
    tamper(
        f"INSERT INTO {TABLE} (seq, created_at, action, actor_id, actor_label, ip, "  # noqa: S608
        "user_agent, space_id, target, details, prev_hash, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            event.seq,
            connection.ops.adapt_datetimefield_value(event.created_at),
            event.action,
            event.actor_id,
            event.actor_label,
            event.ip,
            event.user_agent,
            event.space_id,
            event.target,
            json.dumps(event.details),
            event.prev_hash,
            event.hash,
        ],
    )


def tamper_shift_seq(*, from_seq: int, by: int) -> None:
    """Renumber rows with seq >= from_seq, in two steps so the unique index never collides."""
    tamper(f"UPDATE {TABLE} SET seq = seq + 1000000 WHERE seq >= %s", [from_seq])  # noqa: S608
    tamper(
        f"UPDATE {TABLE} SET seq = seq - 1000000 + %s WHERE seq >= 1000000",  # noqa: S608
        [by],
    )


def rehash_forward(*, from_seq: int, hasher: Hasher, until_seq: int | None = None) -> None:
    """Relink and rehash the rows from `from_seq` on, as a forger covering their tracks."""
    previous = AuditEvent.objects.filter(seq__lt=from_seq).order_by("-seq").first()
    prev_hash = previous.hash if previous else "0" * 64
    rows = AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq")
    if until_seq is not None:
        rows = rows.filter(seq__lte=until_seq)
    for event in rows:
        event.prev_hash = prev_hash
        event.hash = hasher(event_canonical_bytes(event))
        tamper(
            f"UPDATE {TABLE} SET prev_hash = %s, hash = %s WHERE id = %s",  # noqa: S608
            [event.prev_hash, event.hash, event.pk],
        )
        prev_hash = event.hash
