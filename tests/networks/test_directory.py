"""The directory: unlisted spaces are invisible to non-members; constant query count."""

import pytest

from networks.services import membership_set, space_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_unlisted_space_is_invisible_to_non_members(client, world):
    client.force_login(world["users"]["member_open"])
    body = client.get(f"/networks/{world['space'].network.slug}/").content.decode()
    assert "Nightjar Working Group" in body
    assert "Kestrel" not in body  # no title
    client.force_login(world["users"]["other_moderator"])
    assert "Kestrel" in client.get(f"/networks/{world['space'].network.slug}/").content.decode()


def test_join_request_to_unlisted_space_is_404(client, world):
    client.force_login(world["users"]["member_open"])
    response = client.post(f"/spaces/{world['other_space'].pk}/join/", {"message": "x"})
    assert response.status_code == 404
    assert b"Kestrel" not in response.content


def test_join_request_message_too_long_changes_nothing(client, world):
    from networks.models import JoinRequest

    client.force_login(world["users"]["other_moderator"])
    client.post(f"/spaces/{world['space'].pk}/join/", {"message": "x" * 5000})
    assert not JoinRequest.objects.exists()


def test_directory_query_count_is_constant(client, world, django_assert_max_num_queries):
    client.force_login(world["users"]["member_open"])
    url = f"/networks/{world['space'].network.slug}/"
    with django_assert_max_num_queries(25):
        client.get(url)
    admin = world["users"]["network_admin"]
    from networks.models import Membership
    from workspace.accounts.models import User

    users = User.objects.bulk_create(User(email=f"dir{i}@agency.example") for i in range(1000))
    for i in range(15):
        space = space_create(
            network=world["space"].network, name=f"Group {i}", slug=f"g-{i}", acting_user=admin
        )
        membership_set(space=space, user=UserFactory(), acting_user=admin)
    Membership.objects.bulk_create(
        Membership(user=u, space=world["space"], role="member") for u in users
    )
    with django_assert_max_num_queries(25):
        assert client.get(url).status_code == 200


def test_network_admin_creates_space(client, world):
    client.force_login(world["users"]["network_admin"])
    url = f"/networks/{world['space'].network.slug}/spaces/new/"
    bad = client.post(
        url, {"name": "", "slug": "not a slug!", "theme": "nope", "join_policy": "request"}
    )
    assert bad.status_code == 200 and bad.context["form"].errors
    ok = client.post(
        url,
        {
            "name": "Ports Group",
            "slug": "ports",
            "theme": "intel",
            "join_policy": "request",
            "is_listed": "on",
        },
    )
    assert ok.status_code == 302
    from workspace.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="space.created").exists()


def test_spaces_for_user_follows_grants(world):
    from networks.selectors import spaces_for_user

    space = world["space"]
    assert list(spaces_for_user(user=world["users"]["member_open"])) == [space]
    assert list(spaces_for_user(user=world["users"]["suspended"])) == []
    assert list(spaces_for_user(user=world["users"]["observer"], action="post_in_space")) == []
    assert list(spaces_for_user(user=world["users"]["moderator"], action="manage_members")) == [
        space
    ]


def test_network_admin_sees_unlisted_spaces(client, world):
    client.force_login(world["users"]["network_admin"])
    assert "Kestrel" in client.get(f"/networks/{world['space'].network.slug}/").content.decode()


def test_visiting_a_space_records_last_seen(client, world):
    from networks.models import Membership

    user = world["users"]["member_open"]
    client.force_login(user)
    client.get(f"/spaces/{world['space'].pk}/")
    seen = Membership.objects.get(user=user, space=world["space"]).last_seen_at
    assert seen is not None
    client.get(f"/spaces/{world['space'].pk}/")  # within 5 minutes: no second write
    assert Membership.objects.get(user=user, space=world["space"]).last_seen_at == seen
