"""The access rule: the object check, the SQL filter and the batch form agree."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from networks.access import (
    Action,
    ItemLabels,
    access_space,
    can_see_item,
    delivery_memberships,
    delivery_memberships_many,
    granted_memberships,
    granted_memberships_many,
)
from networks.clearance import TLP

pytestmark = pytest.mark.django_db


def test_delivery_memberships_agree_with_the_per_user_rule(world):
    from networks.models import Membership

    space = world["space"]
    users = world["users"]
    ids = [u.pk for u in users.values() if u is not None]
    batch = delivery_memberships(space_id=space.pk, user_ids=ids)
    # Only active members with MFA: not no_mfa, suspended, removed, invited, outsiders.
    expected = {
        users[k].pk
        for k in (
            "observer",
            "member_open",
            "member_restricted",
            "member_confidential",
            "member_secret",
            "member_expired",
            "moderator",
        )
    }
    assert set(batch) == expected
    red = ItemLabels(
        space_id=space.pk,
        level=1,
        tlp=TLP.RED,
        author_id=users["member_secret"].pk,
        recipient_ids=frozenset({users["member_restricted"].pk}),
    )
    seen = {uid for uid, m in batch.items() if can_see_item(m, red)}
    assert seen == {users["member_secret"].pk, users["member_restricted"].pk}
    # Expired clearance falls back at the moment of the check.
    m = Membership.objects.get(user=users["member_confidential"], space=space)
    m.clearance_expires_at = timezone.now() - timedelta(seconds=1)
    m.save()
    batch = delivery_memberships(space_id=space.pk, user_ids=ids)
    item = ItemLabels(space_id=space.pk, level=1, tlp=TLP.GREEN, author_id=None)
    assert not can_see_item(batch[users["member_confidential"].pk], item)


def test_delivery_memberships_many_agree_with_the_one_space_form(world, django_assert_num_queries):
    """Across spaces in one query, with only the pairs asked for: an outsider's own space
    is not reported for a pair that names this space, nor this space for a pair that
    names another."""
    from networks.models import Membership

    space = world["space"]
    users = [u for u in world["users"].values() if u is not None]
    spaces = sorted({m.space_id for m in Membership.objects.all()} | {space.pk})
    pairs = [(space_id, user.pk) for space_id in spaces for user in users]
    with django_assert_num_queries(1):
        many = delivery_memberships_many(pairs)
    expected = {
        (space_id, user_id): membership
        for space_id in spaces
        for user_id, membership in delivery_memberships(
            space_id=space_id, user_ids=[u.pk for u in users]
        ).items()
    }
    assert many == expected and many
    some = pairs[: len(users)]  # one space's pairs only
    assert set(delivery_memberships_many(some)) == {k for k in expected if k in set(some)}
    assert delivery_memberships_many([]) == {}


def test_delivery_memberships_many_are_narrow_and_made_once_per_row(world):
    """The refresh's memberships carry what `can_see_item` reads and no more (another
    field is a query, not a stale value); an unchanged row gives the same object, and a
    changed one a new object with the new values."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from networks.access import DELIVERY_FIELDS
    from networks.services import membership_set

    space, user = world["space"], world["users"]["member_secret"]
    first = delivery_memberships_many([(space.pk, user.pk)])[(space.pk, user.pk)]
    assert first.get_deferred_fields() == {
        f.attname for f in type(first)._meta.concrete_fields
    } - DELIVERY_FIELDS
    assert delivery_memberships_many([(space.pk, user.pk)])[(space.pk, user.pk)] is first
    with CaptureQueriesContext(connection) as queries:
        assert first.created_at is not None  # deferred: read from the database
    assert len(queries) == 1
    item = ItemLabels(space_id=space.pk, level=3, tlp=TLP.GREEN, author_id=0)
    assert can_see_item(first, item)
    membership_set(space=space, user=user, clearance=1, acting_user=world["users"]["network_admin"])
    lowered = delivery_memberships_many([(space.pk, user.pk)])[(space.pk, user.pk)]
    assert lowered is not first and lowered.clearance == 1 and not can_see_item(lowered, item)


def test_deactivated_user_is_not_delivered(world):
    user = world["users"]["member_secret"]
    user.is_active = False
    user.save()
    assert user.pk not in delivery_memberships(space_id=world["space"].pk, user_ids=[user.pk])


# --- One socket frame reads access once ------------------------------------------------


def test_a_frame_reads_an_access_once_and_the_next_frame_reads_afresh(
    world, django_assert_num_queries
):
    from networks.access import Action, access_space, frame_user
    from networks.models import MembershipStatus
    from networks.services import membership_set

    user, space = world["users"]["member_secret"], world["space"]
    access_space(user, space.pk, action=Action.POST)  # the permission's pk, read once per process
    frame = frame_user(user)  # the MFA check: one query, once per frame
    with django_assert_num_queries(1):  # the membership, with the grant as an EXISTS
        first = access_space(frame, space.pk, action=Action.POST)
    with django_assert_num_queries(0):  # the service repeats the handler's check
        assert access_space(frame, space.pk, action=Action.POST) is first
    with pytest.raises(PermissionDenied):  # another action is its own answer
        access_space(frame, space.pk, action=Action.MODERATE)
    with django_assert_num_queries(2):  # a plain user object reads every time (MFA too)
        access_space(user, space.pk, action=Action.POST)
    membership_set(
        space=space,
        user=user,
        clearance=3,
        status=MembershipStatus.SUSPENDED,
        acting_user=world["users"]["network_admin"],
    )
    with pytest.raises(PermissionDenied):  # the next frame sees the suspension
        access_space(frame_user(user), space.pk, action=Action.POST)


def test_a_refusal_is_not_remembered_and_a_frame_does_not_outlive_mfa(world):
    from allauth.mfa.models import Authenticator

    from networks.access import Action, access_space, frame_user

    user, space = world["users"]["non_member"], world["space"]
    frame = frame_user(user)
    with pytest.raises(PermissionDenied):
        access_space(frame, space.pk, action=Action.VIEW)
    assert frame._workspace_request_cache["frame_access"] == {}
    member = world["users"]["member_open"]
    access_space(frame_user(member), space.pk, action=Action.VIEW)
    Authenticator.objects.filter(user=member).delete()
    with pytest.raises(PermissionDenied):
        access_space(frame_user(member), space.pk, action=Action.VIEW)


def _answer(user, space_id, action):  # type: ignore[no-untyped-def]
    from networks.access import access_space

    try:
        return access_space(user, space_id, action=action).pk
    except PermissionDenied:
        return None


@pytest.mark.parametrize("action", list(Action))
def test_access_space_for_agrees_with_access_space(world, action):
    """One query answers the main action and every other one; each answer (grant or
    refusal) is the one `access_space` gives with a plain user object, for every user
    of the world and both spaces."""
    from networks.access import access_space_for, frame_user

    for name, user in world["users"].items():
        if user is None:
            continue
        for space in (world["space"], world["other_space"]):
            frame = frame_user(user)
            try:
                got = access_space_for(frame, space.pk, action=action, also=list(Action)).pk
            except PermissionDenied:
                got = None
            assert got == _answer(user, space.pk, action), (name, space.name)
            for other in Action:
                assert _answer(frame, space.pk, other) == _answer(user, space.pk, other), (
                    name,
                    space.name,
                    other,
                )


def test_access_space_for_reads_once_and_remembers_refusals(world, django_assert_num_queries):
    from networks.access import access_space, access_space_for, frame_user

    user, space = world["users"]["member_secret"], world["space"]
    access_space_for(frame_user(user), space.pk, action=Action.VIEW, also=list(Action))
    frame = frame_user(user, mfa=True)
    with django_assert_num_queries(1):  # the membership, with one EXISTS per action
        membership = access_space_for(
            frame, space.pk, action=Action.VIEW, also=(Action.POST, Action.MODERATE)
        )
    with django_assert_num_queries(0):
        assert access_space(frame, space.pk, action=Action.POST) == membership
        with pytest.raises(PermissionDenied):  # a member does not moderate: remembered
            access_space(frame, space.pk, action=Action.MODERATE)
    with django_assert_num_queries(1):  # an action not read with it is read as before
        access_space(frame, space.pk, action=Action.UPLOAD)


def test_access_space_for_refuses_outsiders_and_plain_user_objects(world):
    from networks.access import access_space_for, frame_user

    space = world["space"]
    for name in ("non_member", "suspended", "removed", "invited", "no_mfa"):
        with pytest.raises(PermissionDenied):
            access_space_for(frame_user(world["users"][name]), space.pk, action=Action.VIEW)
    with pytest.raises(PermissionDenied):  # a missing space
        access_space_for(frame_user(world["users"]["member_open"]), 10**9, action=Action.VIEW)
    with pytest.raises(TypeError):  # its answers would have nowhere to live
        access_space_for(world["users"]["member_open"], space.pk, action=Action.VIEW)


# --- All of a user's spaces at once -----------------------------------------------------


@pytest.mark.parametrize("action", list(Action))
def test_granted_memberships_agree_with_access_space(world, action):
    """The batch form gives exactly the spaces `access_space` grants, for every user of
    the world (observer, each clearance, expired, suspended, removed, invited, no MFA,
    outsider, admin) and every action, with the same memberships."""
    from networks.models import Space

    spaces = list(Space.objects.all())
    assert len(spaces) >= 2
    users = [u for u in world["users"].values() if u is not None]
    for user in users:
        expected = {}
        for space in spaces:
            try:
                expected[space.pk] = access_space(user, space.pk, action=action).pk
            except PermissionDenied:
                continue
        got = {space_id: m.pk for space_id, m in granted_memberships(user, action=action).items()}
        assert got == expected, (user.email, action)


def test_granted_memberships_follow_a_change_at_once(world):
    from networks.models import Membership, MembershipStatus

    user, space = world["users"]["member_open"], world["space"]
    assert space.pk in granted_memberships(user)
    Membership.objects.filter(user=user, space=space).update(status=MembershipStatus.SUSPENDED)
    assert space.pk not in granted_memberships(user)


@pytest.mark.parametrize("action", list(Action))
def test_granted_memberships_many_agree_with_the_one_user_form(world, action, monkeypatch):
    """The many-users form gives each user exactly what `granted_memberships` gives, for
    every user of the world and every action, in one query per chunk of users (the
    chunk made small here so that three chunks are read)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import networks.access

    users = [u for u in world["users"].values() if u is not None]
    assert len(users) > 4
    monkeypatch.setattr(networks.access, "_MANY_USERS_CHUNK", 4)
    granted_memberships(users[0], action=action)  # the permission's pk, read once
    with CaptureQueriesContext(connection) as queries:
        got = granted_memberships_many(users, action=action)
    assert len(queries) == -(-len(users) // 4)
    for user in users:
        expected = {s: m.pk for s, m in granted_memberships(user, action=action).items()}
        assert {s: m.pk for s, m in got.get(user.pk, {}).items()} == expected, user.email


def test_granted_memberships_many_reads_the_account_afresh(world):
    """A disabled account, or a user object that says so, has no spaces; so has a user
    whose MFA was removed since the object was read."""
    from allauth.mfa.models import Authenticator

    from workspace.accounts.models import User

    users = world["users"]
    disabled, stale, no_mfa = users["member_secret"], users["member_open"], users["moderator"]
    User.objects.filter(pk=disabled.pk).update(is_active=False)  # the object still says active
    stale.is_active = False  # the object says disabled: not asked at all
    Authenticator.objects.filter(user=no_mfa).delete()
    got = granted_memberships_many([disabled, stale, no_mfa, users["member_restricted"]])
    assert set(got) == {users["member_restricted"].pk}
