"""Space keys: create, unwrap, rotate and destroy. Private halves exist only wrapped."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from documents.crypto import generate_identity, identity_from_bytes, identity_to_bytes
from documents.models import SpaceKey
from networks.models import Space
from workspace.keys import get_key_provider


class KeyDestroyed(Exception):
    """The key was crypto-shredded; nothing encrypted to it can be read any more."""


def _context(space_id: int, key_id: object) -> bytes:
    # Associated data binds a wrapped key to its space and id: a row copied onto
    # another space or key id fails to unwrap.
    return f"workspace/space-key/v1/space={space_id}/key={key_id}".encode()


def space_key_create(*, space: Space) -> SpaceKey:
    identity, recipient = generate_identity()
    provider = get_key_provider()
    key = SpaceKey(
        space=space, recipient=recipient, master_key_id=provider.key_id, wrapped_identity=b""
    )
    key.wrapped_identity = provider.wrap(
        identity_to_bytes(identity), context=_context(space.pk, key.key_id)
    )
    key.save()
    return key


@transaction.atomic
def space_key_current(*, space: Space) -> SpaceKey:
    """The space's current key, created on first use (under a lock on the space row)."""
    key = SpaceKey.objects.filter(space=space, retired_at__isnull=True).first()
    if key is not None:
        return key
    Space.objects.select_for_update().filter(pk=space.pk).first()
    key = SpaceKey.objects.filter(space=space, retired_at__isnull=True).first()
    return key or space_key_create(space=space)


def space_key_identity(key: SpaceKey) -> str:
    """The AGE-SECRET-KEY-1… identity; exists only in memory, never stored or logged."""
    if key.destroyed_at is not None or not key.wrapped_identity:
        raise KeyDestroyed(str(key.key_id))
    raw = get_key_provider().unwrap(
        bytes(key.wrapped_identity), context=_context(key.space_id, key.key_id)
    )
    return identity_from_bytes(raw)


def space_key_destroy(*, key: SpaceKey) -> None:
    """Crypto-shredding: forget the wrapped private half."""
    SpaceKey.objects.filter(pk=key.pk).update(
        wrapped_identity=b"",
        destroyed_at=timezone.now(),
        retired_at=key.retired_at or timezone.now(),
    )
