"""Notification fixtures: the messaging room (members at every clearance) and helpers."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.messaging.conftest import build_room


@pytest.fixture
def room(db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return build_room()


def upload(room: dict[str, Any], who: str, *, title: str, level: int = 0, tlp: str = "GREEN",
           recipients: tuple = (), description: str = "") -> Any:
    """A real document upload (age ciphertext) through documents.services."""
    from documents.crypto import encrypt
    from documents.keys import space_key_current
    from documents.services import DocumentMeta, document_upload

    space = room["space"]
    ciphertext = encrypt(b"document body", [space_key_current(space=space).recipient])
    version = document_upload(
        space=space,
        acting_user=room["users"][who],
        stream=io.BytesIO(ciphertext),
        content_length=len(ciphertext),
        filename="brief.txt",
        meta=DocumentMeta(title=title, description=description, level=level, tlp=tlp,
                          recipient_ids=[r.pk for r in recipients]),
    )
    return version.document


def mention(user: Any) -> str:
    return f"@**{user.display_name}**"
