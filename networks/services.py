"""Writes for networks: every change is typed, audited, and notifies after commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from networks.access import (
    Action,
    access_space,
    can_grant_clearance,
    clearance_in_effect,
    is_network_admin,
)
from networks.clearance import validate_level
from networks.models import (
    Invitation,
    JoinPolicy,
    JoinRequest,
    JoinRequestStatus,
    Membership,
    MembershipStatus,
    Network,
    Role,
    Space,
    Theme,
)
from networks.permissions import sync_role_permissions
from workspace.audit.services import audit_record
from workspace.notifications import services as notifications
from workspace.realtime import notify_user_on_commit

INVITATION_LIFETIME = timedelta(days=14)


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
    check_admin: bool = False,
) -> Space:
    if check_admin and not is_network_admin(acting_user, network.pk):
        raise PermissionDenied
    space = Space(
        network=network,
        name=name,
        slug=slug,
        description=description,
        theme=theme,
        is_listed=is_listed,
        join_policy=join_policy,
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
    """Create or overwrite a membership (seeding and network admins' appointments)."""
    _validate_role_and_clearance(role, clearance)
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
        action="membership.set",
        actor=acting_user,
        space_id=space.pk,
        target=f"membership:{membership.pk}",
        details={"user_id": user.pk, "role": role, "clearance": clearance, "status": status},
    )
    notify_user_on_commit(user.pk, reason="membership.changed", space_id=space.pk)
    return membership


# --- Moderation -----------------------------------------------------------------


def _authority(acting_user: Any, space: Space) -> Membership | None:
    """The acting moderator's membership, or None for a network admin; else denied."""
    if is_network_admin(acting_user, space.network_id):
        return None
    return access_space(acting_user, space.pk, action=Action.MANAGE_MEMBERS)


def _validate_role_and_clearance(role: str, clearance: int) -> None:
    if role not in Role.values:
        raise ValidationError(_("Unknown role."), code="unknown_role")
    if not isinstance(clearance, int) or isinstance(clearance, bool):
        raise ValidationError(_("Unknown clearance level."), code="unknown_level")
    validate_level(clearance)


def _check_grant(authority: Membership | None, clearance: int) -> None:
    if not can_grant_clearance(authority, clearance):
        raise ValidationError(
            _("You cannot grant a clearance above your own."), code="clearance_above_own"
        )


# Roles by the power they carry, for "no one raises their own membership".
_ROLE_RANK = {Role.OBSERVER: 0, Role.MEMBER: 1, Role.MODERATOR: 2}
# Expiry dates are entered to the minute (datetime-local): compare them so.
_EXPIRY_RESOLUTION = timedelta(minutes=1)


def _same_expiry(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < _EXPIRY_RESOLUTION


def _extends(current: datetime | None, new: datetime | None) -> bool:
    """`new` lets a clearance run longer than `current` (None never ends)."""
    if _same_expiry(current, new):
        return False
    return new is None or (current is not None and new > current)


def _check_authority_over(authority: Membership | None, membership: Membership) -> None:
    """A moderator changes only members whose clearance is at most their own in effect."""
    if authority is not None and clearance_in_effect(authority) < membership.clearance:
        raise ValidationError(
            _("You cannot change a member whose clearance is above your own."),
            code="target_above_own",
        )


def _check_expiry_change(
    authority: Membership | None, current: datetime | None, new: datetime | None
) -> None:
    """Only network admins set, change or lift a clearance's expiry."""
    if authority is not None and not _same_expiry(current, new):
        raise ValidationError(
            _("Only a network administrator can set or extend a clearance's expiry."),
            code="expiry_admin_only",
        )


def _check_not_raising_self(
    membership: Membership,
    acting_user: Any,
    *,
    role: str,
    clearance: int,
    status: str,
    expires: datetime | None,
) -> None:
    """No one raises, extends or reinstates their own membership, administrators included."""
    if membership.user_id != getattr(acting_user, "pk", None):
        return
    raises = (
        _ROLE_RANK[Role(role)] > _ROLE_RANK[Role(membership.role)]
        or clearance > membership.clearance
        or _extends(membership.clearance_expires_at, expires)
        or (status == MembershipStatus.ACTIVE and membership.status != MembershipStatus.ACTIVE)
    )
    if raises:
        raise ValidationError(
            _(
                "You cannot raise, extend or reinstate your own membership; ask another "
                "moderator or a network administrator."
            ),
            code="own_membership",
        )


def _active_moderators(space: Space) -> int:
    return Membership.objects.filter(
        space=space, role=Role.MODERATOR, status=MembershipStatus.ACTIVE
    ).count()


def _check_not_last_moderator(membership: Membership, *, new_role: str, new_status: str) -> None:
    stays = new_role == Role.MODERATOR and new_status == MembershipStatus.ACTIVE
    was = membership.role == Role.MODERATOR and membership.status == MembershipStatus.ACTIVE
    if was and not stays and _active_moderators(membership.space) <= 1:
        raise ValidationError(
            _("A space needs at least one moderator; appoint another one first."),
            code="last_moderator",
        )


@transaction.atomic
def membership_invite(
    *,
    space: Space,
    email: str,
    role: str,
    clearance: int,
    clearance_expires_at: datetime | None = None,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Invitation:
    authority = _authority(acting_user, space)
    _validate_role_and_clearance(role, clearance)
    _check_grant(authority, clearance)
    _check_expiry_change(authority, None, clearance_expires_at)
    email = email.strip().lower()
    if email == str(getattr(acting_user, "email", "")).strip().lower():
        raise ValidationError(
            _("You cannot invite yourself; ask another moderator or a network administrator."),
            code="own_membership",
        )
    if Membership.objects.filter(
        space=space, user__email__iexact=email, status=MembershipStatus.ACTIVE
    ).exists():
        raise ValidationError(_("This person is already an active member."), code="already_member")
    invitation = Invitation(
        space=space,
        email=email,
        role=role,
        clearance=clearance,
        clearance_expires_at=clearance_expires_at,
        invited_by=acting_user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    invitation.full_clean()
    invitation.save()
    audit_record(
        action="invitation.sent",
        actor=acting_user,
        request=request,
        space_id=space.pk,
        target=f"invitation:{invitation.pk}",
        details={"email": email, "role": role, "clearance": clearance},
    )
    transaction.on_commit(lambda: _send_invitation_email(invitation, request))
    notifications.invitation_sent(invitation=invitation)
    return invitation


def _send_invitation_email(invitation: Invitation, request: HttpRequest | None) -> None:
    from networks.invitations import invitation_link

    path = invitation_link(invitation)
    link = request.build_absolute_uri(path) if request is not None else path
    context = {"invitation": invitation, "link": link}
    send_mail(
        subject=render_to_string("networks/email/invitation_subject.txt", context).strip(),
        message=render_to_string("networks/email/invitation_message.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def membership_change(
    *,
    membership: Membership,
    role: str,
    clearance: int,
    clearance_expires_at: datetime | None,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Membership:
    """Change role and clearance; refuses grants above one's own and demoting the last moderator."""
    membership = (
        Membership.objects.select_for_update().select_related("space").get(pk=membership.pk)
    )
    authority = _authority(acting_user, membership.space)
    _validate_role_and_clearance(role, clearance)
    _check_authority_over(authority, membership)
    _check_grant(authority, clearance)
    if membership.status not in (MembershipStatus.ACTIVE, MembershipStatus.SUSPENDED):
        raise ValidationError(_("This membership is not current."), code="not_current")
    _check_expiry_change(authority, membership.clearance_expires_at, clearance_expires_at)
    _check_not_raising_self(
        membership,
        acting_user,
        role=role,
        clearance=clearance,
        status=membership.status,
        expires=clearance_expires_at,
    )
    _check_not_last_moderator(membership, new_role=role, new_status=membership.status)
    before = {
        "role": membership.role,
        "clearance": clearance_in_effect(membership),
        "expires": membership.clearance_expires_at.isoformat()
        if membership.clearance_expires_at
        else None,
    }
    if _same_expiry(membership.clearance_expires_at, clearance_expires_at):
        clearance_expires_at = membership.clearance_expires_at  # as a form sends it back
    membership.role = role
    membership.clearance = clearance
    membership.clearance_expires_at = clearance_expires_at
    membership.granted_by = acting_user
    membership.full_clean()
    membership.save()
    sync_role_permissions(membership)
    audit_record(
        action="membership.changed",
        actor=acting_user,
        request=request,
        space_id=membership.space_id,
        target=f"membership:{membership.pk}",
        details={
            "user_id": membership.user_id,
            "before": before,
            "after": {
                "role": role,
                "clearance": clearance,
                "expires": clearance_expires_at.isoformat() if clearance_expires_at else None,
            },
        },
    )
    notify_user_on_commit(
        membership.user_id, reason="membership.changed", space_id=membership.space_id
    )
    return membership


@transaction.atomic
def membership_set_status(
    *,
    membership: Membership,
    status: str,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Membership:
    """Suspend, remove or reinstate a member; a suspended or removed member loses every grant."""
    if status not in (
        MembershipStatus.ACTIVE,
        MembershipStatus.SUSPENDED,
        MembershipStatus.REMOVED,
    ):
        raise ValidationError(_("Unknown status."), code="unknown_status")
    membership = (
        Membership.objects.select_for_update().select_related("space").get(pk=membership.pk)
    )
    authority = _authority(acting_user, membership.space)
    _check_authority_over(authority, membership)
    _check_not_raising_self(
        membership,
        acting_user,
        role=membership.role,
        clearance=membership.clearance,
        status=status,
        expires=membership.clearance_expires_at,
    )
    _check_not_last_moderator(membership, new_role=membership.role, new_status=status)
    previous = membership.status
    membership.status = status
    membership.save(update_fields=["status", "updated_at"])
    sync_role_permissions(membership)
    audit_record(
        action=f"membership.{status}",
        actor=acting_user,
        request=request,
        space_id=membership.space_id,
        target=f"membership:{membership.pk}",
        details={"user_id": membership.user_id, "from": previous},
    )
    notify_user_on_commit(
        membership.user_id, reason=f"membership.{status}", space_id=membership.space_id
    )
    return membership


@transaction.atomic
def join_request_create(
    *, space: Space, acting_user: Any, message: str = "", request: HttpRequest | None = None
) -> JoinRequest:
    from networks.access import user_has_completed_mfa

    if not user_has_completed_mfa(acting_user):
        raise PermissionDenied
    if not space.is_listed or space.join_policy != JoinPolicy.BY_REQUEST:
        # An unlisted space answers exactly like a space that does not exist.
        raise ValidationError(_("This space does not accept join requests."), code="no_requests")
    existing = Membership.objects.filter(space=space, user=acting_user).first()
    if existing and existing.status in (
        MembershipStatus.ACTIVE,
        MembershipStatus.SUSPENDED,
        MembershipStatus.REMOVED,
    ):
        raise ValidationError(_("You cannot request to join this space."), code="not_allowed")
    if JoinRequest.objects.filter(
        space=space, user=acting_user, status=JoinRequestStatus.PENDING
    ).exists():
        raise ValidationError(_("Your request is already pending."), code="pending")
    join_request = JoinRequest(space=space, user=acting_user, message=message[:2000])
    join_request.full_clean()
    join_request.save()
    audit_record(
        action="join_request.created",
        actor=acting_user,
        request=request,
        space_id=space.pk,
        target=f"join_request:{join_request.pk}",
    )
    notifications.join_requested(join_request=join_request)
    return join_request


@transaction.atomic
def join_request_decide(
    *,
    join_request: JoinRequest,
    approve: bool,
    acting_user: Any,
    role: str = Role.MEMBER,
    clearance: int = 0,
    request: HttpRequest | None = None,
) -> JoinRequest:
    join_request = (
        JoinRequest.objects.select_for_update().select_related("space").get(pk=join_request.pk)
    )
    authority = _authority(acting_user, join_request.space)
    if join_request.status != JoinRequestStatus.PENDING:
        raise ValidationError(_("This request has already been decided."), code="decided")
    if approve and join_request.user_id == getattr(acting_user, "pk", None):
        raise ValidationError(
            _(
                "You cannot approve your own request; ask another moderator or a network "
                "administrator."
            ),
            code="own_membership",
        )
    if approve:
        _validate_role_and_clearance(role, clearance)
        _check_grant(authority, clearance)
    join_request.status = JoinRequestStatus.APPROVED if approve else JoinRequestStatus.DENIED
    join_request.decided_by = acting_user
    join_request.decided_at = timezone.now()
    join_request.save()
    if approve:
        membership, _created = Membership.objects.update_or_create(
            user=join_request.user,
            space=join_request.space,
            defaults={
                "role": role,
                "clearance": clearance,
                "status": MembershipStatus.ACTIVE,
                "granted_by": acting_user,
                "clearance_expires_at": None,
            },
        )
        sync_role_permissions(membership)
        notify_user_on_commit(
            join_request.user_id, reason="membership.changed", space_id=join_request.space_id
        )
    audit_record(
        action="join_request.approved" if approve else "join_request.denied",
        actor=acting_user,
        request=request,
        space_id=join_request.space_id,
        target=f"join_request:{join_request.pk}",
        details={"user_id": join_request.user_id, "role": role, "clearance": clearance}
        if approve
        else {"user_id": join_request.user_id},
    )
    return join_request


LAST_SEEN_GRANULARITY = timedelta(minutes=5)


def membership_touch(*, membership: Membership) -> None:
    """Record that the member looked at the space (at most one write per 5 minutes)."""
    now = timezone.now()
    Membership.objects.filter(pk=membership.pk).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - LAST_SEEN_GRANULARITY)
    ).update(last_seen_at=now)
