"""Role grants as django-guardian object permissions: the one role → permission table."""

from __future__ import annotations

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
