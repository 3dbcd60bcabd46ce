"""The access rule: the object check, the SQL filter and the batch form agree."""

from datetime import timedelta

import pytest
from django.utils import timezone

from networks.access import ItemLabels, can_see_item, delivery_memberships
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


def test_deactivated_user_is_not_delivered(world):
    user = world["users"]["member_secret"]
    user.is_active = False
    user.save()
    assert user.pk not in delivery_memberships(space_id=world["space"].pk, user_ids=[user.pk])
