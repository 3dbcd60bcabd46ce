"""`@moderators` notifies the space's moderators who may see the message, and nobody else."""

from __future__ import annotations

import pytest

from messaging.models import Event, Mention
from networks.clearance import TLP
from networks.models import MembershipStatus, Role
from networks.services import membership_set
from tests.factories import UserFactory
from tests.messaging.conftest import post

pytestmark = pytest.mark.django_db


def _mentioned(message) -> list[int]:  # type: ignore[no-untyped-def]
    return sorted(Mention.objects.filter(message=message).values_list("user", flat=True))


def _moderator(room, clearance: int, status: str = MembershipStatus.ACTIVE):  # type: ignore[no-untyped-def]
    user = UserFactory(mfa=True)
    membership_set(space=room["space"], user=user, role=Role.MODERATOR, clearance=clearance,
                   status=status, acting_user=room["admin"])
    return user


def test_moderators_cleared_for_the_level_are_notified(room):
    low = _moderator(room, clearance=0)  # may not see a CONFIDENTIAL message
    suspended = _moderator(room, clearance=3, status=MembershipStatus.SUSPENDED)
    message = post(room, "confidential", "please look @moderators", level=2)
    assert _mentioned(message) == [room["users"]["moderator"].pk]
    assert low.pk not in _mentioned(message) and suspended.pk not in _mentioned(message)
    event = Event.objects.get(message=message)
    assert event.payload["message"]["mention_ids"] == [room["users"]["moderator"].pk]
    # At OPEN the low moderator may see it too; the syntax with stars works as well.
    message = post(room, "confidential", "@**moderators** again", level=0)
    assert _mentioned(message) == sorted([room["users"]["moderator"].pk, low.pk])


def test_moderators_and_a_named_moderator_are_notified_once_and_not_the_author(room):
    users = room["users"]
    users["moderator"].display_name = "Mia Mod"
    users["moderator"].save()
    message = post(room, "moderator", "@moderators and @**Mia Mod**", level=0)
    assert _mentioned(message) == []  # the author is never told of their own message
    message = post(room, "secret", "@MODERATORS and @**mia mod**", level=0)
    assert _mentioned(message) == [users["moderator"].pk]


def test_red_messages_notify_only_moderators_among_the_recipients(room):
    users = room["users"]
    message = post(room, "secret", "@moderators", level=0, tlp=TLP.RED,
                   recipients=(users["open"],))
    assert _mentioned(message) == []


@pytest.mark.parametrize("body", [
    "write to ops@moderators.example",
    "the @moderatorship and @moderators_team",
    "a.@moderators",
    "@*moderators*",
    "moderators",
])
def test_hostile_or_lookalike_text_notifies_no_moderator(room, body):
    message = post(room, "secret", body, level=0)
    assert _mentioned(message) == []


def test_other_spaces_moderators_are_never_notified(room):
    outsider_mod = UserFactory(mfa=True)
    membership_set(space=room["other_space"], user=outsider_mod, role=Role.MODERATOR,
                   clearance=3, acting_user=room["admin"])
    message = post(room, "secret", "@moderators", level=0)
    assert _mentioned(message) == [room["users"]["moderator"].pk]
