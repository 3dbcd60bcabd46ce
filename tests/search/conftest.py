"""A corpus for search tests: every kind of item at every level, TLP:RED and an unlisted space.

Every searchable item holds the word "cocaína" (accented) and a marker naming it, so a
test can say exactly which items a user must find and which must stay invisible.
"""

from __future__ import annotations

import dataclasses

import pytest

from networks.clearance import TLP


@dataclasses.dataclass(frozen=True)
class Item:
    marker: str
    kind: str
    pk: int
    space_id: int
    level: int
    tlp: str
    author_id: int | None
    recipient_ids: frozenset[int] = frozenset()


def make_note(*, space, author, title, summary, level=0, tlp="GREEN", recipients=(), indicators=()):
    from messaging.note_services import NoteInput, note_create

    return note_create(
        space=space,
        data=NoteInput(
            title=title,
            summary=summary,
            category="concealment.air_cargo",
            source_reliability="B",
            information_credibility="2",
            handling_code="H0",
            level=level,
            tlp=tlp,
            recipients=list(recipients),
            indicators=list(indicators),
        ),
        acting_user=author,
    )


def make_document(*, space, author, title, description="", level=0, tlp="GREEN", recipients=()):
    """Document metadata only: search never reads the encrypted file, so no blob is needed."""
    from documents.models import Document

    document = Document.objects.create(
        space=space, author=author, title=title, description=description, level=level, tlp=tlp
    )
    if recipients:
        document.recipients.set(recipients)
    return document


def _item(marker: str, kind: str, obj) -> Item:
    """What the rule needs about a stored object, read back from it."""
    recipients = frozenset(obj.recipients.values_list("pk", flat=True)) if kind != "topic" else ()
    return Item(
        marker=marker,
        kind=kind,
        pk=obj.pk,
        space_id=obj.space_id,
        level=getattr(obj, "level", 0),
        tlp=getattr(obj, "tlp", ""),
        author_id=obj.created_by_id if kind == "topic" else obj.author_id,
        recipient_ids=frozenset(recipients),
    )


@pytest.fixture
def corpus(world):
    from messaging.models import Note
    from messaging.services import message_delete, message_post, topic_create

    users, space, other = world["users"], world["space"], world["other_space"]
    secret = users["member_secret"]
    topic = topic_create(space=space, name="Rutas de la cocaína topicmarker", acting_user=secret)
    items = [_item("topicmarker", "topic", topic)]

    def post(
        body, *, level=0, tlp="GREEN", recipients=(), author=secret, in_space=space, in_topic=topic
    ):
        return message_post(
            space=in_space,
            topic=in_topic,
            body=body,
            level=level,
            tlp=tlp,
            recipients=list(recipients),
            acting_user=author,
        )

    for level in range(4):
        items += [
            _item(
                f"msglevel{level}",
                "message",
                post(f"Incautación de cocaína msglevel{level}", level=level),
            ),
            _item(
                f"notelevel{level}",
                "note",
                make_note(
                    space=space,
                    author=secret,
                    title=f"Nota notelevel{level}",
                    summary="Contaminación de contenedores con cocaína",
                    level=level,
                ),
            ),
            _item(
                f"doclevel{level}",
                "document",
                make_document(
                    space=space,
                    author=secret,
                    title=f"Informe doclevel{level}",
                    description="Estadísticas de cocaína",
                    level=level,
                ),
            ),
        ]
    # TLP:RED at the lowest level: visible to its author and named recipient only.
    author, recipient = users["member_confidential"], users["member_open"]
    red = {"tlp": TLP.RED, "recipients": [recipient.pk]}
    items += [
        _item("redmsgmarker", "message", post("cocaína redmsgmarker", author=author, **red)),
        _item(
            "rednotemarker",
            "note",
            make_note(space=space, author=author, title="rednotemarker", summary="cocaína", **red),
        ),
        _item(
            "reddocmarker",
            "document",
            make_document(space=space, author=author, title="reddocmarker cocaína", **red),
        ),
    ]
    # A note's discussion belongs to the note: an OPEN message in the discussion of a
    # SECRET note is found only by those who may see the note.
    secret_note = Note.objects.get(title="Nota notelevel3")
    message = post("cocaína notediscussionmsg", in_topic=secret_note.topic)
    items.append(dataclasses.replace(_item("notediscussionmsg", "message", message), level=3))
    # A deleted message is never found, not even by its author.
    message_delete(message=post("cocaína deletedmarker"), acting_user=secret)
    # The unlisted space: only its own member (other_moderator) finds these.
    om = users["other_moderator"]
    other_topic = topic_create(space=other, name="Kestrel cocaína unlistedtopic", acting_user=om)
    items += [
        _item("unlistedtopic", "topic", other_topic),
        _item(
            "unlistedmsg",
            "message",
            post("cocaína unlistedmsg", author=om, in_space=other, in_topic=other_topic),
        ),
    ]
    return items
