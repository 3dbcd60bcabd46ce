"""Reads for networks: dashboards and lists. Writes live in services."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone

from networks.models import Invitation, Membership, MembershipStatus


def dashboard_for(*, user: Any) -> dict[str, Any]:
    memberships = (
        Membership.objects.filter(user=user, status=MembershipStatus.ACTIVE)
        .select_related("space", "space__network")
        .order_by("space__name")
    )
    invitations = Invitation.objects.filter(
        email__iexact=user.email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("space")
    from networks.models import JoinRequest, JoinRequestStatus, Network, Role

    memberships = list(memberships)
    moderated = [m.space_id for m in memberships if m.role == Role.MODERATOR]
    requests = (
        JoinRequest.objects.filter(space_id__in=moderated, status=JoinRequestStatus.PENDING)
        .select_related("user", "space")
        .order_by("created_at")
    )
    networks = (
        Network.objects.filter(
            Q(spaces__memberships__user=user, spaces__memberships__status=MembershipStatus.ACTIVE)
            | Q(admins=user)
        )
        .distinct()
        .order_by("name")
    )
    return {
        "memberships": memberships,
        "invitations": list(invitations),
        "join_requests": list(requests),
        "networks": list(networks),
    }


def space_members(*, space_id: int) -> list[Membership]:
    """Every membership of a space with its user; one query whatever the size."""
    return list(
        Membership.objects.filter(space_id=space_id)
        .exclude(status=MembershipStatus.REMOVED)
        .select_related("user", "granted_by")
        .order_by("status", "role", "user__email")
    )


def pending_join_requests(*, space_id: int) -> list[Any]:
    from networks.models import JoinRequest, JoinRequestStatus

    return list(
        JoinRequest.objects.filter(space_id=space_id, status=JoinRequestStatus.PENDING)
        .select_related("user")
        .order_by("created_at")
    )


def directory(*, user: Any, network: Any) -> list[dict[str, Any]]:
    """Spaces the user may know about, with their own standing; constant query count."""
    from django.db.models import Count, Q

    from networks.access import spaces_visible_in_directory
    from networks.models import JoinRequest, JoinRequestStatus

    spaces = (
        spaces_visible_in_directory(user, network)
        .annotate(active_members=Count("memberships", filter=Q(memberships__status="active")))
        .order_by("name")
    )
    mine = {m.space_id: m for m in Membership.objects.filter(user=user, space__network=network)}
    pending = set(
        JoinRequest.objects.filter(
            user=user, space__network=network, status=JoinRequestStatus.PENDING
        ).values_list("space_id", flat=True)
    )
    return [
        {"space": s, "membership": mine.get(s.pk), "request_pending": s.pk in pending}
        for s in spaces
    ]


def spaces_for_user(*, user: Any, action: str = "view_space") -> Any:
    """Spaces on which the user holds the guardian grant `action`, in pk order.

    One semi-join on a plain permission pk: PostgreSQL reads the grants' ids from the
    (user, permission, object) unique index alone, already in object order, and merges
    them with the spaces' primary key (bench/bench_permissions.py).
    """
    from networks.models import Space, SpaceUserObjectPermission
    from networks.permissions import permission_id

    permission = permission_id(action)
    if permission is None:
        return Space.objects.none()
    grants = SpaceUserObjectPermission.objects.filter(
        user_id=user.pk, permission_id=permission
    ).values("content_object_id")
    return Space.objects.filter(pk__in=grants).order_by("pk")


def space_moderator_names(*, space_id: int) -> list[str]:
    """The names of a space's active moderators, for "ask a moderator" (names only: no
    address, which only moderators see on the members page); one query."""
    from networks.models import Role

    return [
        m.user.get_short_name()
        for m in Membership.objects.filter(
            space_id=space_id, role=Role.MODERATOR, status=MembershipStatus.ACTIVE
        )
        .select_related("user")
        .order_by("user__display_name", "user__email")
    ]


def ended_membership(*, user: Any, space_id: int) -> Membership | None:
    """The user's suspended or removed membership in the space, with its space, or None.

    For the page that tells a former member what happened: it names the space, so it is
    read only for the user's own membership (never for someone who was not a member)."""
    return (
        Membership.objects.filter(
            user_id=user.pk,
            space_id=space_id,
            status__in=[MembershipStatus.SUSPENDED, MembershipStatus.REMOVED],
        )
        .select_related("space")
        .first()
    )
