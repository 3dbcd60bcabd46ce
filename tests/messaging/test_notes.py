"""Notes: taxonomy files, validation of every field, versions and diffs, audited exports."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from messaging import note_selectors
from messaging.models import Note, NoteRevision, Topic
from messaging.note_services import (
    MAX_INDICATORS,
    NoteExportRefused,
    NoteInput,
    note_create,
    note_edit,
    note_export,
)
from messaging.taxonomy import LANGUAGES, TaxonomyError, _build, load_taxonomy
from workspace.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

BASE = NoteInput(
    title="Reefer containers via a transit port",
    summary="Fictional: **bags** behind the doors.",
    category="concealment.rip_on_rip_off",
    substances=["cocaine"],
    countries=["EC"],
    route=[{"country": "EC", "role": "origin"}, {"country": "BE", "role": "destination"}],
    indicators=["Seal number mismatch"],
    period_start=datetime.date(2025, 1, 1),
    period_end=datetime.date(2025, 3, 1),
    source_reliability="B",
    information_credibility="2",
    handling_code="H0",
    level=0,
    tlp="GREEN",
)


def make(world, who="member_secret", **changes):
    data = dataclasses.replace(BASE, **changes)
    return note_create(space=world["space"], data=data, acting_user=world["users"][who])


def codes(exc: ValidationError) -> dict[str, set[str]]:
    return {name: {e.code for e in errors} for name, errors in exc.error_dict.items()}


# --- taxonomy -----------------------------------------------------------------------


def test_taxonomy_files_are_complete_in_four_languages():
    taxonomy = load_taxonomy()
    terms = [*taxonomy.substances, *taxonomy.handling_codes, *taxonomy.schemes]
    for group in taxonomy.groups:
        terms += [group, *group.categories]
    for scheme in taxonomy.schemes:
        terms += [*scheme.source_reliability, *scheme.information_credibility]
    assert len(terms) > 60
    for term in terms:
        assert set(term.labels) == set(LANGUAGES), term.code
        assert all(term.labels[lang].strip() for lang in LANGUAGES), term.code
    assert {g.code for g in taxonomy.groups} == {
        "concealment",
        "routes",
        "precursors",
        "laundering",
        "techniques",
    }
    assert len(taxonomy.groups[0].categories) == 8
    assert {s.code for s in taxonomy.substances} == {
        "cocaine",
        "cannabis",
        "heroin_opioids",
        "synthetic_drugs",
        "nps",
        "precursors",
    }
    europol = taxonomy.schemes_by_code["europol_4x4"]
    assert [t.code for t in europol.source_reliability] == ["A", "B", "C", "X"]
    assert [t.code for t in europol.information_credibility] == ["1", "2", "3", "4"]
    nato = taxonomy.schemes_by_code["nato_6x6"]
    assert len(nato.source_reliability) == len(nato.information_credibility) == 6
    assert [h.code for h in taxonomy.handling_codes] == ["H0", "H1", "H2", "H3"]
    assert taxonomy.handling_by_code["H3"].requires_text
    assert not taxonomy.handling_by_code["H2"].exportable


def test_taxonomy_labels_follow_the_language():
    term = load_taxonomy().substances_by_code["cocaine"]
    assert term.label("es") == "Cocaína" and term.label("fr") == "Cocaïne"
    assert term.label("de") == "Cocaine"  # unknown language: English


def test_broken_taxonomy_file_fails_loudly(tmp_path, monkeypatch):
    from messaging import taxonomy

    for name in ("categories.json", "substances.json", "handling.json", "grading.json"):
        (tmp_path / name).write_text((taxonomy.DATA_DIR / name).read_text(encoding="utf-8"))
    data = json.loads((tmp_path / "substances.json").read_text())
    del data["substances"][0]["labels"]["pt"]
    (tmp_path / "substances.json").write_text(json.dumps(data))
    monkeypatch.setattr(taxonomy, "DATA_DIR", tmp_path)
    with pytest.raises(TaxonomyError, match="missing labels for pt"):
        _build()


# --- create and validation ------------------------------------------------------------


def test_create_stores_note_topic_and_first_version(world):
    note = make(world)
    assert note.version == 1 and note.reference.startswith("MO-")
    assert note.countries == ["EC", "BE"]  # route countries are countries involved
    assert note.substances_key == "|cocaine|" and note.countries_key == "|EC|BE|"
    assert "<strong>bags</strong>" in note.summary_html
    topic = Topic.objects.get(pk=note.topic_id)
    assert topic.space_id == world["space"].pk
    assert note.title not in topic.name  # topic names are seen by every member
    (revision,) = note.revisions.all()
    assert revision.number == 1 and revision.snapshot["title"] == BASE.title


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"title": ""}, "title", "required"),
        ({"title": "x" * 201}, "title", "too_long"),
        ({"title": 42}, "title", "invalid_type"),
        ({"summary": "   "}, "summary", "required"),
        ({"summary": "x" * 20_001}, "summary", "too_long"),
        ({"category": "concealment.teleportation"}, "category", "unknown_category"),
        ({"category": "concealment"}, "category", "unknown_category"),  # a group, not a leaf
        ({"category": ["concealment.air_cargo"]}, "category", "unknown_category"),
        ({"substances": ["cocaine", "unobtainium"]}, "substances", "unknown_substance"),
        ({"substances": "cocaine"}, "substances", "invalid_type"),
        ({"substances": [1]}, "substances", "invalid_type"),
        ({"countries": ["XX"]}, "countries", "unknown_country"),
        ({"countries": ["ESP"]}, "countries", "unknown_country"),
        ({"countries": ["' OR 1=1 --"]}, "countries", "unknown_country"),
        ({"countries": ["ES"] * 41}, "countries", "too_many"),
        ({"route": [{"country": "ES", "role": "via"}]}, "route", "invalid_route_role"),
        ({"route": [{"country": "ZZ", "role": "origin"}]}, "route", "unknown_country"),
        ({"route": [{"country": "ES"}]}, "route", "invalid_stop"),
        ({"route": ["ES origin"]}, "route", "invalid_stop"),
        ({"route": {"country": "ES", "role": "origin"}}, "route", "invalid_type"),
        (
            {
                "route": [
                    {"country": "BE", "role": "destination"},
                    {"country": "EC", "role": "origin"},
                ]
            },
            "route",
            "route_order",
        ),
        ({"route": [{"country": "ES", "role": "transit"}] * 21}, "route", "too_many"),
        ({"indicators": ["x"] * (MAX_INDICATORS + 1)}, "indicators", "too_many"),
        ({"indicators": ["x" * 201]}, "indicators", "indicator_too_long"),
        ({"indicators": [{"a": 1}]}, "indicators", "invalid_type"),
        ({"period_start": "2025-13-40"}, "period_start", "invalid_date"),
        (
            {"period_start": datetime.date(2025, 5, 1), "period_end": datetime.date(2025, 4, 1)},
            "period_end",
            "period_reversed",
        ),
        (
            {"source_reliability": "E", "information_credibility": "5"},
            "source_reliability",
            "invalid_grading",
        ),
        ({"information_credibility": "5"}, "information_credibility", "invalid_grading"),
        ({"grading_scheme": "astrology"}, "grading_scheme", "unknown_grading_scheme"),
        ({"handling_code": "H9"}, "handling_code", "unknown_handling_code"),
        ({"handling_code": "H3", "handling_text": "  "}, "handling_text", "handling_text_required"),
        ({"level": 7}, "level", "unknown_level"),
        ({"level": True}, "level", "unknown_level"),
        ({"level": "3"}, "level", "unknown_level"),
        ({"tlp": "PURPLE"}, "tlp", "unknown_tlp"),
    ],
)
def test_every_field_is_validated_and_nothing_changes(world, changes, field, code):
    before = (Note.objects.count(), Topic.objects.count(), NoteRevision.objects.count())
    with pytest.raises(ValidationError) as caught:
        make(world, **changes)
    assert code in codes(caught.value)[field]
    assert (Note.objects.count(), Topic.objects.count(), NoteRevision.objects.count()) == before


def test_nato_grading_accepts_its_own_grades_only(world):
    note = make(
        world, grading_scheme="nato_6x6", source_reliability="E", information_credibility="5"
    )
    assert note.grading == "E5"
    with pytest.raises(ValidationError) as caught:
        make(world, grading_scheme="nato_6x6", source_reliability="X")
    assert codes(caught.value) == {"source_reliability": {"invalid_grading"}}


def test_level_above_own_clearance_is_refused(world):
    with pytest.raises(ValidationError) as caught:
        make(world, who="member_restricted", level=2)
    assert codes(caught.value) == {"level": {"level_above_clearance"}}
    # Expired clearance falls back to the lowest level.
    with pytest.raises(ValidationError) as caught:
        make(world, who="member_expired", level=1)
    assert codes(caught.value) == {"level": {"level_above_clearance"}}


def test_h3_keeps_its_text_and_other_codes_drop_it(world):
    assert make(world, handling_code="H3", handling_text="FIU only").handling_text == "FIU only"
    assert make(world, handling_code="H1", handling_text="ignored").handling_text == ""


def test_red_recipients_must_be_active_members_cleared_for_the_level(world):
    users = world["users"]
    for who, code in [
        ("non_member", "recipient_not_member"),
        ("suspended", "recipient_not_member"),
        ("member_open", "recipient_not_cleared"),
    ]:
        with pytest.raises(ValidationError) as caught:
            make(world, tlp="RED", level=2, recipients=[users[who]])
        assert codes(caught.value) == {"recipients": {code}}
    with pytest.raises(ValidationError) as caught:
        make(world, tlp="RED", recipients=[])
    assert codes(caught.value) == {"recipients": {"no_recipients"}}
    with pytest.raises(ValidationError) as caught:
        make(world, tlp="GREEN", recipients=[users["member_open"]])
    assert codes(caught.value) == {"recipients": {"recipients_not_red"}}
    note = make(world, tlp="RED", level=2, recipients=[users["member_confidential"]])
    assert list(note.recipients.values_list("pk", flat=True)) == [users["member_confidential"].pk]


def test_hostile_text_is_stored_as_text_and_rendered_inert(world):
    note = make(
        world,
        title="<script>alert(1)</script>'; DROP TABLE messaging_note; --",
        summary="<img src=x onerror=alert(1)> [x](javascript:alert(1)) <b>bold</b>",
        indicators=["<svg onload=alert(1)>"],
    )
    assert Note.objects.filter(pk=note.pk).exists()
    assert "<img" not in note.summary_html and 'href="javascript' not in note.summary_html
    assert "<b>" not in note.summary_html and "&lt;b&gt;" in note.summary_html


def test_who_may_create(world):
    for who in ("observer", "non_member", "suspended", "no_mfa", "network_admin"):
        with pytest.raises(PermissionDenied):
            make(world, who=who)


# --- edit, versions, diffs ----------------------------------------------------------------


def test_edit_keeps_every_version_and_shows_a_diff(world):
    note = make(world)
    edited = note_edit(
        note=note,
        data=dataclasses.replace(BASE, title="Reefer containers, revised", handling_code="H1"),
        acting_user=world["users"]["member_secret"],
    )
    assert edited.version == 2 and edited.title == "Reefer containers, revised"
    assert [r.number for r in note.revisions.all()] == [1, 2]
    assert note.revisions.get(number=1).snapshot["title"] == BASE.title
    history = note_selectors.note_history(note=edited, language="en")
    assert [entry.revision.number for entry in history] == [2, 1]
    added = {line.text for line in history[0].lines if line.kind == "add"}
    removed = {line.text for line in history[0].lines if line.kind == "remove"}
    assert "Title: Reefer containers, revised" in added
    assert f"Title: {BASE.title}" in removed
    assert "Handling: H1" in added and "Handling: H0" in removed
    # Saving the same content again is not a new version.
    same = note_edit(
        note=edited,
        data=dataclasses.replace(BASE, title="Reefer containers, revised", handling_code="H1"),
        acting_user=world["users"]["member_secret"],
    )
    assert same.version == 2 and note.revisions.count() == 2


def test_edit_rights_author_and_moderator_only(world):
    users = world["users"]
    note = make(world, who="member_confidential", level=2)
    changed = dataclasses.replace(BASE, title="Moderated", level=2)
    note_edit(note=note, data=changed, acting_user=users["moderator"])
    assert AuditEvent.objects.filter(action="note.edited_by_moderator").count() == 1
    for who in (
        "member_secret",
        "member_open",
        "observer",
        "other_moderator",
        "network_admin",
        "non_member",
        "suspended",
    ):
        with pytest.raises(PermissionDenied):
            note_edit(note=note, data=BASE, acting_user=users[who])
    assert Note.objects.get(pk=note.pk).version == 2


def test_invalid_edit_changes_nothing(world):
    note = make(world)
    with pytest.raises(ValidationError):
        note_edit(
            note=note,
            data=dataclasses.replace(BASE, category="nope"),
            acting_user=world["users"]["member_secret"],
        )
    note.refresh_from_db()
    assert note.version == 1 and note.revisions.count() == 1


# --- export ------------------------------------------------------------------------------


def test_export_carries_labels_and_grading_and_is_audited(world):
    note = make(world, handling_code="H1", level=1)
    payload = note_export(
        notes=[note], acting_user=world["users"]["member_restricted"], language="es"
    )
    json.dumps(payload)  # JSON-serialisable
    (item,) = payload["notes"]
    assert item["category"]["label"].startswith("Contaminación de contenedores")
    assert item["category"]["group"]["label"] == "Métodos de ocultación"
    assert item["substances"] == [{"code": "cocaine", "label": "Cocaína"}]
    assert item["grading"]["code"] == "B2"
    assert item["grading"]["source_reliability"]["label"].startswith("Fuente cuya")
    assert item["handling"]["code"] == "H1" and "judiciales" in item["handling"]["label"]
    assert item["level"] == {"rank": 1, "name": "RESTRICTED"} and item["tlp"] == "TLP:GREEN"
    assert item["route"][0] == {"country": "EC", "role": "origin"}
    event = AuditEvent.objects.get(action="note.exported")
    assert event.details["notes"] == [note.reference]
    assert event.actor_id == world["users"]["member_restricted"].pk


@pytest.mark.parametrize(
    "changes",
    [
        {"handling_code": "H2"},
        {"tlp": "RED", "recipients": "member_confidential"},
    ],
)
def test_export_of_h2_or_red_is_refused_and_audited(world, changes):
    if "recipients" in changes:
        changes = {**changes, "recipients": [world["users"][changes["recipients"]]]}
    fine = make(world)
    refused = make(world, **changes)
    with pytest.raises(NoteExportRefused) as caught:
        note_export(notes=[fine, refused], acting_user=world["users"]["member_secret"])
    assert caught.value.references == [refused.reference]
    assert "Export refused" in caught.value.message
    event = AuditEvent.objects.get(action="note.export_refused")
    assert event.details["notes"] == [refused.reference]
    assert not AuditEvent.objects.filter(action="note.exported").exists()


def test_export_checks_access_for_every_note(world):
    secret = make(world, level=3)
    with pytest.raises(PermissionDenied):
        note_export(notes=[secret], acting_user=world["users"]["member_confidential"])
    with pytest.raises(PermissionDenied):
        note_export(notes=[make(world)], acting_user=world["users"]["non_member"])
    assert not AuditEvent.objects.filter(action__startswith="note.export").exists()


def test_visible_notes_follow_the_access_rule(world):
    users = world["users"]
    levels = {level: make(world, level=level, title=f"L{level}") for level in range(4)}
    red = make(world, tlp="RED", level=1, recipients=[users["member_confidential"]], title="RED")
    expected = {
        "member_open": {"L0"},
        "member_restricted": {"L0", "L1"},
        "member_confidential": {"L0", "L1", "L2", "RED"},
        "member_secret": {"L0", "L1", "L2", "L3", "RED"},  # the author
        "member_expired": {"L0"},
        "moderator": {"L0", "L1", "L2"},
        "observer": {"L0"},
        "suspended": set(),
        "removed": set(),
        "non_member": set(),
        "no_mfa": set(),
        "other_moderator": set(),
        "network_admin": set(),
    }
    for who, titles in expected.items():
        seen = set(
            note_selectors.visible_notes(user=users[who], space_id=world["space"].pk).values_list(
                "title", flat=True
            )
        )
        assert seen == titles, who
    assert levels and red


def test_demo_seed_adds_fictional_notes_to_every_working_group(db):
    from messaging.notes import seed_demo_notes
    from networks.demo import WORKING_GROUPS, seed_demo
    from networks.models import Space

    seed_demo()
    assert seed_demo_notes() >= len(WORKING_GROUPS)
    for _name, slug, _theme, _listed in WORKING_GROUPS:
        notes = Note.objects.filter(space=Space.objects.get(slug=slug))
        assert notes.exists(), slug
        assert all("Fictional demo note" in note.summary for note in notes)
