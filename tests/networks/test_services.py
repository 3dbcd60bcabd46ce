"""Moderation services: the rules, and hostile input that must change nothing."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from networks import services
from networks.access import Action, access_space, clearance_in_effect
from networks.models import (
    Invitation,
    JoinRequest,
    Membership,
    MembershipStatus,
    SpaceUserObjectPermission,
)
from networks.permissions import ROLE_PERMISSIONS
from workspace.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=False)


def _m(world, key):
    return Membership.objects.get(user=world["users"][key], space=world["space"])


def _snapshot(world):
    return (
        list(Membership.objects.order_by("pk").values()),
        list(Invitation.objects.order_by("pk").values()),
        SpaceUserObjectPermission.objects.count(),
    )


def test_invite_sends_signed_link_and_audits(world):
    moderator = world["users"]["moderator"]
    invitation = services.membership_invite(
        space=world["space"],
        email="New.Person@Agency.example",
        role="member",
        clearance=1,
        acting_user=moderator,
    )
    assert invitation.email == "new.person@agency.example"
    assert AuditEvent.objects.filter(action="invitation.sent", actor_id=moderator.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_invitation_email_sent_after_commit(world):
    services.membership_invite(
        space=world["space"],
        email="x@agency.example",
        role="member",
        clearance=0,
        acting_user=world["users"]["moderator"],
    )
    assert len(mail.outbox) == 1
    assert "/invitations/" in mail.outbox[0].body


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"role": "admin", "clearance": 0}, "unknown_role"),
        ({"role": "member", "clearance": 9}, "unknown_level"),
        ({"role": "member", "clearance": -1}, "unknown_level"),
        ({"role": "member", "clearance": 3}, "clearance_above_own"),  # moderator is at 2
    ],
)
def test_bad_invitations_change_nothing(world, kwargs, code):
    before = _snapshot(world)
    with pytest.raises(ValidationError) as exc:
        services.membership_invite(
            space=world["space"],
            email="x@agency.example",
            acting_user=world["users"]["moderator"],
            **kwargs,
        )
    assert exc.value.code == code
    assert _snapshot(world) == before


def test_invitation_to_active_member_is_refused(world):
    member = world["users"]["member_open"]
    with pytest.raises(ValidationError) as exc:
        services.membership_invite(
            space=world["space"],
            email=member.email.upper(),
            role="member",
            clearance=0,
            acting_user=world["users"]["moderator"],
        )
    assert exc.value.code == "already_member"


def test_member_cannot_invite(world):
    with pytest.raises(PermissionDenied):
        services.membership_invite(
            space=world["space"],
            email="x@agency.example",
            role="member",
            clearance=0,
            acting_user=world["users"]["member_secret"],
        )


def test_moderator_of_other_space_cannot_moderate(world):
    with pytest.raises(PermissionDenied):
        services.membership_change(
            membership=_m(world, "member_open"),
            role="member",
            clearance=1,
            clearance_expires_at=None,
            acting_user=world["users"]["other_moderator"],
        )


def test_grant_above_own_clearance_is_refused(world):
    target = _m(world, "member_open")
    with pytest.raises(ValidationError) as exc:
        services.membership_change(
            membership=target,
            role="member",
            clearance=3,
            clearance_expires_at=None,
            acting_user=world["users"]["moderator"],
        )
    assert exc.value.code == "clearance_above_own"
    target.refresh_from_db()
    assert target.clearance == 0


def test_network_admin_may_grant_any_clearance(world):
    target = services.membership_change(
        membership=_m(world, "member_open"),
        role="member",
        clearance=3,
        clearance_expires_at=None,
        acting_user=world["users"]["network_admin"],
    )
    assert target.clearance == 3


def test_last_moderator_cannot_be_demoted_or_removed(world):
    moderator = _m(world, "moderator")
    for call in (
        lambda: services.membership_change(
            membership=moderator,
            role="member",
            clearance=2,
            clearance_expires_at=None,
            acting_user=world["users"]["network_admin"],
        ),
        lambda: services.membership_set_status(
            membership=moderator, status="removed", acting_user=world["users"]["network_admin"]
        ),
        lambda: services.membership_set_status(
            membership=moderator, status="suspended", acting_user=world["users"]["moderator"]
        ),
    ):
        with pytest.raises(ValidationError) as exc:
            call()
        assert exc.value.code == "last_moderator"
    moderator.refresh_from_db()
    assert moderator.role == "moderator" and moderator.status == "active"


def test_suspension_removes_every_permission_at_once(world):
    member = world["users"]["member_secret"]
    assert access_space(member, world["space"].pk, action=Action.POST)
    services.membership_set_status(
        membership=_m(world, "member_secret"),
        status="suspended",
        acting_user=world["users"]["network_admin"],
    )
    for action in Action:
        with pytest.raises(PermissionDenied):
            access_space(member, world["space"].pk, action=action)
    assert not SpaceUserObjectPermission.objects.filter(user=member).exists()
    assert AuditEvent.objects.filter(action="membership.suspended").exists()


def test_role_table_maps_to_guardian_permissions(world):
    for key, role in (
        ("observer", "observer"),
        ("member_open", "member"),
        ("moderator", "moderator"),
    ):
        codenames = set(
            SpaceUserObjectPermission.objects.filter(
                user=world["users"][key], content_object=world["space"]
            ).values_list("permission__codename", flat=True)
        )
        assert codenames == ROLE_PERMISSIONS[role]
        # guardian reads the rows sync_role_permissions writes as its own grants
        from guardian.shortcuts import get_perms

        assert set(get_perms(world["users"][key], world["space"])) == ROLE_PERMISSIONS[role]


def test_a_role_change_rewrites_exactly_the_difference(world, django_assert_max_num_queries):
    from networks.models import Role
    from networks.permissions import sync_role_permissions

    membership = _m(world, "moderator")
    before = dict(
        SpaceUserObjectPermission.objects.filter(
            user=membership.user, content_object=world["space"]
        ).values_list("permission__codename", "pk")
    )
    membership.role = Role.MEMBER
    with django_assert_max_num_queries(3):
        sync_role_permissions(membership)
    after = dict(
        SpaceUserObjectPermission.objects.filter(
            user=membership.user, content_object=world["space"]
        ).values_list("permission__codename", "pk")
    )
    assert set(after) == ROLE_PERMISSIONS[Role.MEMBER]
    assert all(after[c] == before[c] for c in after)  # kept rows are untouched
    with django_assert_max_num_queries(1):
        sync_role_permissions(membership)  # nothing to change: one read


def test_expired_clearance_falls_back_at_check_time(world):
    membership = _m(world, "member_secret")
    assert clearance_in_effect(membership) == 3
    membership.clearance_expires_at = timezone.now() - timedelta(seconds=1)
    assert clearance_in_effect(membership) == 0
    assert clearance_in_effect(_m(world, "member_expired")) == 0


def test_recreated_space_does_not_inherit_grants(world):
    space = world["space"]
    old_pk = space.pk
    member = world["users"]["member_open"]
    space.delete()
    assert not SpaceUserObjectPermission.objects.filter(content_object_id=old_pk).exists()
    from tests.factories import SpaceFactory

    reborn = SpaceFactory(pk=old_pk, network=world["other_space"].network)
    with pytest.raises(PermissionDenied):
        access_space(member, reborn.pk)


def test_join_request_to_unlisted_space_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        services.join_request_create(
            space=world["other_space"], acting_user=world["users"]["member_open"]
        )
    assert exc.value.code == "no_requests"
    assert not JoinRequest.objects.exists()


def test_join_request_approval_flow(world):
    requester = world["users"]["non_member"]
    jr = services.join_request_create(space=world["space"], acting_user=requester, message="hi")
    with pytest.raises(ValidationError):
        services.join_request_create(space=world["space"], acting_user=requester)
    with pytest.raises(ValidationError) as exc:
        services.join_request_decide(
            join_request=jr, approve=True, clearance=3, acting_user=world["users"]["moderator"]
        )
    assert exc.value.code == "clearance_above_own"
    services.join_request_decide(
        join_request=jr, approve=True, clearance=1, acting_user=world["users"]["moderator"]
    )
    membership = Membership.objects.get(user=requester, space=world["space"])
    assert membership.status == MembershipStatus.ACTIVE and membership.clearance == 1
    with pytest.raises(ValidationError):
        services.join_request_decide(
            join_request=jr, approve=False, acting_user=world["users"]["moderator"]
        )


def test_tampered_member_id_from_another_space_is_not_found(client, world):
    moderator = world["users"]["moderator"]
    client.force_login(moderator)
    foreign = Membership.objects.get(user=world["users"]["other_moderator"])
    url = f"/spaces/{world['space'].pk}/members/{foreign.pk}/status/"
    assert client.post(url, {"status": "removed"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == "active"


@pytest.mark.parametrize(
    "data",
    [
        {"m{pk}-role": "overlord", "m{pk}-clearance": "1"},
        {"m{pk}-role": "member", "m{pk}-clearance": "99"},
        {"m{pk}-role": "member", "m{pk}-clearance": "SECRET'; DROP TABLE"},
        {},
    ],
)
def test_hostile_membership_form_changes_nothing(client, world, data):
    client.force_login(world["users"]["moderator"])
    target = _m(world, "member_open")
    before = _snapshot(world)
    payload = {k.format(pk=target.pk): v for k, v in data.items()}
    response = client.post(
        f"/spaces/{world['space'].pk}/members/{target.pk}/", payload, follow=True
    )
    assert response.status_code == 200
    assert b"valid role and clearance" in response.content
    assert _snapshot(world) == before


def test_membership_form_through_the_page(client, world):
    client.force_login(world["users"]["moderator"])
    target = _m(world, "member_open")
    response = client.post(
        f"/spaces/{world['space'].pk}/members/{target.pk}/",
        {f"m{target.pk}-role": "observer", f"m{target.pk}-clearance": "2"},
        follow=True,
    )
    assert b"Membership updated" in response.content
    target.refresh_from_db()
    assert (target.role, target.clearance) == ("observer", 2)


def test_members_page_query_count_is_constant(client, world, django_assert_max_num_queries):
    from workspace.accounts.models import User

    client.force_login(world["users"]["moderator"])
    url = f"/spaces/{world['space'].pk}/members/"
    with django_assert_max_num_queries(30):
        assert client.get(url).status_code == 200
    users = User.objects.bulk_create(
        User(email=f"bulk{i}@agency.example", display_name=f"Bulk {i}") for i in range(1000)
    )
    Membership.objects.bulk_create(
        Membership(user=u, space=world["space"], role="member", clearance=i % 4)
        for i, u in enumerate(users)
    )
    with django_assert_max_num_queries(30):
        response = client.get(url)
    assert response.status_code == 200
    assert b"bulk999@agency.example" in response.content
