"""Weekly aggregates at known dates, the clearance rule, and members by country."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from networks.models import Membership
from workspace.insight.selectors import (
    clearance_ceilings,
    members_by_country,
    week_starts,
    weekly_activity,
)

pytestmark = pytest.mark.django_db

# A Wednesday: the current week began on Monday 23 November 2026.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
FIRST = datetime(2026, 9, 7, tzinfo=UTC)  # Monday of the oldest of the twelve weeks


def test_week_starts_are_twelve_mondays_ending_this_week():
    weeks = week_starts(now=NOW)
    assert len(weeks) == 12
    assert weeks[-1] == date(2026, 11, 23) and weeks[0] == date(2026, 9, 7)
    assert all(w.weekday() == 0 for w in weeks)


def test_counts_per_week_at_known_dates(world, post):
    space = world["space"]
    post("message", "member_open", MONDAY)  # this week, first second
    post("message", "member_open", MONDAY + timedelta(days=2))
    post("message", "member_restricted", MONDAY - timedelta(seconds=1))  # Sunday: last week
    post("message", "member_open", FIRST)  # oldest week counted
    post("message", "member_open", FIRST - timedelta(seconds=1))  # before the window
    post("document", "member_restricted", MONDAY + timedelta(hours=1))
    post("document", "member_open", FIRST + timedelta(days=6))
    post("note", "member_secret", MONDAY - timedelta(days=7))  # last week: active, not a message

    viewer = world["users"]["member_secret"]
    activity = weekly_activity(viewer=viewer, ceilings={space.pk: 3}, now=NOW).total
    assert activity.messages == [1] + [0] * 9 + [1, 2]
    assert activity.documents == [1] + [0] * 10 + [1]
    # Last week: member_restricted (message) and member_secret (note); this week: both
    # posters once each, though member_open posted twice.
    assert activity.active_members == [1] + [0] * 9 + [2, 2]
    assert activity.active_members_total == 3
    assert activity.messages_total == 4 and activity.documents_total == 2


def test_only_items_at_or_below_the_ceiling_are_counted(world, post):
    space = world["space"]
    post("message", "member_open", MONDAY, level=0)
    post("message", "member_confidential", MONDAY, level=2)
    post("message", "member_secret", MONDAY, level=3)
    post("document", "member_secret", MONDAY, level=3)
    post("note", "member_secret", MONDAY, level=3)

    viewer = world["users"]["member_secret"]

    def this_week(ceiling: int) -> tuple[int, int, int]:
        a = weekly_activity(viewer=viewer, ceilings={space.pk: ceiling}, now=NOW).total
        return a.messages[-1], a.documents[-1], a.active_members[-1]

    assert this_week(0) == (1, 0, 1)
    assert this_week(2) == (2, 0, 2)
    # The SECRET poster is invisible below SECRET, even as a person counted.
    assert this_week(3) == (3, 1, 3)


def test_ceilings_are_the_clearance_in_effect_or_the_lowest_level(world):
    space, other = world["space"], world["other_space"]
    users = world["users"]
    ids = [space.pk, other.pk]
    assert clearance_ceilings(user=users["moderator"], space_ids=ids) == {space.pk: 2, other.pk: 0}
    # An expired clearance falls back to the lowest level.
    assert clearance_ceilings(user=users["member_expired"], space_ids=ids)[space.pk] == 0
    # A suspended membership grants nothing; a network admin who is no member sees OPEN.
    assert clearance_ceilings(user=users["suspended"], space_ids=ids)[space.pk] == 0
    assert clearance_ceilings(user=users["network_admin"], space_ids=ids) == {
        space.pk: 0,
        other.pk: 0,
    }


def test_network_totals_count_a_person_once_and_break_down_per_space(world, post):
    space, other = world["space"], world["other_space"]
    from networks.models import Role
    from networks.services import membership_set

    both = world["users"]["member_open"]
    membership_set(
        space=other,
        user=both,
        role=Role.MEMBER,
        clearance=0,
        acting_user=world["users"]["network_admin"],
    )
    post("message", "member_open", MONDAY)
    post("message", "member_open", MONDAY, space=other)
    post("document", "member_open", MONDAY, space=other)

    result = weekly_activity(viewer=both, ceilings={space.pk: 0, other.pk: 0}, now=NOW)
    assert result.total.messages[-1] == 2
    assert result.total.active_members[-1] == 1
    assert result.per_space[space.pk].messages[-1] == 1
    assert result.per_space[other.pk].documents[-1] == 1
    assert result.per_space[other.pk].active_members_total == 1


def test_activity_takes_three_queries_whatever_the_weeks(world, post, django_assert_num_queries):
    space = world["space"]
    for week in range(12):
        post("message", "member_open", MONDAY - timedelta(weeks=week))
    viewer = world["users"]["member_secret"]
    # Three, and the viewer's MFA and memberships (read once per request in a view).
    with django_assert_num_queries(3 + 2):
        weekly_activity(viewer=viewer, ceilings={space.pk: 3, world["other_space"].pk: 0}, now=NOW)


def _discussion_message(world, note, user_key: str, *, at: datetime):  # type: ignore[no-untyped-def]
    from messaging.models import Message
    from messaging.services import message_post

    message = message_post(
        space=world["space"],
        topic=note.topic,
        body="a reply in the note's discussion",
        level=0,
        tlp="GREEN",
        acting_user=world["users"][user_key],
    )
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def test_note_discussions_count_only_for_whoever_may_see_the_note(world, post):
    """A note's discussion is part of the note: its OPEN messages count only for a viewer
    the access rule lets see the note (above their clearance, or TLP:RED not for them:
    not counted, as neither the topic nor its messages are shown to them)."""
    from messaging.models import Note
    from messaging.note_services import NoteInput, note_create

    space, users = world["space"], world["users"]
    post("message", "member_open", MONDAY)  # an ordinary topic: counted for everyone
    secret_note = post("note", "member_secret", MONDAY - timedelta(weeks=1), level=3)
    _discussion_message(world, secret_note, "member_secret", at=MONDAY)
    red_note = note_create(
        space=space,
        data=NoteInput(
            title="Red note",
            summary="s",
            category="concealment.air_cargo",
            source_reliability="B",
            information_credibility="2",
            handling_code="H0",
            level=0,
            tlp="RED",
            recipients=[users["member_confidential"]],
        ),
        acting_user=users["member_restricted"],
    )
    Note.objects.filter(pk=red_note.pk).update(created_at=MONDAY)
    _discussion_message(world, red_note, "member_restricted", at=MONDAY)

    def this_week(user_key: str, ceiling: int) -> tuple[int, int]:
        activity = weekly_activity(
            viewer=users[user_key], ceilings={space.pk: ceiling}, now=NOW
        ).total
        return activity.messages[-1], activity.active_members[-1]

    # The moderator (CONFIDENTIAL) may see neither note: the ordinary message only, and
    # only its poster as active (the RED note's author is active through the note).
    assert this_week("moderator", 2) == (1, 2)
    # The RED note's recipient sees its discussion, not the SECRET one's.
    assert this_week("member_confidential", 2) == (2, 2)
    # SECRET, no recipient of the RED note: the SECRET discussion, not the RED one.
    assert this_week("member_secret", 3) == (2, 3)
    # A network admin who is no member may see no note, so no note discussion.
    assert this_week("network_admin", 0) == (1, 2)


def test_members_by_country(world):
    users = world["users"]
    countries = {
        "moderator": "CO",
        "member_open": "CO",
        "observer": "CO",
        "member_restricted": "BR",
        "suspended": "BR",
        "removed": "BR",  # removed: not counted
        "member_secret": "",
    }
    for key, code in countries.items():
        users[key].country = code
        users[key].save(update_fields=["country"])
    rows = {row.code: row for row in members_by_country(space_ids=[world["space"].pk])}
    assert rows["CO"].name == "Colombia"
    assert (rows["CO"].moderators, rows["CO"].members, rows["CO"].observers) == (1, 1, 1)
    assert rows["CO"].people == 3
    assert (rows["BR"].members, rows["BR"].suspended, rows["BR"].people) == (1, 1, 1)
    assert rows[""].name == "Not given"
    active = Membership.objects.filter(space=world["space"], status="active").count()
    assert sum(row.people for row in rows.values()) == active


def test_country_names_follow_the_language(world):
    from django.utils import translation

    user = world["users"]["member_open"]
    user.country = "DE"
    user.save(update_fields=["country"])
    with translation.override("es"):
        names = [row.name for row in members_by_country(space_ids=[world["space"].pk])]
    assert "Alemania" in names
    assert names[-1] == "No indicado" or names[-1] != "Alemania"
