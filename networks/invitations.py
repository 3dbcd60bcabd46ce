"""Invitation tokens: signed, expiring, single use; and accepting them."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from networks.models import Invitation, Membership, MembershipStatus

TOKEN_SALT = "workspace.networks.invitation"  # noqa: S105 - a signing salt, not a secret


class InvitationInvalid(Exception):
    """The token is forged, expired, revoked or already used."""


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=TOKEN_SALT)


def invitation_link(invitation: Invitation) -> str:
    """The path of the invitation's link, its token in the fragment: a browser never
    sends a fragment, so no server, proxy log or Referer header ever holds the token."""
    return f"{reverse('invitation_accept')}#{invitation_token(invitation)}"


def token_from_input(text: str) -> str:
    """The token in what the invitation page posts: the bare token (its script reads the
    fragment), or a whole link pasted by hand, new (`…/invitations/#TOKEN`) or old
    (`…/invitations/TOKEN/`)."""
    text = text.strip()
    if "#" in text:
        return text.rsplit("#", 1)[1].strip()
    if "/invitations/" in text:
        return text.split("/invitations/", 1)[1].strip("/").split("/", 1)[0]
    return text


def _load(token: str) -> dict[str, Any]:
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        raise InvitationInvalid("forged") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("i"), int):
        raise InvitationInvalid("forged")
    return payload


def invitation_from_token(token: str, *, for_update: bool = False) -> Invitation:
    """The pending invitation the token names, or InvitationInvalid."""
    payload = _load(token)
    qs = Invitation.objects.select_related("space", "space__network")
    if for_update:
        qs = qs.select_for_update()
    invitation = qs.filter(pk=payload["i"], nonce=payload.get("n")).first()
    if invitation is None:
        raise InvitationInvalid("unknown")
    if invitation.accepted_at is not None:
        raise InvitationInvalid("used")
    if invitation.revoked_at is not None:
        raise InvitationInvalid("revoked")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid("expired")
    return invitation


@transaction.atomic
def invitation_accept_by_token(
    *, token: str, acting_user: Any, request: HttpRequest | None = None
) -> Membership:
    """Accept an invitation for `acting_user`, whose email must match; single use."""
    from workspace.audit.services import audit_record

    invitation = invitation_from_token(token, for_update=True)
    if invitation.email.lower() != acting_user.email.lower():
        raise InvitationInvalid("email-mismatch")
    now = timezone.now()
    invitation.accepted_at = now
    invitation.accepted_by = acting_user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    membership, _created = Membership.objects.update_or_create(
        user=acting_user,
        space=invitation.space,
        defaults={
            "role": invitation.role,
            "clearance": invitation.clearance,
            "clearance_expires_at": invitation.clearance_expires_at,
            "status": MembershipStatus.ACTIVE,
            "granted_by": invitation.invited_by,
        },
    )
    from networks.permissions import sync_role_permissions

    sync_role_permissions(membership)
    audit_record(
        action="invitation.accepted",
        actor=acting_user,
        request=request,
        space_id=invitation.space_id,
        target=f"invitation:{invitation.pk}",
        details={"role": invitation.role, "clearance": invitation.clearance},
    )
    return membership
