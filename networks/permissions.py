"""Role grants as django-guardian object permissions: the one role → permission table."""

from __future__ import annotations

from typing import Any

from django.db import connections

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
    """Make the user's object permissions on the space match role and status exactly.

    The rows guardian's `assign_perm` and `remove_perm` would write, in at most three
    queries (read, delete, insert) instead of about three per permission.
    """
    wanted_codenames = (
        ROLE_PERMISSIONS[membership.role]
        if membership.status == MembershipStatus.ACTIVE
        else frozenset()
    )
    wanted = {permission_id(codename) for codename in wanted_codenames}
    if None in wanted:  # a permission row is missing: migrations have not run
        raise RuntimeError("networks space permissions are missing; run migrate")
    rows = SpaceUserObjectPermission.objects.filter(
        user_id=membership.user_id, content_object_id=membership.space_id
    )
    have = dict(rows.values_list("permission_id", "pk"))
    stale = [pk for permission, pk in have.items() if permission not in wanted]
    if stale:
        SpaceUserObjectPermission.objects.filter(pk__in=stale).delete()
    SpaceUserObjectPermission.objects.bulk_create(
        [
            SpaceUserObjectPermission(
                user_id=membership.user_id,
                content_object_id=membership.space_id,
                permission_id=permission,
            )
            for permission in sorted(wanted - have.keys())
        ],
        ignore_conflicts=True,  # the same grant written by a concurrent sync
    )
