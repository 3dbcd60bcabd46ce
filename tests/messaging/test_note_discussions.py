"""A note's discussion is part of the note: whoever may not see the note sees nothing of it.

Its topic name ("Note MO-…"), its messages (whatever their own labels), its events on
replay and live delivery, unread counts and mentions all stay hidden, so none of them
reveals that the note exists.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse

from messaging import handlers, selectors, services
from messaging.models import Event, Mention, Topic
from messaging.note_services import note_create, note_edit
from messaging.protocol import parse
from tests.messaging.test_notes import BASE

pytestmark = pytest.mark.django_db

READERS = ["member_open", "member_restricted", "member_confidential", "member_secret",
           "moderator", "member_expired"]


def _note(world, *, level=2, tlp="GREEN", recipients=(), who="member_secret"):
    data = dataclasses.replace(
        BASE, level=level, tlp=tlp, recipients=[world["users"][r].pk for r in recipients]
    )
    return note_create(space=world["space"], data=data, acting_user=world["users"][who])


def _say(world, topic, who="member_secret", body="open words", level=0):
    return services.message_post(
        space=world["space"], topic=topic, body=body, level=level, tlp="GREEN",
        recipients=[], client_id=uuid.uuid4(), acting_user=world["users"][who],
    )


def _sees_discussion(world, who, topic) -> bool:
    """Every read path at once; they must agree."""
    user, space_id = world["users"][who], world["space"].pk
    in_topics = selectors.visible_topics(user=user, space_id=space_id).filter(pk=topic.pk)
    in_list = topic.pk in {t.pk for t in selectors.topics_with_unread(user=user,
                                                                      space_id=space_id)}
    messages = selectors.visible_messages(user=user, space_id=space_id).filter(topic=topic)
    replay = selectors.visible_events_after(user=user, space_id=space_id, after_seq=0,
                                            limit=1000)
    replayed = [e for e in replay.events if e.topic_id == topic.pk]
    live = selectors.visible_events_after_many(windows=[(user, 0)], space_id=space_id,
                                               limit=1000, upto=replay.head)[0]
    assert [e.pk for e in live.events] == [e.pk for e in replay.events], who
    try:
        selectors.visible_topic(user=user, space_id=space_id, topic_id=topic.pk)
        one = True
    except Topic.DoesNotExist:
        one = False
    answers = {in_topics.exists(), in_list, messages.exists(), bool(replayed), one}
    assert len(answers) == 1, (who, answers)
    return answers.pop()


def test_a_confidential_notes_discussion_is_hidden_below_confidential(world):
    note = _note(world, level=2)
    _say(world, note.topic, level=0)  # an OPEN message, in a CONFIDENTIAL note's discussion
    expected = {"member_open": False, "member_restricted": False, "member_expired": False,
                "member_confidential": True, "member_secret": True, "moderator": True}
    assert {who: _sees_discussion(world, who, note.topic) for who in READERS} == expected


def test_a_red_notes_discussion_is_for_its_author_and_recipients_only(world):
    note = _note(world, level=0, tlp="RED", recipients=["member_restricted"])
    _say(world, note.topic, level=0)
    seen = {who for who in READERS if _sees_discussion(world, who, note.topic)}
    assert seen == {"member_secret", "member_restricted"}


def test_raising_a_notes_level_hides_its_existing_discussion(world):
    note = _note(world, level=0)
    _say(world, note.topic, level=0)
    assert _sees_discussion(world, "member_open", note.topic)
    note_edit(note=note, data=dataclasses.replace(BASE, level=2),
              acting_user=world["users"]["member_secret"])
    assert not _sees_discussion(world, "member_open", note.topic)
    assert _sees_discussion(world, "member_confidential", note.topic)


def test_pages_and_frames_treat_a_hidden_discussion_as_missing(world, client):
    note = _note(world, level=2)
    message = _say(world, note.topic, level=0)
    outsider = world["users"]["member_restricted"]
    client.force_login(outsider)
    space_id = world["space"].pk
    detail = reverse("topic_detail", kwargs={"space_id": space_id, "topic_id": note.topic.pk})
    assert client.get(detail).status_code == 404
    listing = client.get(reverse("topic_list", kwargs={"space_id": space_id}))
    assert listing.status_code == 200
    assert note.reference.encode() not in listing.content
    post_url = reverse("message_post", kwargs={"space_id": space_id, "topic_id": note.topic.pk})
    before = note.topic.messages.count()
    assert client.post(post_url, {"body": "probe", "level": 0, "tlp": "GREEN"}).status_code == 404
    assert note.topic.messages.count() == before
    for frame in (
        {"type": "post", "space_id": space_id, "topic_id": note.topic.pk, "body": "x",
         "level": 0, "tlp": "GREEN"},
        {"type": "typing", "space_id": space_id, "topic_id": note.topic.pk},
        {"type": "read", "space_id": space_id, "topic_id": note.topic.pk, "seq": 1},
        {"type": "react", "space_id": space_id, "message_id": message.pk, "emoji": "+1",
         "present": True},
    ):
        parsed = parse({"client_id": str(uuid.uuid4()), **frame})
        with pytest.raises(ObjectDoesNotExist):
            getattr(handlers, frame["type"])(outsider, parsed)
    assert note.topic.messages.count() == before


def test_mentions_in_a_hidden_discussion_notify_no_one_who_cannot_see_the_note(world):
    note = _note(world, level=2)
    restricted = world["users"]["member_restricted"]
    confidential = world["users"]["member_confidential"]
    message = _say(world, note.topic, level=0,
                   body=f"@**{restricted.display_name}** @**{confidential.display_name}**")
    assert set(Mention.objects.filter(message=message).values_list("user_id", flat=True)) == {
        confidential.pk
    }


def test_ordinary_topics_are_unaffected(world):
    topic = services.topic_create(space=world["space"], name="General",
                                  acting_user=world["users"]["member_open"])
    _say(world, topic, who="member_open", level=0)
    for who in ["member_open", "member_restricted", "member_expired", "moderator"]:
        assert _sees_discussion(world, who, topic), who
    assert Topic.objects.filter(pk=topic.pk).exists()
    assert Event.objects.filter(topic=topic).count() == 2
