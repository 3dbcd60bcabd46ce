"""Grant checks filter on permission pks read once per process; a migrate or flush
(post_migrate) forgets them, since the rows may come back under new pks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db.models.signals import post_migrate

from networks import permissions
from networks.permissions import permission_id

pytestmark = pytest.mark.django_db


def test_the_pk_is_read_once_and_matches_the_row(django_assert_num_queries):
    permissions.forget_permission_ids()
    with django_assert_num_queries(1):
        first = permission_id("view_space")
    with django_assert_num_queries(0):
        assert permission_id("view_space") == first
    assert first == Permission.objects.get(
        content_type__app_label="networks", codename="view_space"
    ).pk


def test_an_unknown_codename_is_none_lists_nothing_and_is_not_kept(world):
    from networks.selectors import spaces_for_user

    assert permission_id("no_such_permission") is None
    assert all(key[1] != "no_such_permission" for key in permissions._PERMISSION_IDS)
    assert not spaces_for_user(user=world["users"]["moderator"], action="no_such_permission")
    assert list(spaces_for_user(user=world["users"]["moderator"])) == [world["space"]]


def test_post_migrate_forgets_them(world):
    from django.apps import apps

    from networks.access import access_space

    permission_id("view_space")
    assert permissions._PERMISSION_IDS
    config = apps.get_app_config("networks")
    post_migrate.send(sender=config, app_config=config, verbosity=0, interactive=False,
                      using="default", apps=apps, plan=[])
    assert not permissions._PERMISSION_IDS
    # A recreated row under a new pk is found, and grants follow it.
    row = Permission.objects.get(content_type__app_label="networks", codename="view_space")
    assert permission_id("view_space") == row.pk
    assert access_space(world["users"]["member_open"], world["space"].pk)
