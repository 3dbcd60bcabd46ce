"""The pages that work without JavaScript: lists filtered in SQL, forms refusing hostile input."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from messaging import services
from messaging.models import Event, Message, Topic
from networks.clearance import TLP
from tests.messaging.conftest import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(client, room):
    def login(who):
        client.force_login(room["users"][who])
        return client
    return login


def _topic_url(room):
    return reverse("topic_detail", args=[room["space"].pk, room["topic"].pk])


def _post_url(room):
    return reverse("message_post", args=[room["space"].pk, room["topic"].pk])


def test_topic_list_shows_topics_and_unread_counts(as_user, room):
    post(room, "open", "one")
    post(room, "secret", "hidden", level=3)
    response = as_user("restricted").get(reverse("topic_list", args=[room["space"].pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Routes" in body and "1 unread" in body
    assert 'data-head-seq="3"' in body


def test_topic_page_shows_only_visible_messages(as_user, room):
    post(room, "secret", "SECRET-BODY-1", level=3)
    post(room, "secret", "RED-BODY-2", tlp=TLP.RED, recipients=(room["users"]["confidential"],))
    post(room, "open", "OPEN-BODY-3")
    body = as_user("restricted").get(_topic_url(room)).content.decode()
    assert "OPEN-BODY-3" in body
    assert "SECRET-BODY-1" not in body and "RED-BODY-2" not in body
    body = as_user("moderator").get(_topic_url(room)).content.decode()
    assert "SECRET-BODY-1" in body and "RED-BODY-2" not in body
    body = as_user("confidential").get(_topic_url(room)).content.decode()
    assert "RED-BODY-2" in body and "TLP:RED" in body


def test_topic_page_query_count_does_not_grow(as_user, room, django_assert_max_num_queries):
    client = as_user("secret")
    for i in range(3):
        post(room, "open", f"m{i}")
    with django_assert_max_num_queries(40) as few:
        client.get(_topic_url(room))
    for i in range(30):
        message = post(room, "confidential", f"more {i}", level=i % 3,
                       tlp=TLP.RED if i % 5 == 0 else TLP.GREEN,
                       recipients=(room["users"]["secret"],) if i % 5 == 0 else ())
        services.reaction_toggle(message=message, emoji="+1", acting_user=room["users"]["open"]
                                 if message.level == 0 and message.tlp != TLP.RED
                                 else room["users"]["secret"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(_topic_url(room))


def test_topic_page_reads_the_membership_once(as_user, room, django_assert_max_num_queries):
    """View, post and moderate are answered by one read of the membership, and read_mark's
    own check repeats none of it."""
    post(room, "open", "hello")
    for who, can_moderate in (("moderator", True), ("restricted", False)):
        client = as_user(who)
        with django_assert_max_num_queries(40) as page:
            response = client.get(_topic_url(room))
        # The sidebar's list of the user's spaces (the space shell) is a read of its own,
        # ordered by name; the access check is the other one.
        access = [
            q["sql"] for q in page.captured_queries
            if 'FROM "networks_membership" INNER JOIN "networks_space"' in q["sql"]
            and not q["sql"].endswith('ORDER BY "networks_space"."name" ASC')
        ]
        assert len(access) == 1, access
        body = response.content.decode()
        assert 'id="post-form"' in body
        assert ("/delete/" in body) is can_moderate  # the moderator may delete others' posts


def test_pagination_defaults_to_the_newest_page(as_user, room, settings):
    settings.MESSAGING_PAGE_SIZE = 2
    for i in range(5):
        post(room, "open", f"BODY-{i}")
    body = as_user("open").get(_topic_url(room)).content.decode()
    assert "BODY-4" in body and "BODY-0" not in body and "?page=2" in body
    body = as_user("open").get(_topic_url(room) + "?page=1").content.decode()
    assert "BODY-0" in body and "BODY-4" not in body


def test_post_form_posts_once_and_redirects(as_user, room):
    client = as_user("restricted")
    data = {"body": "via **form**", "level": "1", "tlp": "AMBER",
            "client_id": str(uuid.uuid4())}
    response = client.post(_post_url(room), data)
    assert response.status_code == 302
    again = client.post(_post_url(room), data)  # a double submit
    assert again.status_code == 302 and again.url == response.url
    message = Message.objects.get()
    assert (message.level, message.tlp, message.rendered_html) == (
        1, "AMBER", "<p>via <strong>form</strong></p>\n")


def test_post_form_red_with_recipients(as_user, room):
    client = as_user("secret")
    recipient = room["users"]["confidential"]
    response = client.post(_post_url(room), {
        "body": "eyes only", "level": "2", "tlp": "RED", "recipients": [recipient.pk],
        "client_id": str(uuid.uuid4())})
    assert response.status_code == 302
    assert list(Message.objects.get().recipients.all()) == [recipient]


@pytest.mark.parametrize(
    ("who", "data"),
    [
        ("open", {"level": "1"}),  # above own clearance
        ("restricted", {"level": "9"}),
        ("restricted", {"level": "x"}),
        ("restricted", {"tlp": "PURPLE"}),
        ("restricted", {"body": ""}),
        ("restricted", {"body": "   "}),
        ("restricted", {"body": "x" * 20_001}),
        ("restricted", {"client_id": "not-a-uuid"}),
        ("secret", {"tlp": "RED"}),  # no recipients
        ("secret", {"tlp": "RED", "recipients": ["OUTSIDER"]}),
        ("secret", {"tlp": "RED", "recipients": ["OPEN"], "level": "2"}),  # under-cleared
        ("secret", {"tlp": "GREEN", "recipients": ["OPEN"]}),  # recipients without RED
        ("secret", {"tlp": "RED", "recipients": ["999999"]}),
    ],
)
def test_post_form_refuses_hostile_input(as_user, room, who, data):
    client = as_user(who)
    form = {"body": "hello", "level": "0", "tlp": "GREEN", "client_id": str(uuid.uuid4())}
    form.update(data)
    if "recipients" in form:
        names = {"OUTSIDER": room["users"]["outsider"].pk, "OPEN": room["users"]["open"].pk}
        form["recipients"] = [names.get(r, r) for r in form["recipients"]]
    response = client.post(_post_url(room), form)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not Message.objects.exists()


def test_post_to_a_topic_of_another_space_is_404(as_user, room):
    url = reverse("message_post", args=[room["space"].pk, room["other_topic"].pk])
    response = as_user("open").post(url, {"body": "x", "level": "0", "tlp": "GREEN",
                                          "client_id": str(uuid.uuid4())})
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_topic_create_form(as_user, room):
    client = as_user("open")
    url = reverse("topic_create", args=[room["space"].pk])
    response = client.post(url, {"name": "Seizures 2026"})
    topic = Topic.objects.get(name="Seizures 2026")
    assert response.url == reverse("topic_detail", args=[room["space"].pk, topic.pk])
    for bad in ({"name": ""}, {"name": "x" * 121}, {"name": "seizures 2026"}):
        assert client.post(url, bad).status_code == 302
    assert Topic.objects.filter(space=room["space"]).count() == 2


def test_edit_and_revisions(as_user, room):
    message = post(room, "open", "first")
    client = as_user("open")
    url = reverse("message_edit", args=[room["space"].pk, message.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"body": ""}).status_code == 200
    assert client.post(url, {"body": "x" * 20_001}).status_code == 200
    assert client.post(url, {"body": "second"}).status_code == 302
    revisions = reverse("message_revisions", args=[room["space"].pk, message.pk])
    body = as_user("restricted").get(revisions).content.decode()
    assert "first" in body and "second" in body
    assert as_user("restricted").get(url).status_code == 403  # not the author


def test_hidden_message_pages_are_404(as_user, room):
    message = post(room, "secret", "SECRET", level=3)
    client = as_user("open")
    for name in ("message_edit", "message_revisions"):
        assert client.get(reverse(name, args=[room["space"].pk, message.pk])).status_code == 404
    for name in ("message_delete", "reaction_toggle"):
        url = reverse(name, args=[room["space"].pk, message.pk])
        assert client.post(url, {"emoji": "+1"}).status_code == 404
    # and through the wrong space's URL
    url = reverse("message_revisions", args=[room["other_space"].pk, message.pk])
    assert as_user("outsider").get(url).status_code == 404


def test_delete_and_revisions_of_deleted_messages(as_user, room):
    message = post(room, "open", "gone soon")
    assert as_user("moderator").post(
        reverse("message_delete", args=[room["space"].pk, message.pk])).status_code == 302
    message.refresh_from_db()
    assert message.is_deleted
    revisions = reverse("message_revisions", args=[room["space"].pk, message.pk])
    assert as_user("open").get(revisions).status_code == 403
    assert "gone soon" in as_user("moderator").get(revisions).content.decode()
    assert "This message was deleted." in as_user("open").get(_topic_url(room)).content.decode()


def test_reaction_form(as_user, room):
    message = post(room, "open", "react to me")
    client = as_user("restricted")
    url = reverse("reaction_toggle", args=[room["space"].pk, message.pk])
    assert client.post(url, {"emoji": "eyes"}).status_code == 302
    assert client.post(url, {"emoji": "<script>"}).status_code == 302
    assert Event.objects.filter(kind="reaction.add").count() == 1
    assert as_user("observer").post(url, {"emoji": "eyes"}).status_code == 403


def test_every_message_offers_every_reaction(as_user, room):
    from messaging.models import Emoji

    first, second = post(room, "open", "one"), post(room, "open", "two")
    body = as_user("restricted").get(_topic_url(room)).content.decode()
    options = "".join(f'<option value="{value}">{label}</option>' for value, label in Emoji.choices)
    for message in (first, second):
        assert f'<select id="react-{message.pk}" name="emoji">{options}</select>' in body


def test_pages_carry_no_inline_script_or_style(as_user, room):
    post(room, "open", "<script>alert(1)</script> [x](javascript:alert(1))")
    body = as_user("open").get(_topic_url(room)).content.decode()
    assert "<script>alert" not in body and "javascript:alert(1)\"" not in body
    assert " style=" not in body
    import re

    for tag in re.findall(r"<script[^>]*>", body):
        assert 'type="module"' in tag and "src=" in tag


def test_names_on_the_topic_page_are_escaped(as_user, room):
    """The message tag escapes what members type about themselves: the author's name and
    a TLP:RED message's recipients' names."""
    hostile = '<img src=x onerror="alert(1)">&"\'</strong>'
    for who in ("secret", "confidential"):
        user = room["users"][who]
        user.display_name = f"{who} {hostile}"
        user.save(update_fields=["display_name"])
    post(room, "secret", "RED-BODY", tlp=TLP.RED, recipients=(room["users"]["confidential"],))
    body = as_user("confidential").get(_topic_url(room)).content.decode()
    assert "RED-BODY" in body
    assert "<img src=x" not in body and "</strong>&" not in body
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&quot;&#x27;&lt;/strong&gt;"
    assert f"<strong>secret {escaped}</strong>" in body
    assert f"To: confidential {escaped}</span>" in body
