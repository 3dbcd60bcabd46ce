"""Notification pages without JavaScript: list, mark read, settings, follow; hostile input."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from networks.models import MembershipStatus
from networks.services import membership_set_status
from tests.messaging.conftest import post
from workspace.notifications.models import Notification, NotificationPreference, TopicFollow

pytestmark = pytest.mark.django_db


def at(user) -> str:
    return f"@**{user.email}**"


def login(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def test_the_list_shows_text_and_the_bell_counts(room):
    u = room["users"]
    post(room, "open", f"Marker-heron {at(u['restricted'])}")
    response = login(u["restricted"]).get(reverse("notification_list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Marker-heron" in body and room["space"].name in body
    assert "tlp-badge tlp-green" in body and "OPEN" in body  # the item's labels
    assert 'id="notification-bell"' in body and 'data-unread="1"' in body


def test_a_removed_member_no_longer_sees_the_text(room):
    u = room["users"]
    post(room, "open", f"Marker-heron {at(u['restricted'])}")
    membership = room["space"].memberships.get(user=u["restricted"])
    membership_set_status(membership=membership, status=MembershipStatus.REMOVED,
                          acting_user=room["admin"])
    body = login(u["restricted"]).get(reverse("notification_list")).content.decode()
    assert "Marker-heron" not in body and 'data-unread="0"' in body


def test_mark_read_and_mark_all_read_by_post(room):
    u = room["users"]
    post(room, "open", f"one {at(u['secret'])}")
    post(room, "open", f"two {at(u['secret'])}")
    client = login(u["secret"])
    first = Notification.objects.filter(user=u["secret"]).first()
    response = client.post(reverse("notification_read", args=[first.pk]))
    assert response.status_code == 302 and response.url == reverse("notification_list")
    first.refresh_from_db()
    assert first.read_at is not None
    response = client.post(reverse("notification_read_all"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=u["secret"], read_at__isnull=True).exists()


def test_another_users_notification_is_a_404_and_untouched(room):
    u = room["users"]
    post(room, "open", f"Marker-heron {at(u['secret'])}")
    notification = Notification.objects.get(user=u["secret"])
    response = login(u["confidential"]).post(reverse("notification_read", args=[notification.pk]))
    assert response.status_code == 404
    assert "Marker-heron" not in response.content.decode()
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.parametrize("path", [
    "/notifications/abc/read/",
    "/notifications/-1/read/",
    "/notifications/99999999999999999999/read/",
    "/notifications/0/read/",
])
def test_bad_ids_are_404(room, path):
    response = login(room["users"]["open"]).post(path)
    assert response.status_code == 404


def test_a_hidden_notification_cannot_be_marked_read(room):
    u = room["users"]
    post(room, "secret", f"conf {at(u['confidential'])}", level=2)
    notification = Notification.objects.get(user=u["confidential"])
    membership = room["space"].memberships.get(user=u["confidential"])
    membership_set_status(membership=membership, status=MembershipStatus.SUSPENDED,
                          acting_user=room["admin"])
    response = login(u["confidential"]).post(reverse("notification_read", args=[notification.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize(("name", "args"), [
    ("notification_read", "notification"),
    ("notification_read_all", None),
    ("notification_settings", None),
    ("topic_follow", "topic"),
])
def test_posts_need_the_csrf_token(room, name, args):
    u = room["users"]
    post(room, "open", f"x {at(u['secret'])}")
    kwargs = {
        "notification": [Notification.objects.get(user=u["secret"]).pk],
        "topic": [room["space"].pk, room["topic"].pk],
        None: [],
    }[args]
    response = login(u["secret"], csrf=True).post(
        reverse(name, args=kwargs), {"email": "off", "following": "1"}
    )
    assert response.status_code == 403
    assert Notification.objects.get(user=u["secret"]).read_at is None
    assert not NotificationPreference.objects.exists()


@pytest.mark.parametrize(("method", "name", "args"), [
    ("get", "notification_read", [1]),
    ("get", "notification_read_all", []),
    ("get", "topic_follow", "topic"),
    ("put", "notification_list", []),
    ("delete", "notification_settings", []),
])
def test_wrong_methods_are_405(room, method, name, args):
    if args == "topic":
        args = [room["space"].pk, room["topic"].pk]
    response = getattr(login(room["users"]["open"]), method)(reverse(name, args=args))
    assert response.status_code == 405


def test_anonymous_is_sent_to_sign_in(room):
    for name in ("notification_list", "notification_settings"):
        response = Client().get(reverse(name))
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_settings_are_saved_and_bad_values_refused(room):
    user = room["users"]["open"]
    client = login(user)
    assert client.get(reverse("notification_settings")).status_code == 200
    for bad in ({"email": "hourly"}, {"email": "off", "language": "de"}, {},
                {"email": ["off", "daily"], "language": "x" * 5000}):
        response = client.post(reverse("notification_settings"), bad)
        assert response.status_code == 400
    assert not NotificationPreference.objects.exists()
    response = client.post(reverse("notification_settings"), {"email": "immediate",
                                                              "language": "pt"})
    assert response.status_code == 302
    pref = NotificationPreference.objects.get(user=user)
    assert (pref.email, pref.language) == ("immediate", "pt")


def test_follow_and_unfollow_a_topic(room):
    u = room["users"]
    client = login(u["restricted"])
    url = reverse("topic_follow", args=[room["space"].pk, room["topic"].pk])
    page = client.get(reverse("topic_detail", args=[room["space"].pk, room["topic"].pk]))
    assert "Follow this topic" in page.content.decode()
    response = client.post(url, {"following": "1"})
    assert response.status_code == 302
    assert response.url == reverse("topic_detail", args=[room["space"].pk, room["topic"].pk])
    assert TopicFollow.objects.get(user=u["restricted"], topic=room["topic"]).following
    response = client.post(url, {"following": "0", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil" not in response.url
    assert not TopicFollow.objects.get(user=u["restricted"], topic=room["topic"]).following


def test_follow_refuses_bad_input(room):
    u = room["users"]
    client = login(u["restricted"])
    space, topic, other = room["space"], room["topic"], room["other_topic"]
    assert client.post(reverse("topic_follow", args=[space.pk, topic.pk]),
                       {"following": "maybe"}).status_code == 400
    # A topic of another space through this space's URL, and a missing topic: 404.
    assert client.post(reverse("topic_follow", args=[space.pk, other.pk]),
                       {"following": "1"}).status_code == 404
    assert client.post(reverse("topic_follow", args=[space.pk, 10**9]),
                       {"following": "1"}).status_code == 404
    # Another space's topic through its own URL: not a member there.
    assert client.post(reverse("topic_follow", args=[other.space_id, other.pk]),
                       {"following": "1"}).status_code in (403, 404)
    assert not TopicFollow.objects.filter(user=u["restricted"]).exists()


@pytest.mark.parametrize(
    ("level", "tlp", "who"),
    [(2, "AMBER", "restricted"), (0, "RED", "confidential")],  # above them; RED, not for them
)
def test_following_a_hidden_note_discussion_is_answered_as_a_missing_topic(room, level, tlp, who):
    """A note's discussion is part of the note: following it, for a member who may not see
    the note, is the same 404 as a topic that does not exist, and follows nothing."""
    import dataclasses

    from messaging.note_services import note_create
    from tests.messaging.test_notes import BASE

    u = room["users"]
    note = note_create(
        space=room["space"],
        data=dataclasses.replace(BASE, level=level, tlp=tlp, recipients=[u["secret"]]
                                 if tlp == "RED" else []),
        acting_user=u["moderator"],
    )
    client = login(u[who])
    space = room["space"]
    hidden = client.post(reverse("topic_follow", args=[space.pk, note.topic_id]),
                         {"following": "1"})
    missing = client.post(reverse("topic_follow", args=[space.pk, 10**9]), {"following": "1"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.templates[0].name == missing.templates[0].name
    assert "You follow this topic" not in client.get(reverse("notification_list")).content.decode()
    assert not TopicFollow.objects.filter(user=u[who]).exists()
    # Whoever may see the note follows its discussion.
    viewer = login(u["secret"])
    assert viewer.post(reverse("topic_follow", args=[space.pk, note.topic_id]),
                       {"following": "1"}).status_code == 302
    assert TopicFollow.objects.get(user=u["secret"], topic=note.topic).following


def test_the_list_query_count_does_not_grow(room, django_assert_max_num_queries):
    u = room["users"]
    client = login(u["secret"])
    post(room, "open", f"one {at(u['secret'])}")
    with django_assert_max_num_queries(30) as few:
        client.get(reverse("notification_list"))
    for i in range(10):
        post(room, "open", f"more {i} {at(u['secret'])}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("notification_list"))


@pytest.mark.parametrize("page", ["abc", "-1", "0", "99999999999999999999", "1e9", ""])
def test_hostile_page_numbers_still_render(room, page):
    u = room["users"]
    post(room, "open", f"Marker-heron {at(u['secret'])}")
    response = login(u["secret"]).get(reverse("notification_list"), {"page": page})
    assert response.status_code == 200
