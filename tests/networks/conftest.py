"""A space populated with one user per row of the authorization matrix."""

from datetime import timedelta

import pytest
from django.utils import timezone

from networks.models import MembershipStatus, Role
from networks.services import membership_set
from tests.factories import InvitationFactory, SpaceFactory, UserFactory


@pytest.fixture
def world(db):
    space = SpaceFactory(
        is_listed=True, join_policy="request", name="Nightjar Working Group",
        description="Marker-7f3a description",
    )
    other_space = SpaceFactory(network=space.network, name="Kestrel Working Group",
                               is_listed=False)
    admin = UserFactory(mfa=True)
    space.network.admins.add(admin)

    def member(role=Role.MEMBER, clearance=0, status=MembershipStatus.ACTIVE, expires=None,
               in_space=space, mfa=True):
        user = UserFactory(mfa=mfa)
        membership_set(space=in_space, user=user, role=role, clearance=clearance, status=status,
                       clearance_expires_at=expires, acting_user=admin)
        return user

    invited = UserFactory(mfa=True)
    InvitationFactory(space=space, email=invited.email)
    users = {
        "anonymous": None,
        "no_mfa": member(mfa=False),
        "non_member": UserFactory(mfa=True),
        "invited": invited,
        "observer": member(Role.OBSERVER),
        "member_open": member(clearance=0),
        "member_restricted": member(clearance=1),
        "member_confidential": member(clearance=2),
        "member_secret": member(clearance=3),
        "member_expired": member(clearance=3, expires=timezone.now() - timedelta(minutes=1)),
        "suspended": member(clearance=2, status=MembershipStatus.SUSPENDED),
        "removed": member(clearance=2, status=MembershipStatus.REMOVED),
        "moderator": member(Role.MODERATOR, clearance=2),
        "other_moderator": member(Role.MODERATOR, clearance=3, in_space=other_space),
        "network_admin": admin,
    }
    return {"space": space, "other_space": other_space, "users": users}
