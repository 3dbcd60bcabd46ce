"""Search obeys the access rule: each user finds exactly the items they may see.

These run on SQLite (pass 1) and on PostgreSQL (pass 2, DATABASE_URL set): the same
expectations against both backends' indexes.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from networks.clearance import TLP
from workspace.search.selectors import (
    Kind,
    SearchFilters,
    page_items,
    parse_query,
    search,
    searchable_spaces,
)

pytestmark = pytest.mark.django_db

# Clearance in effect in the matrix space, for users with an active membership there.
CLEARANCE = {
    "observer": 0,
    "member_open": 0,
    "member_restricted": 1,
    "member_confidential": 2,
    "member_secret": 3,
    "member_expired": 0,  # cleared SECRET, expired: falls back to the lowest level
    "moderator": 2,
}
NOTHING = ["no_mfa", "non_member", "invited", "suspended", "removed", "network_admin"]


def expected(corpus, world, user_key):
    """The rule, stated independently of the code: what this user must find."""
    user = world["users"][user_key]
    found = set()
    for item in corpus:
        if item.space_id == world["other_space"].pk:
            if user_key == "other_moderator":
                found.add(item.marker)
            continue
        if user_key not in CLEARANCE or item.level > CLEARANCE[user_key]:
            continue
        if item.tlp == TLP.RED and user.pk != item.author_id and user.pk not in item.recipient_ids:
            continue
        found.add(item.marker)
    return found


def found_markers(corpus, hits):
    by_key = {(i.kind, i.pk): i.marker for i in corpus}
    return {by_key[(str(h.kind), h.item_id)] for h in hits}


@pytest.mark.parametrize("user_key", [*CLEARANCE, "other_moderator", *NOTHING])
def test_each_user_finds_exactly_what_they_may_see(corpus, world, user_key):
    user = world["users"][user_key]
    result = search(user=user, query=parse_query("cocaina"))
    want = expected(corpus, world, user_key)
    assert found_markers(corpus, result.hits) == want
    # Counts and facets are made of the same rows: nothing else is counted.
    assert sum(result.by_kind.values()) == len(want) == len(result.hits)
    assert sum(result.by_space.values()) == len(want)
    assert set(result.spaces) == {h.space_id for h in result.hits}
    # The display items (and their snippets) are the same rows again.
    items = page_items(user=user, query=parse_query("cocaina"), hits=result.hits)
    assert len(items) == len(want)
    for item in items:
        assert "<mark>" in item.snippet or "<mark>" in item.title


@pytest.mark.parametrize("user_key", ["member_open", "member_expired", "observer"])
def test_a_marker_only_in_invisible_items_finds_nothing(corpus, world, user_key):
    user = world["users"][user_key]
    for word in [
        "msglevel3",
        "notelevel2",
        "doclevel1",
        "redmsgmarker" if user_key != "member_open" else "unlistedmsg",
        "deletedmarker",
        "unlistedtopic",
    ]:
        result = search(user=user, query=parse_query(word))
        assert result.hits == [] and not result.by_kind and not result.by_space, word


def test_tlp_red_author_and_recipient_find_it_others_do_not(corpus, world):
    users = world["users"]
    for key, sees in [
        ("member_confidential", True),
        ("member_open", True),
        ("member_secret", False),
        ("moderator", False),
    ]:
        for word in ["redmsgmarker", "rednotemarker", "reddocmarker"]:
            hits = search(user=users[key], query=parse_query(word)).hits
            assert bool(hits) is sees, (key, word)


def test_searchable_spaces_are_active_memberships_only(world):
    users = world["users"]
    assert list(searchable_spaces(user=users["member_open"])) == [world["space"]]
    assert list(searchable_spaces(user=users["other_moderator"])) == [world["other_space"]]
    for key in NOTHING:
        assert list(searchable_spaces(user=users[key])) == []


def test_filters_narrow_within_what_is_visible(corpus, world):
    user = world["users"]["member_secret"]
    q = parse_query("cocaina")
    notes = search(user=user, query=q, filters=SearchFilters(kinds=frozenset({Kind.NOTE})))
    assert {h.kind for h in notes.hits} == {Kind.NOTE}
    level2 = search(user=user, query=q, filters=SearchFilters(level=2))
    assert found_markers(corpus, level2.hits) == {"msglevel2", "notelevel2", "doclevel2"}
    other = search(user=user, query=q, filters=SearchFilters(space_id=world["other_space"].pk))
    assert other.hits == []  # a space filter cannot reach into a space one is not in


def test_the_page_reveals_nothing_invisible(client, corpus, world):
    """The whole page for a low-clearance user: no marker, no title, no count of hidden items."""
    user = world["users"]["member_open"]
    client.force_login(user)
    body = client.get(reverse("search"), {"q": "cocaína"}).content.decode()
    for item in corpus:
        visible = item.marker in expected(corpus, world, "member_open")
        assert (item.marker in body) is visible, item.marker
    assert world["other_space"].name not in body
    n = len(expected(corpus, world, "member_open"))
    assert f"{n} results" in body
    # "Nothing found" for a word that exists only at SECRET reads exactly like one that
    # exists nowhere.
    hidden = _page(client, "msglevel3").replace("msglevel3", "X")
    absent = _page(client, "qqqqqqqqq").replace("qqqqqqqqq", "X")
    assert hidden == absent


def _page(client, q):
    body = client.get(reverse("search"), {"q": q}).content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", body)


def test_the_space_filter_offers_only_my_spaces(client, world):
    client.force_login(world["users"]["member_open"])
    body = client.get(reverse("search")).content.decode()
    assert world["space"].name in body and world["other_space"].name not in body


def test_forged_space_filter_is_a_form_error_not_a_leak(client, corpus, world):
    client.force_login(world["users"]["member_open"])
    response = client.get(reverse("search"), {"q": "cocaina", "space": world["other_space"].pk})
    assert response.status_code == 200
    assert "unlistedmsg" not in response.content.decode()
