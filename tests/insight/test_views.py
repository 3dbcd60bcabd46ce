"""The dashboards: who may see them, what they show, and SVG that is well-formed and safe."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def _svgs(html: str) -> list[ET.Element]:
    # Our own server output, parsed strictly on purpose: a malformed chart fails here.
    # The charts only: the header's icons are SVG too (aria-hidden, no role).
    found = re.findall(r"<svg\b[^>]*role=\"img\".*?</svg>", html, flags=re.S)
    return [ET.fromstring(svg) for svg in found]  # noqa: S314


def _get(client, user, url):  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client.get(url)


@pytest.mark.parametrize(
    ("user_key", "status"),
    [
        ("moderator", 200),
        ("network_admin", 200),
        ("member_secret", 403),
        ("observer", 403),
        ("non_member", 403),
        ("suspended", 403),
        ("removed", 403),
        ("other_moderator", 403),
    ],
)
def test_space_insight_access(client, world, user_key, status):
    url = reverse("space_insight", args=[world["space"].pk])
    response = _get(client, world["users"][user_key], url)
    assert response.status_code == status
    from workspace.audit.models import AuditEvent

    viewed = AuditEvent.objects.filter(action="insight.viewed")
    if status != 200:
        if user_key not in ("suspended", "removed"):  # told about their own membership
            assert world["space"].name not in response.content.decode()
        assert not viewed.exists()  # a refused look is not a look
    else:  # who looked at the space's activity and members, and when
        (event,) = viewed
        assert event.actor_id == world["users"][user_key].pk
        assert (event.space_id, event.target) == (world["space"].pk, f"space:{world['space'].pk}")


@pytest.mark.parametrize(
    ("user_key", "status"), [("network_admin", 200), ("moderator", 404), ("member_secret", 404)]
)
def test_network_insight_access(client, world, user_key, status):
    from workspace.audit.models import AuditEvent

    slug = world["space"].network.slug
    url = reverse("network_insight", args=[slug])
    assert _get(client, world["users"][user_key], url).status_code == status
    viewed = list(AuditEvent.objects.filter(action="insight.viewed"))
    if status == 200:
        assert [(e.actor_id, e.space_id, e.target) for e in viewed] == [
            (world["users"][user_key].pk, None, f"network:{slug}")
        ]
    else:
        assert viewed == []


def test_unknown_network_is_404(client, world):
    url = reverse("network_insight", args=["no-such-network"])
    assert _get(client, world["users"]["network_admin"], url).status_code == 404


@pytest.mark.parametrize("user_key", ["moderator", "other_moderator", "non_member"])
def test_a_network_one_does_not_administer_is_answered_as_a_missing_one(client, world, user_key):
    """No slug oracle: the same 404 page whether the network exists or not."""
    user = world["users"][user_key]
    existing = _get(client, user, reverse("network_insight", args=[world["space"].network.slug]))
    missing = _get(client, user, reverse("network_insight", args=["no-such-network"]))
    assert existing.status_code == missing.status_code == 404
    assert existing.templates[0].name == missing.templates[0].name
    assert world["space"].network.name not in existing.content.decode()


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(reverse("space_insight", args=[world["space"].pk]))
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_space_page_shows_counts_never_content(client, world, post):
    now = timezone.now()
    post("message", "member_open", now)
    post("message", "member_secret", now, level=3)  # above the moderator's CONFIDENTIAL
    post("document", "member_confidential", now - timedelta(weeks=1), level=2)
    post("note", "member_open", now)
    response = _get(
        client, world["users"]["moderator"], reverse("space_insight", args=[world["space"].pk])
    )
    html = response.content.decode()
    assert response.status_code == 200
    for secret in ("insight body text", "Insight doc title", "Insight note title"):
        assert secret not in html
    assert "CONFIDENTIAL" in html  # the page states the ceiling it applied
    assert reverse("space_audit", args=[world["space"].pk]) in html
    activity = response.context["activity"]
    assert activity.messages_total == 1 and activity.documents_total == 1
    assert activity.active_members_total == 2  # member_open and member_confidential


def test_charts_are_well_formed_accessible_svg(client, world, post):
    space = world["space"]
    space.name = '<script>alert("x")</script> & Co'
    space.save(update_fields=["name"])
    post("message", "member_open", timezone.now())
    html = _get(
        client, world["users"]["moderator"], reverse("space_insight", args=[space.pk])
    ).content.decode()
    assert "<script>alert" not in html
    charts = _svgs(html)
    assert len(charts) == 3
    for svg in charts:
        assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert list(svg)[:2] == [title, desc]
        assert space.name in title.text  # escaped in the page, intact once parsed
        assert desc.text.startswith("Bar chart of 12 weeks")
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert len(svg.findall(f"{SVG}rect")) == 12
        assert "style" not in svg.attrib
    # The data table alternative for each chart.
    assert html.count('<details class="insight-data">') == 3


def test_network_page_breaks_down_per_space(client, world, post):
    other = world["other_space"]
    post("message", "member_open", timezone.now())
    post("message", "other_moderator", timezone.now(), space=other)
    response = _get(
        client,
        world["users"]["network_admin"],
        reverse("network_insight", args=[world["space"].network.slug]),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["activity"].messages_total == 2
    assert {row[0].pk for row in response.context["breakdown"]} == {world["space"].pk, other.pk}
    assert reverse("space_insight", args=[other.pk]) in html
    assert reverse("network_audit", args=[world["space"].network.slug]) in html


def test_hidden_note_discussions_are_not_counted(client, world, post):
    """A moderator cleared CONFIDENTIAL sees no count of a SECRET note's discussion."""
    from messaging.services import message_post

    now = timezone.now()
    post("message", "member_open", now)
    note = post("note", "member_secret", now, level=3)
    message_post(
        space=world["space"],
        topic=note.topic,
        body="an OPEN reply to a SECRET note",
        level=0,
        tlp="GREEN",
        acting_user=world["users"]["member_secret"],
    )
    url = reverse("space_insight", args=[world["space"].pk])
    assert _get(client, world["users"]["moderator"], url).context["activity"].messages_total == 1
    assert _get(client, world["users"]["member_secret"], url).status_code == 403
    client.force_login(world["users"]["network_admin"])
    assert client.get(url).context["activity"].messages_total == 1


def test_network_admin_who_is_no_member_counts_open_items_only(client, world, post):
    now = timezone.now()
    post("message", "member_open", now, level=0)
    post("message", "member_restricted", now, level=1)
    response = _get(
        client, world["users"]["network_admin"], reverse("space_insight", args=[world["space"].pk])
    )
    assert response.context["activity"].messages_total == 1


def test_query_counts_do_not_grow_with_data(client, world, post):
    """Same number of queries with one space and one message as with six spaces and a
    message every week (what the rest of the page adds is not this test's business)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import SpaceFactory

    network_url = reverse("network_insight", args=[world["space"].network.slug])
    space_url = reverse("space_insight", args=[world["space"].pk])

    def count(user_key: str, url: str) -> int:
        client.force_login(world["users"][user_key])
        client.get(url)  # the first request of a session does its own bookkeeping
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    post("message", "member_open", timezone.now())
    before = count("network_admin", network_url), count("moderator", space_url)
    for _ in range(5):
        SpaceFactory(network=world["space"].network)
    for week in range(12):
        post("message", "member_open", timezone.now() - timedelta(weeks=week))
        post("document", "member_restricted", timezone.now() - timedelta(weeks=week))
    assert (count("network_admin", network_url), count("moderator", space_url)) == before


def test_links_from_space_members_and_directory(client, world):
    space = world["space"]
    insight = reverse("space_insight", args=[space.pk])
    client.force_login(world["users"]["moderator"])
    assert insight in client.get(reverse("space_detail", args=[space.pk])).content.decode()
    assert insight in client.get(reverse("space_members", args=[space.pk])).content.decode()
    client.force_login(world["users"]["member_secret"])
    assert insight not in client.get(reverse("space_detail", args=[space.pk])).content.decode()
    client.force_login(world["users"]["network_admin"])
    directory = client.get(reverse("network_directory", args=[space.network.slug]))
    assert reverse("network_insight", args=[space.network.slug]) in directory.content.decode()


def test_charts_in_french_use_french_words_and_dates(client, world, post):
    post("message", "member_open", timezone.now())
    client.force_login(world["users"]["moderator"])
    response = client.get(
        reverse("space_insight", args=[world["space"].pk]), HTTP_ACCEPT_LANGUAGE="fr"
    )
    html = response.content.decode()
    assert 'lang="fr"' in html and "Messages par semaine" in html
    svg = _svgs(html)[0]
    assert svg.find(f"{SVG}desc").text.startswith("Diagramme en barres sur 12 semaines")
    # Coordinates are never localised (a decimal comma would break the geometry).
    for rect in svg.findall(f"{SVG}rect"):
        assert all(rect.get(a).isdigit() for a in ("x", "y", "width", "height"))


def test_network_without_spaces_renders_empty_charts(client, world):
    from tests.factories import NetworkFactory

    network = NetworkFactory()
    network.admins.add(world["users"]["network_admin"])
    response = _get(
        client, world["users"]["network_admin"], reverse("network_insight", args=[network.slug])
    )
    assert response.status_code == 200
    assert response.context["activity"].messages == [0] * 12
    assert "No members yet" in response.content.decode()
