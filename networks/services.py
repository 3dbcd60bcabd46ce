"""Writes for networks: every change is typed, audited, and notifies after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from networks.models import JoinPolicy, Membership, MembershipStatus, Network, Role, Space, Theme
from networks.permissions import sync_role_permissions
from workspace.audit.services import audit_record


@transaction.atomic
def network_create(*, name: str, slug: str, description: str = "", acting_user: Any) -> Network:
    network = Network(name=name, slug=slug, description=description)
    network.full_clean()
    network.save()
    audit_record(action="network.created", actor=acting_user, target=f"network:{network.pk}")
    return network


@transaction.atomic
def space_create(
    *,
    network: Network,
    name: str,
    slug: str,
    description: str = "",
    theme: str = Theme.OTHER,
    is_listed: bool = True,
    join_policy: str = JoinPolicy.INVITE_ONLY,
    acting_user: Any,
) -> Space:
    space = Space(
        network=network, name=name, slug=slug, description=description, theme=theme,
        is_listed=is_listed, join_policy=join_policy,
    )
    space.full_clean()
    space.save()
    audit_record(
        action="space.created", actor=acting_user, space_id=space.pk, target=f"space:{space.pk}"
    )
    return space


@transaction.atomic
def membership_set(
    *,
    space: Space,
    user: Any,
    role: str = Role.MEMBER,
    clearance: int = 0,
    status: str = MembershipStatus.ACTIVE,
    clearance_expires_at: datetime | None = None,
    acting_user: Any,
) -> Membership:
    """Create or overwrite a membership (administrative path, used by seeding and admins)."""
    membership, _created = Membership.objects.select_for_update().get_or_create(
        user=user, space=space
    )
    membership.role = role
    membership.clearance = clearance
    membership.status = status
    membership.clearance_expires_at = clearance_expires_at
    membership.granted_by = acting_user
    membership.full_clean()
    membership.save()
    sync_role_permissions(membership)
    audit_record(
        action="membership.set", actor=acting_user, space_id=space.pk,
        target=f"membership:{membership.pk}",
        details={"user_id": user.pk, "role": role, "clearance": clearance, "status": status},
    )
    return membership
