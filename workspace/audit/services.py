"""Writing audit events and checkpoints: the only way rows enter the hash chain."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from workspace.audit import app_settings
from workspace.audit.chain import checkpoint_sign
from workspace.audit.keys import audit_chain_key, audit_checkpoint_signing_key
from workspace.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent

# Key for pg_advisory_xact_lock: serialises chain appends across processes ("audit").
AUDIT_CHAIN_LOCK_KEY = 0x6175646974

REDACTED = "[redacted]"
_SECRET_KEY_PARTS = ("password", "secret", "token", "code", "key")


def _is_secret_key(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): REDACTED if _is_secret_key(str(k)) else _redact(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        # PostgreSQL text and jsonb refuse NUL characters.
        return value.replace("\x00", "")
    return value


def _clean_details(details: dict[str, Any] | None) -> dict[str, Any]:
    if not details:
        return {}
    # Round-trip through JSON so what we hash is exactly what the database stores
    # (tuples become lists, dates and UUIDs strings); NaN/Infinity are refused.
    plain = json.loads(json.dumps(details, cls=DjangoJSONEncoder, allow_nan=False))
    return _redact(plain)


def _client_ip(request: HttpRequest) -> str:
    from allauth.account.adapter import get_adapter

    try:
        # The adapter honours ALLAUTH_TRUSTED_PROXY_COUNT for X-Forwarded-For.
        return str(get_adapter(request).get_client_ip(request) or "")[:64]
    except Exception:  # noqa: BLE001 - a bad header must not lose the audit event
        return ""


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, ""
    return actor.pk, str(getattr(actor, "email", "") or "")[:254]


def audit_record(
    *,
    action: str,
    actor: Any = None,
    request: HttpRequest | None = None,
    space_id: int | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain; commits with the caller's transaction, if any."""
    actor_id, actor_label = _actor_fields(actor)
    ip, user_agent = "", ""
    if request is not None:
        ip = _client_ip(request)
        user_agent = str(request.META.get("HTTP_USER_AGENT", "")).replace("\x00", "")[:300]
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        actor_label=actor_label,
        ip=ip,
        user_agent=user_agent,
        space_id=space_id,
        target=str(target)[:200],
        details=_clean_details(details),
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Held until the outermost transaction ends, so two writers can never
            # read the same head and fork the chain. On SQLite the IMMEDIATE
            # transaction mode already takes the write lock at BEGIN.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK_KEY])
        head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        event.seq, event.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        event.created_at = timezone.now()
        event.hash = event.compute_hash(audit_chain_key())
        event.full_clean(validate_unique=False, validate_constraints=False)
        event.save()
        every = app_settings.checkpoint_every()
        if every and event.seq % every == 0:
            # In the same transaction: a rolled-back event takes its checkpoint with it.
            _checkpoint_write(seq=event.seq, hash=event.hash)
    return event


class AuditChainEmpty(Exception):
    """There is no event to checkpoint yet."""


def audit_checkpoint_create() -> AuditCheckpoint:
    """Sign the chain's current head and store the checkpoint; export it with .signed()."""
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    if head is None:
        raise AuditChainEmpty("The audit log has no events to checkpoint yet.")
    return _checkpoint_write(seq=head[0], hash=head[1])


def _checkpoint_write(*, seq: int, hash: str) -> AuditCheckpoint:
    created_at = timezone.now().astimezone(UTC).isoformat(timespec="microseconds")
    signed = checkpoint_sign(
        audit_checkpoint_signing_key(), seq=seq, hash=hash, created_at=created_at
    )
    checkpoint = AuditCheckpoint(
        seq=signed.seq,
        hash=signed.hash,
        created_at=signed.created_at,
        public_key=signed.public_key,
        signature=signed.signature,
    )
    checkpoint.full_clean()
    checkpoint.save()
    return checkpoint
