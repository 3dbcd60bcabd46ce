"""Role grants as django-guardian object permissions: the one role → permission table."""

from __future__ import annotations

from typing import Any

from django.db import connections
from guardian.shortcuts import assign_perm, remove_perm

from networks.models import Membership, MembershipStatus, Role, SpaceUserObjectPermission

ALL_SPACE_PERMISSIONS = (
    "view_space",
    "post_in_space",
    "moderate_space",
    "upload_document",
    "manage_members",
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OBSERVER: frozenset({"view_space"}),
    Role.MEMBER: frozenset({"view_space", "post_in_space", "upload_document"}),
    Role.MODERATOR: frozenset(ALL_SPACE_PERMISSIONS),
}


# {(database name, codename): Permission pk}. Permission rows are made by migrate and
# never change while the app runs; reading the pk once per process lets every grant
# check filter on a plain integer (no join to auth_permission and django_content_type,
# and for lists no InitPlan for the planner to cost). A flush or migrate (post_migrate,
# as in tests) may recreate the rows under new pks, so it empties the cache.
_PERMISSION_IDS: dict[tuple[str, str], int | None] = {}


def permission_id(codename: str, *, using: str = "default") -> int | None:
    """The pk of the `networks` space permission `codename`; None if there is none."""
    from django.contrib.auth.models import Permission

    key = (str(connections[using].settings_dict["NAME"]), codename)
    if key not in _PERMISSION_IDS:
        pk = (
            Permission.objects.using(using)
            .filter(content_type__app_label="networks", codename=codename)
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            return None  # not cached: a later migrate may create it
        _PERMISSION_IDS[key] = pk
    return _PERMISSION_IDS[key]


def forget_permission_ids(**_kwargs: Any) -> None:
    _PERMISSION_IDS.clear()


def sync_role_permissions(membership: Membership) -> None:
    """Make the user's object permissions on the space match role and status exactly."""
    wanted = (
        ROLE_PERMISSIONS[membership.role]
        if membership.status == MembershipStatus.ACTIVE
        else frozenset()
    )
    have = set(
        SpaceUserObjectPermission.objects.filter(
            user_id=membership.user_id, content_object_id=membership.space_id
        ).values_list("permission__codename", flat=True)
    )
    for codename in have - wanted:
        remove_perm(f"networks.{codename}", membership.user, membership.space)
    for codename in wanted - have:
        assign_perm(f"networks.{codename}", membership.user, membership.space)
