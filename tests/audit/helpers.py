"""Raw-SQL tampering for the audit tests, bypassing the ORM guard and the PostgreSQL trigger."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection

from workspace.audit.models import AuditEvent

TABLE = AuditEvent._meta.db_table


def tamper(sql: str, params: Sequence[Any] = ()) -> None:
    """Run raw SQL against the audit table as an attacker with database access would."""
    with connection.cursor() as cursor:
        postgres = connection.vendor == "postgresql"
        if postgres:
            # Replica mode skips ordinary triggers for this session (superuser only).
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            if postgres:
                cursor.execute("SET session_replication_role = DEFAULT")


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
