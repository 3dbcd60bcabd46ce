"""A topic page opens at the first unread message and marks nothing read by itself;
a POST to the page marks it read up to a seq (what the script saw) or entirely."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from messaging import selectors
from messaging.models import ReadMarker
from networks.clearance import TLP
from tests.messaging.conftest import post

pytestmark = pytest.mark.django_db


def _url(room) -> str:  # type: ignore[no-untyped-def]
    return reverse("topic_detail", args=[room["space"].pk, room["topic"].pk])


def _client(user, *, csrf: bool = False) -> Client:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def _marker(room, who: str) -> int | None:  # type: ignore[no-untyped-def]
    return ReadMarker.objects.filter(
        user=room["users"][who], topic=room["topic"]
    ).values_list("last_seq", flat=True).first()


def test_the_page_opens_at_the_first_unread_with_a_divider(room, settings):
    settings.MESSAGING_PAGE_SIZE = 5
    messages = [post(room, "secret", f"BODY-{i:02d}") for i in range(12)]
    client = _client(room["users"]["open"])
    client.post(_url(room), {"seq": str(messages[5].seq)})
    body = client.get(_url(room)).content.decode()
    # Message 6 (index 6) is the first unread: the second page (5..9) holds it.
    assert "BODY-06" in body and "BODY-04" not in body and "BODY-11" not in body
    divider = body.index('id="first-unread"')
    assert body.index("BODY-05") < divider < body.index("BODY-06")
    assert "6 new messages" in body and "?page=2#first-unread" in body
    assert _marker(room, "open") == messages[5].seq, "opening the page read nothing"


def test_without_unread_the_page_opens_on_the_newest_without_a_divider(room, settings):
    settings.MESSAGING_PAGE_SIZE = 5
    for i in range(7):
        post(room, "open", f"OWN-{i}")  # one's own messages are never unread
    body = _client(room["users"]["open"]).get(_url(room)).content.decode()
    assert "OWN-6" in body and "OWN-0" not in body
    assert "first-unread" not in body and "Mark all read" not in body


def test_hidden_messages_neither_count_nor_place_the_divider(room):
    post(room, "secret", "SECRET-ONE", level=3)
    post(room, "secret", "RED-ONE", tlp=TLP.RED, recipients=(room["users"]["confidential"],))
    post(room, "secret", "OPEN-ONE")
    body = _client(room["users"]["restricted"]).get(_url(room)).content.decode()
    assert "1 new message" in body
    assert body.index('id="first-unread"') < body.index("OPEN-ONE")


def test_mark_read_up_to_a_seq_and_all(room):
    messages = [post(room, "secret", f"m{i}") for i in range(4)]
    client = _client(room["users"]["restricted"])
    answer = client.post(_url(room), {"seq": str(messages[1].seq)},
                         HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    assert answer.json() == {"topic_id": room["topic"].pk, "seq": messages[1].seq}
    # Never backwards.
    client.post(_url(room), {"seq": str(messages[0].seq)}, HTTP_ACCEPT="application/json")
    assert _marker(room, "restricted") == messages[1].seq
    # Beyond the head is the head.
    client.post(_url(room), {"seq": "999999"}, HTTP_ACCEPT="application/json")
    assert _marker(room, "restricted") == selectors.space_head(space_id=room["space"].pk)
    # "Mark all read" without JavaScript: a plain form, then back to the page.
    other = _client(room["users"]["open"])
    answer = other.post(_url(room), {"read": "all"})
    assert answer.status_code == 302 and answer.url == _url(room)
    assert selectors.unread_by_topic(user=room["users"]["open"], space_id=room["space"].pk) == {}
    # An observer may read.
    assert _client(room["users"]["observer"]).post(_url(room), {"read": "all"}).status_code == 302


@pytest.mark.parametrize(
    "seq", ["", "-1", "abc", "1.5", "1e3", "٣", "12345678901234567890", " 3", "0x10", "3\x00"]
)
def test_hostile_seqs_are_refused(room, seq):
    post(room, "secret", "m")
    answer = _client(room["users"]["open"]).post(_url(room), {"seq": seq})
    assert answer.status_code == 400
    assert _marker(room, "open") is None


def test_who_may_not_see_the_topic_cannot_mark_it(room):
    post(room, "secret", "m")
    outsider = _client(room["users"]["outsider"])
    assert outsider.post(_url(room), {"read": "all"}).status_code in (403, 404)
    elsewhere = reverse("topic_detail", args=[room["space"].pk, room["other_topic"].pk])
    assert _client(room["users"]["open"]).post(elsewhere, {"read": "all"}).status_code == 404
    assert not ReadMarker.objects.exists()


def test_marking_read_needs_the_csrf_token(room):
    post(room, "secret", "m")
    answer = _client(room["users"]["open"], csrf=True).post(_url(room), {"read": "all"})
    assert answer.status_code == 403
    assert not ReadMarker.objects.exists()
