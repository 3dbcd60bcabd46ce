"""What a moderator may not do to others or to themselves (#35 item 4).

- No one raises, extends or reinstates their own membership, administrators included.
- Changing, suspending or removing someone needs a clearance at least the target's.
- Only network admins set, change or lift a clearance's expiry.
Each refusal is a ValidationError with its own code, and changes nothing.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from networks import services
from networks.models import JoinRequest, Membership, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _m(world, key):
    return Membership.objects.get(user=world["users"][key], space=world["space"])


def _second_moderator(world, *, clearance):
    """Another active moderator, so the last-moderator rule never answers first."""
    user = UserFactory(mfa=True)
    services.membership_set(
        space=world["space"],
        user=user,
        role=Role.MODERATOR,
        clearance=clearance,
        acting_user=world["users"]["network_admin"],
    )
    return Membership.objects.get(user=user, space=world["space"])


def _refused(code, call):
    rows = list(Membership.objects.order_by("pk").values())
    with pytest.raises(ValidationError) as exc:
        call()
    assert exc.value.code == code
    assert list(Membership.objects.order_by("pk").values()) == rows


def _change(membership, actor, **changes):
    fields = {
        "role": membership.role,
        "clearance": membership.clearance,
        "clearance_expires_at": membership.clearance_expires_at,
        **changes,
    }
    return lambda: services.membership_change(membership=membership, acting_user=actor, **fields)


def test_a_moderator_cannot_clear_or_extend_their_own_expiry(world):
    own = _m(world, "moderator")
    admin = world["users"]["network_admin"]
    soon = timezone.now() + timedelta(days=2)
    services.membership_change(
        membership=own,
        role=own.role,
        clearance=own.clearance,
        clearance_expires_at=soon,
        acting_user=admin,
    )
    own.refresh_from_db()
    moderator = world["users"]["moderator"]
    _refused("expiry_admin_only", _change(own, moderator, clearance_expires_at=None))
    _refused(
        "expiry_admin_only",
        _change(own, moderator, clearance_expires_at=soon + timedelta(days=30)),
    )


def test_no_one_raises_their_own_membership(world):
    admin = world["users"]["network_admin"]
    services.membership_set(
        space=world["space"], user=admin, role=Role.MEMBER, clearance=1, acting_user=admin
    )
    own = Membership.objects.get(user=admin, space=world["space"])
    _refused("own_membership", _change(own, admin, clearance=3))
    _refused("own_membership", _change(own, admin, role=Role.MODERATOR))
    # Lowering one's own membership is allowed.
    services.membership_change(
        membership=own,
        role=Role.OBSERVER,
        clearance=0,
        clearance_expires_at=None,
        acting_user=admin,
    )


def test_no_one_reinstates_themselves(world):
    admin = world["users"]["network_admin"]
    services.membership_set(
        space=world["space"],
        user=admin,
        role=Role.MEMBER,
        clearance=1,
        status="suspended",
        acting_user=admin,
    )
    own = Membership.objects.get(user=admin, space=world["space"])
    _refused(
        "own_membership",
        lambda: services.membership_set_status(membership=own, status="active", acting_user=admin),
    )


def test_a_confidential_moderator_cannot_demote_or_remove_a_secret_moderator(world):
    secret_moderator = _second_moderator(world, clearance=3)
    confidential = world["users"]["moderator"]  # clearance 2
    _refused("target_above_own", _change(secret_moderator, confidential, role=Role.MEMBER))
    _refused("target_above_own", _change(secret_moderator, confidential, clearance=2))
    for status in ("suspended", "removed"):
        _refused(
            "target_above_own",
            lambda status=status: services.membership_set_status(
                membership=secret_moderator, status=status, acting_user=confidential
            ),
        )


def test_a_moderator_still_manages_members_at_or_below_their_clearance(world):
    moderator = world["users"]["moderator"]  # clearance 2
    target = _m(world, "member_confidential")
    services.membership_change(
        membership=target,
        role=Role.OBSERVER,
        clearance=1,
        clearance_expires_at=None,
        acting_user=moderator,
    )
    services.membership_set_status(membership=target, status="removed", acting_user=moderator)
    assert Membership.objects.get(pk=target.pk).status == "removed"


def test_a_secret_member_is_beyond_a_confidential_moderator(world):
    _refused(
        "target_above_own",
        lambda: services.membership_set_status(
            membership=_m(world, "member_secret"),
            status="suspended",
            acting_user=world["users"]["moderator"],
        ),
    )


def test_only_network_admins_set_an_expiry(world):
    target = _m(world, "member_open")
    later = timezone.now() + timedelta(days=10)
    _refused(
        "expiry_admin_only",
        _change(target, world["users"]["moderator"], clearance_expires_at=later),
    )
    with pytest.raises(ValidationError) as exc:
        services.membership_invite(
            space=world["space"],
            email="new@agency.example",
            role="member",
            clearance=0,
            clearance_expires_at=later,
            acting_user=world["users"]["moderator"],
        )
    assert exc.value.code == "expiry_admin_only"
    services.membership_change(
        membership=target,
        role=target.role,
        clearance=target.clearance,
        clearance_expires_at=later,
        acting_user=world["users"]["network_admin"],
    )
    target.refresh_from_db()
    assert target.clearance_expires_at == later
    # The same date, as a datetime-local field sends it back (to the minute), is no change.
    services.membership_change(
        membership=target,
        role=Role.OBSERVER,
        clearance=target.clearance,
        clearance_expires_at=later.replace(second=0, microsecond=0),
        acting_user=world["users"]["moderator"],
    )


def test_no_one_approves_their_own_join_request(world):
    admin = world["users"]["network_admin"]
    join_request = JoinRequest.objects.create(space=world["space"], user=admin)
    with pytest.raises(ValidationError) as exc:
        services.join_request_decide(
            join_request=join_request, approve=True, acting_user=admin, clearance=3
        )
    assert exc.value.code == "own_membership"
    assert not Membership.objects.filter(user=admin, space=world["space"]).exists()


def test_members_page_shows_expiry_read_only_to_moderators(client, world):
    client.force_login(world["users"]["moderator"])
    body = client.get(f"/spaces/{world['space'].pk}/members/").content.decode()
    assert 'name="clearance_expires_at"' not in body  # not in the invitation form
    assert "disabled" in body and "clearance_expires_at" in body
    # The row form posts back without an expiry: the current one is kept, not cleared.
    target = _m(world, "member_open")
    later = timezone.now() + timedelta(days=10)
    services.membership_change(
        membership=target,
        role=target.role,
        clearance=0,
        clearance_expires_at=later,
        acting_user=world["users"]["network_admin"],
    )
    response = client.post(
        f"/spaces/{world['space'].pk}/members/{target.pk}/",
        {f"m{target.pk}-role": "observer", f"m{target.pk}-clearance": "0"},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == "observer" and target.clearance_expires_at == later
