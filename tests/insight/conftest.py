"""Fixtures for the insight tests: items posted through the real services, then dated."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from documents.crypto import encrypt
from documents.keys import space_key_current
from documents.models import Document
from documents.services import DocumentMeta, document_upload
from messaging import services
from messaging.models import Message, Note
from messaging.note_services import NoteInput, note_create


@pytest.fixture
def post(world):  # type: ignore[no-untyped-def]
    """post(kind, user_key, at, level=0, space=None): an item created by its service, then
    moved to `at` (creation dates are not an input of any service)."""
    topics = {}

    def _post(kind: str, user_key: str, at: datetime, *, level: int = 0, space=None):  # type: ignore[no-untyped-def]
        space = space or world["space"]
        user = world["users"][user_key]
        if kind == "message":
            if space.pk not in topics:
                topics[space.pk] = services.topic_create(
                    space=space, name="Weekly", acting_user=user
                )
            item = services.message_post(
                space=space,
                topic=topics[space.pk],
                body="insight body text",
                level=level,
                tlp="GREEN",
                acting_user=user,
            )
            Message.objects.filter(pk=item.pk).update(created_at=at)
        elif kind == "note":
            item = note_create(
                space=space,
                data=NoteInput(
                    title="Insight note title",
                    summary="s",
                    category="concealment.air_cargo",
                    source_reliability="B",
                    information_credibility="2",
                    handling_code="H0",
                    level=level,
                    tlp="GREEN",
                ),
                acting_user=user,
            )
            Note.objects.filter(pk=item.pk).update(created_at=at)
        else:
            recipient = space_key_current(space=space).recipient
            item = document_upload(
                space=space,
                acting_user=user,
                stream=io.BytesIO(encrypt(b"x", [recipient])),
                content_length=None,
                filename="x.txt",
                meta=DocumentMeta(title="Insight doc title", level=level),
            ).document
            Document.objects.filter(pk=item.pk).update(created_at=at)
        return item

    return _post
