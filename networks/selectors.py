"""Reads for networks: dashboards and lists. Writes live in services."""

from __future__ import annotations

from typing import Any

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
    return {"memberships": list(memberships), "invitations": list(invitations)}
