"""Pages in the space shell that a person reaches by a link: a note's Export link shows
only where an export is allowed, and a refused export is a page, not JSON; the login page
says signup is by invitation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.messaging.test_notes import make

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    "changes, exportable",
    [
        ({"handling_code": "H1"}, True),
        ({"handling_code": "H2"}, False),
        ({"tlp": "RED", "recipients": "member"}, False),
    ],
)
def test_the_export_link_shows_only_on_exportable_notes(client, world, changes, exportable):
    users = world["users"]
    if changes.get("recipients") == "member":
        changes = {**changes, "recipients": [users["member_confidential"]]}
    note = make(world, **changes)
    client.force_login(users["member_confidential"])
    html = client.get(reverse("note_detail", args=[world["space"].pk, note.pk])).content.decode()
    export = reverse("note_export", args=[world["space"].pk, note.pk])
    assert (export in html) is exportable
    assert ("Not exportable" in html) is not exportable


def test_a_refused_export_is_a_page_for_a_browser(client, world):
    note = make(world, handling_code="H2")
    client.force_login(world["users"]["member_confidential"])
    space = world["space"]
    for url in (
        reverse("note_export", args=[space.pk, note.pk]),
        reverse("note_list_export", args=[space.pk]),
    ):
        response = client.get(url, HTTP_ACCEPT=BROWSER_ACCEPT)
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/html")
        html = response.content.decode()
        assert "Export not possible" in html and note.reference in html
        assert 'aria-current="page">Notes</a>' in html, "inside the space's tabs"
    # A script asking for JSON still gets the JSON answer.
    response = client.get(
        reverse("note_export", args=[space.pk, note.pk]), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403 and response.json()["error"] == "export_refused"


def test_the_login_page_says_signup_is_by_invitation(client):
    html = client.get(reverse("account_login")).content.decode()
    assert "sign up</a> first" not in html
    assert "by invitation only" in html
