"""Note pages: list filters in SQL, who sees what, forms, edit rights, JSON export."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from messaging.models import Note
from tests.messaging.test_notes import BASE, make
from workspace.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

FORM = {
    "title": "Go-fast boats refuelled at sea",
    "summary": "Fictional: refuelling *at night*.",
    "category": "concealment.go_fast",
    "substances": ["cocaine", "cannabis"],
    "countries": ["MA"],
    "route": "MA origin\nES destination",
    "indicators": "Fuel drums on fishing boats\n\nNight departures",
    "period_start": "2025-02-01",
    "period_end": "2025-04-30",
    "grading_scheme": "europol_4x4",
    "source_reliability": "B",
    "information_credibility": "3",
    "handling_code": "H1",
    "handling_text": "",
    "level": "1",
    "tlp": "AMBER",
}


@pytest.fixture
def login(client, world):
    def as_user(who):
        client.force_login(world["users"][who])
        return client

    return as_user


def _list(world, **query):
    return reverse("note_list", args=[world["space"].pk]), query


def test_create_through_the_form(login, world):
    response = login("member_restricted").post(
        reverse("note_create", args=[world["space"].pk]), FORM
    )
    assert response.status_code == 302
    note = Note.objects.get()
    assert response.url == reverse("note_detail", args=[world["space"].pk, note.pk])
    assert note.route == [
        {"country": "MA", "role": "origin"},
        {"country": "ES", "role": "destination"},
    ]
    assert note.indicators == ["Fuel drums on fishing boats", "Night departures"]
    assert note.countries == ["MA", "ES"] and note.level == 1 and note.grading == "B3"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"level": "2"}, "level"),  # above the author's clearance: not even a choice
        ({"category": "concealment.teleport"}, "category"),
        ({"substances": ["unobtainium"]}, "substances"),
        ({"countries": ["XX"]}, "countries"),
        ({"route": "ES via"}, "route"),
        ({"route": "ZZ origin"}, "route"),
        ({"route": "ES destination\nMA origin"}, "route"),
        ({"indicators": "\n".join(f"i{n}" for n in range(21))}, "indicators"),
        ({"indicators": "x" * 201}, "indicators"),
        ({"indicators": "x" * 10_000}, "indicators"),
        ({"period_start": "2025-05-01", "period_end": "2025-01-01"}, "period_end"),
        ({"period_start": "yesterday"}, "period_start"),
        ({"source_reliability": "E", "information_credibility": "5"}, "source_reliability"),
        ({"handling_code": "H3"}, "handling_text"),
        ({"handling_code": "H7"}, "handling_code"),
        ({"tlp": "RED"}, "recipients"),
        ({"title": ""}, "title"),
        ({"level": "one"}, "level"),
    ],
)
def test_form_shows_field_errors_and_saves_nothing(login, world, changes, field):
    response = login("member_restricted").post(
        reverse("note_create", args=[world["space"].pk]), {**FORM, **changes}
    )
    assert response.status_code == 400
    assert field in response.context["form"].errors, response.context["form"].errors
    body = response.content.decode()
    assert "The note was not saved" in body and 'aria-invalid="true"' in body
    assert not Note.objects.exists()


def test_form_shows_grading_meanings_on_hover_and_in_help(login, world):
    body = login("member_open").get(reverse("note_create", args=[world["space"].pk]))
    body = body.content.decode()
    assert 'title="Europol 4x4: Source whose information has in most instances' in body
    assert "NATO Admiralty 6x6: Completely reliable" in body
    assert "Information known personally to the source" in body
    # Only levels up to the author's clearance are offered.
    assert '<option value="0" selected>OPEN</option>' in body or ">OPEN</option>" in body
    assert ">RESTRICTED</option>" not in body


def test_form_labels_follow_the_ui_language(login, world):
    client = login("member_open")
    body = client.get(
        reverse("note_create", args=[world["space"].pk]), HTTP_ACCEPT_LANGUAGE="es"
    ).content.decode()
    assert "Métodos de ocultación" in body and "Cocaína" in body


def test_list_filters_in_sql(login, world):
    make(world, title="Alpha cocaine EC", substances=["cocaine"])
    make(
        world,
        title="Beta cannabis MA",
        substances=["cannabis"],
        countries=["MA"],
        route=[],
        category="laundering.crypto_assets",
        handling_code="H2",
        source_reliability="A",
        information_credibility="1",
    )
    client = login("member_secret")
    url = reverse("note_list", args=[world["space"].pk])

    def titles(**query):
        response = client.get(url, query)
        assert response.status_code == 200
        return {note.title for note in response.context["rows"]}

    assert titles() == {"Alpha cocaine EC", "Beta cannabis MA"}
    assert titles(substance="cannabis") == {"Beta cannabis MA"}
    assert titles(country="EC") == {"Alpha cocaine EC"}
    assert titles(country="BE") == {"Alpha cocaine EC"}  # from the route
    assert titles(category="laundering") == {"Beta cannabis MA"}  # a whole group
    assert titles(category="concealment.rip_on_rip_off") == {"Alpha cocaine EC"}
    assert titles(grading="A1") == {"Beta cannabis MA"}
    assert titles(handling_code="H0") == {"Alpha cocaine EC"}
    assert titles(tlp="GREEN", substance="cocaine") == {"Alpha cocaine EC"}
    # Hostile filter values are reported and ignored, never a 500.
    for hostile in ("' OR 1=1 --", "%", "|", "x" * 5000):
        assert titles(country=hostile, substance=hostile) == {
            "Alpha cocaine EC",
            "Beta cannabis MA",
        }


def test_list_and_page_show_only_visible_notes(login, world):
    users = world["users"]
    make(world, title="Open note", level=0)
    secret = make(world, title="Secret note", level=3)
    red = make(
        world, title="Red note", level=1, tlp="RED", recipients=[users["member_confidential"]]
    )
    list_url = reverse("note_list", args=[world["space"].pk])
    cases = {
        "member_open": {"Open note"},
        "member_confidential": {"Open note", "Red note"},
        "moderator": {"Open note"},
        "member_secret": {"Open note", "Secret note", "Red note"},
        "member_expired": {"Open note"},
    }
    for who, visible in cases.items():
        client = login(who)
        body = client.get(list_url).content.decode()
        for title in ("Open note", "Secret note", "Red note"):
            assert (title in body) == (title in visible), (who, title)
        for note in (secret, red):
            detail = client.get(reverse("note_detail", args=[world["space"].pk, note.pk]))
            export = client.get(reverse("note_export", args=[world["space"].pk, note.pk]))
            if note.title in visible:
                assert detail.status_code == 200
            else:
                assert detail.status_code == 404 and note.title not in detail.content.decode()
                assert export.status_code == 404
    for who in ("non_member", "suspended", "removed", "other_moderator"):
        client = login(who)
        assert client.get(list_url).status_code == 403
        response = client.get(reverse("note_detail", args=[world["space"].pk, secret.pk]))
        assert response.status_code == 403 and "Secret note" not in response.content.decode()


def test_note_page_shows_route_badges_discussion_and_history(login, world):
    note = make(world, handling_code="H3", handling_text="FIU only <b>x</b>")
    client = login("member_secret")
    client.post(
        reverse("note_edit", args=[world["space"].pk, note.pk]),
        {
            **FORM,
            "level": "0",
            "title": "Edited title",
            "route": "EC origin\nPA transit\nBE destination",
        },
    )
    body = client.get(reverse("note_detail", args=[world["space"].pk, note.pk])).content.decode()
    assert "Edited title" in body
    assert body.index(">EC<") < body.index(">PA<") < body.index(">BE<")
    assert "→" in body and "(transit)" in body
    assert "Grading B3" in body and 'title="Europol 4x4 · B: Source whose' in body
    assert "H1" in body and "TLP:AMBER" in body and "OPEN" in body
    assert reverse("topic_detail", args=[world["space"].pk, note.topic_id]) in body
    assert "Version 2" in body and "Version 1" in body
    assert "<ins>+ Title: Edited title</ins>" in body
    assert f"<del>− Title: {BASE.title}</del>" in body
    assert "&lt;b&gt;" in body  # the old H3 text is escaped in the diff


def test_edit_page_rights(login, world):
    note = make(world, who="member_confidential", level=2)
    url = reverse("note_edit", args=[world["space"].pk, note.pk])
    assert login("member_confidential").get(url).status_code == 200
    assert login("moderator").get(url).status_code == 200
    assert login("member_secret").get(url).status_code == 403
    assert login("member_open").get(url).status_code == 404  # cannot even see it
    response = login("member_secret").post(url, {**FORM, "level": "2"})
    assert response.status_code == 403
    assert Note.objects.get(pk=note.pk).version == 1


def test_moderator_edit_through_the_page(login, world):
    note = make(world, who="member_open")
    response = login("moderator").post(
        reverse("note_edit", args=[world["space"].pk, note.pk]), {**FORM, "title": "By mod"}
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.title == "By mod" and note.version == 2
    assert note.revisions.get(number=2).edited_by == world["users"]["moderator"]


def test_json_export_of_one_note_and_of_the_list(login, world):
    note = make(world, handling_code="H1")
    make(world, title="Cannabis note", substances=["cannabis"])
    client = login("member_open")
    response = client.get(reverse("note_export", args=[world["space"].pk, note.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    payload = json.loads(response.content)
    assert payload["notes"][0]["reference"] == note.reference
    assert payload["notes"][0]["grading"]["information_credibility"]["label"].startswith(
        "Information known personally"
    )
    response = client.get(
        reverse("note_list_export", args=[world["space"].pk]), {"substance": "cannabis"}
    )
    assert [n["title"] for n in json.loads(response.content)["notes"]] == ["Cannabis note"]
    assert AuditEvent.objects.filter(action="note.exported").count() == 2


def test_json_export_refusal_is_clear_and_audited(login, world):
    users = world["users"]
    make(world)
    red = make(world, tlp="RED", recipients=[users["member_confidential"]])
    h2 = make(world, handling_code="H2")
    client = login("member_confidential")
    for note in (red, h2):
        response = client.get(reverse("note_export", args=[world["space"].pk, note.pk]))
        assert response.status_code == 403
        data = json.loads(response.content)
        assert data["error"] == "export_refused" and note.reference in data["message"]
    response = client.get(reverse("note_list_export", args=[world["space"].pk]))
    assert response.status_code == 403
    assert set(json.loads(response.content)["notes"]) == {red.reference, h2.reference}
    # Filtering the refused notes out makes the export possible.
    response = client.get(
        reverse("note_list_export", args=[world["space"].pk]),
        {"handling_code": "H0", "tlp": "GREEN"},
    )
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="note.export_refused").count() == 3
    assert AuditEvent.objects.filter(action="note.exported").count() == 1
    # The list export never includes what the user may not see: no refusal for hidden notes.
    response = login("member_open").get(reverse("note_list_export", args=[world["space"].pk]))
    assert response.status_code == 403
    assert json.loads(response.content)["notes"] == [h2.reference]


def test_list_query_count_is_pinned(login, world, django_assert_max_num_queries):
    users = world["users"]
    client = login("member_secret")
    url = reverse("note_list", args=[world["space"].pk])
    for n in range(5):
        make(world, title=f"first {n}", substances=["cocaine"])
    client.get(url)  # the first request of a session records it (allauth.usersessions)
    # 11 for the session, user, usersessions and MFA middleware; 9 for the page: access
    # (3), the visibility filter's MFA check, count, rows, and the "may post" check (3).
    with django_assert_max_num_queries(20) as small:
        assert client.get(url, {"substance": "cocaine"}).status_code == 200
    for n in range(45):
        make(
            world,
            title=f"note {n}",
            tlp="RED" if n % 2 else "GREEN",
            recipients=[users["member_confidential"]] if n % 2 else [],
            substances=["cocaine", "nps"],
        )
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        response = client.get(url, {"substance": "cocaine"})
    assert response.status_code == 200 and len(response.context["rows"]) == 50
    assert len(large.captured_queries) == len(small.captured_queries)


def test_space_page_links_to_notes(login, world):
    body = login("member_open").get(reverse("space_detail", args=[world["space"].pk]))
    assert reverse("note_list", args=[world["space"].pk]) in body.content.decode()
