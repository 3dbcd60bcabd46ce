"""The space shell: the same tabs on every page of a space, the sidebar's topics with
their unread counts (through the access rule), and what a former member is told."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from messaging import services
from messaging.selectors import space_shell
from networks.models import Membership, MembershipStatus
from tests.factories import SpaceFactory
from tests.messaging.test_notes import make

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client, world):
    def as_user(who):
        client.force_login(world["users"][who])
        return client

    return as_user


def _tabs(html: str) -> dict[str, str | None]:
    """{tab label: aria-current or None} of the page's tab bar."""
    nav = re.search(r'<nav class="space-tabs".*?</nav>', html, re.S)
    assert nav, "the page has the space's tab bar"
    return {
        label.strip(): current
        for current, label in re.findall(
            r'<a href="[^"]+"(?: aria-current="(\w+)")?>([^<]+)</a>', nav.group(0)
        )
    }


def test_every_page_of_a_space_has_the_tabs_and_reaches_the_documents(login, world):
    space = world["space"]
    topic = services.topic_create(
        space=space, name="Port routes", acting_user=world["users"]["moderator"]
    )
    note = make(world, who="moderator", level=0, tlp="GREEN")
    client = login("moderator")
    pages = {
        reverse("space_detail", args=[space.pk]): "Overview",
        reverse("topic_list", args=[space.pk]): "Discussions",
        reverse("note_list", args=[space.pk]): "Notes",
        reverse("note_detail", args=[space.pk, note.pk]): "Notes",
        reverse("note_create", args=[space.pk]): "Notes",
        reverse("document_list", args=[space.pk]): "Documents",
        reverse("document_new", args=[space.pk]): "Documents",
        reverse("space_members", args=[space.pk]): "Members",
        reverse("space_audit", args=[space.pk]): "Audit",
        reverse("space_insight", args=[space.pk]): "Insight",
    }
    for url, active in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        tabs = _tabs(html)
        assert list(tabs) == [
            "Overview",
            "Discussions",
            "Notes",
            "Documents",
            "Members",
            "Audit",
            "Insight",
        ], url
        assert [label for label, current in tabs.items() if current] == [active], url
        assert reverse("document_list", args=[space.pk]) in html
        assert f'href="{reverse("topic_detail", args=[space.pk, topic.pk])}"' in html, url


def test_a_member_sees_no_moderation_tabs_and_an_admin_no_content_tabs(login, world):
    space = world["space"]
    tabs = _tabs(login("member_open").get(reverse("topic_list", args=[space.pk])).content.decode())
    assert list(tabs) == ["Overview", "Discussions", "Notes", "Documents"]
    # A network admin who is no member of the space moderates it, but sees none of it.
    html = login("network_admin").get(reverse("space_members", args=[space.pk])).content.decode()
    assert list(_tabs(html)) == ["Members", "Audit", "Insight"]
    assert "sidebar-topics" not in html


def test_the_sidebar_lists_topics_with_unread_counts_by_the_access_rule(login, world):
    space, users = world["space"], world["users"]
    topic = services.topic_create(space=space, name="Port routes", acting_user=users["moderator"])
    for body, level in (("one", 0), ("two", 0), ("above", 2)):
        services.message_post(
            space=space,
            topic=topic,
            body=body,
            level=level,
            tlp="GREEN",
            acting_user=users["moderator"],
        )
    hidden = make(world, who="member_secret", level=3, tlp="GREEN")  # its discussion topic too
    html = login("member_open").get(reverse("document_list", args=[space.pk])).content.decode()
    sidebar = re.search(r'<nav class="space-sidebar".*?</nav>', html, re.S).group(0)
    assert "Port routes" in sidebar
    assert 'data-unread="2"' in sidebar, "the level-2 message is not counted for an OPEN member"
    assert "> unread messages<" in sidebar, "the count is announced with its meaning"
    assert hidden.topic.name not in html, "a hidden note's discussion is not listed"
    assert world["other_space"].name not in sidebar, "only the user's own spaces"
    # Once read (however the topic page marks it), the count is gone.
    last = topic.messages.order_by("-seq").first()
    services.read_mark(topic=topic, seq=last.seq, acting_user=users["member_open"])
    html = login("member_open").get(reverse("document_list", args=[space.pk])).content.decode()
    assert "data-unread=" not in re.search(
        r'<nav class="space-sidebar".*?</nav>', html, re.S
    ).group(0)


def test_the_shell_reads_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    """Ten, however many spaces and topics: the MFA check, the memberships, and the
    topics and their unread counts, each through the access rule (which reads the
    viewer's MFA and memberships for its filter)."""
    space, users = world["space"], world["users"]
    user = users["member_confidential"]
    with django_assert_max_num_queries(10):
        space_shell(user=user, space_id=space.pk)
    for n in range(6):
        other = SpaceFactory(network=space.network, name=f"Space {n}")
        Membership.objects.create(user=user, space=other, status=MembershipStatus.ACTIVE)
        topic = services.topic_create(
            space=space, name=f"Topic {n}", acting_user=users["moderator"]
        )
        services.message_post(
            space=space, topic=topic, body="x", level=0, tlp="GREEN", acting_user=users["moderator"]
        )
    with django_assert_max_num_queries(10):
        shell = space_shell(user=user, space_id=space.pk)
    assert len(shell.spaces) == 7 and len(shell.topics) == 6
    assert all(topic.unread == 1 for topic in shell.topics)


@pytest.mark.parametrize(
    "who, heading",
    [
        ("removed", "You are no longer a member"),
        ("suspended", "Your membership is suspended"),
    ],
)
def test_a_former_member_is_told_what_happened_and_whom_to_ask(login, world, who, heading):
    space = world["space"]
    response = login(who).get(reverse("topic_list", args=[space.pk]))
    assert response.status_code == 403
    html = response.content.decode()
    assert heading in html
    assert space.name in html
    assert world["users"]["moderator"].display_name in html
    assert world["users"]["moderator"].email not in html, "names only"


def test_the_page_is_in_the_members_language(login, world):
    client = login("removed")
    response = client.get(
        reverse("space_detail", args=[world["space"].pk]), HTTP_ACCEPT_LANGUAGE="es"
    )
    assert response.status_code == 403
    assert '<html lang="es">' in response.content.decode()


@pytest.mark.parametrize("who", ["non_member", "other_moderator", "invited"])
def test_anyone_else_gets_the_plain_page_that_names_no_space(login, world, who):
    space = world["space"]
    for name in ("space_detail", "topic_list", "space_members"):
        response = login(who).get(reverse(name, args=[space.pk]))
        assert response.status_code in (403, 404)
        assert space.name not in response.content.decode(), (who, name)


def test_a_password_only_session_of_a_removed_member_names_no_space(client, world):
    from tests.conftest import force_login_password_only

    force_login_password_only(client, world["users"]["removed"])
    response = client.get(reverse("topic_list", args=[world["space"].pk]))
    assert world["space"].name not in response.content.decode()


def test_an_expired_clearance_is_explained_in_the_space(login, world):
    space = world["space"]
    html = login("member_expired").get(reverse("note_list", args=[space.pk])).content.decode()
    assert "Your clearance in this space has expired." in html
    assert world["users"]["moderator"].display_name in html
    # A note above the lowest level answers 404 as a missing one would, with the reason.
    secret = make(world, who="member_secret", level=2, tlp="GREEN")
    response = login("member_expired").get(reverse("note_detail", args=[space.pk, secret.pk]))
    assert response.status_code == 404
    assert "Your clearance in" in response.content.decode()
    missing = login("member_expired").get(reverse("note_detail", args=[space.pk, 999999]))
    assert missing.status_code == 404 and "Your clearance in" in missing.content.decode()
