"""Network views: thin; they parse, check access, call a service and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from networks import selectors, services
from networks.access import (
    Action,
    access_network_admin,
    access_space,
    clearance_in_effect,
    is_network_admin,
    user_has_completed_mfa,
)
from networks.clearance import level_name
from networks.forms import (
    InvitationForm,
    JoinDecisionForm,
    JoinRequestForm,
    MembershipChangeForm,
    MembershipStatusForm,
)
from networks.invitations import (
    InvitationInvalid,
    invitation_accept_by_token,
    invitation_from_token,
    token_from_input,
)
from networks.models import JoinRequest, Membership, Network, Space
from workspace.accounts.adapter import INVITATION_SESSION_KEY


def _invitation_invalid(request: HttpRequest) -> HttpResponse:
    request.session.pop(INVITATION_SESSION_KEY, None)
    return render(request, "networks/invitation_invalid.html", status=404)


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest) -> HttpResponse:
    """The invitation link's page. Its token comes in the link's fragment, which the page's
    script posts here (or the invitee pastes the link); it is kept in the session, so the
    signup that follows can check it and accept the invitation."""
    if request.method == "POST" and "token" in request.POST:
        token = token_from_input(request.POST["token"])[:1000]
        try:
            invitation_from_token(token)
        except InvitationInvalid:
            return _invitation_invalid(request)
        request.session[INVITATION_SESSION_KEY] = token
        return redirect("invitation_accept")

    token = request.session.get(INVITATION_SESSION_KEY)
    if not token:
        return render(request, "networks/invitation_open.html")
    try:
        invitation = invitation_from_token(token)
    except InvitationInvalid:
        return _invitation_invalid(request)

    if request.method == "POST" and not request.user.is_authenticated:
        return redirect("account_signup")
    if request.method == "POST":
        try:
            invitation_accept_by_token(token=token, acting_user=request.user, request=request)
        except InvitationInvalid:
            return _invitation_invalid(request)
        request.session.pop(INVITATION_SESSION_KEY, None)
        messages.success(request, _("You have joined %(space)s.") % {"space": invitation.space})
        return redirect("space_detail", space_id=invitation.space_id)
    return render(request, "networks/invitation_accept.html", {"invitation": invitation})


def _network_or_404(user: Any, slug: str) -> Network:
    """A network the user belongs to (any active membership) or administers."""
    network = Network.objects.filter(slug=slug).first()
    if network is None or not user_has_completed_mfa(user):
        raise Http404
    belongs = Membership.objects.filter(user=user, space__network=network, status="active").exists()
    if not belongs and not is_network_admin(user, network.pk):
        raise Http404
    return network


@login_required
def network_directory(request: HttpRequest, slug: str) -> HttpResponse:
    network = _network_or_404(request.user, slug)
    rows = selectors.directory(user=request.user, network=network)
    return render(
        request,
        "networks/directory.html",
        {
            "network": network,
            "rows": rows,
            "is_admin": is_network_admin(request.user, network.pk),
        },
    )


@login_required
def space_detail(request: HttpRequest, space_id: int) -> HttpResponse:
    membership = access_space(request.user, space_id, action=Action.VIEW)
    services.membership_touch(membership=membership)
    return render(
        request,
        "networks/space_detail.html",
        {
            "space": membership.space,
            "membership": membership,
            "clearance_name": level_name(clearance_in_effect(membership)),
            "can_moderate": request.user.has_perm("networks.manage_members", membership.space),
            "can_post": request.user.has_perm("networks.post_in_space", membership.space),
            "can_upload": request.user.has_perm("networks.upload_document", membership.space),
            "moderators": selectors.space_moderator_names(space_id=space_id),
        },
    )


def _moderation_space(user: Any, space_id: int) -> tuple[Space, Membership | None]:
    space = Space.objects.select_related("network").filter(pk=space_id).first()
    if space is not None and is_network_admin(user, space.network_id):
        return space, Membership.objects.filter(user=user, space=space).first()
    membership = access_space(user, space_id, action=Action.MANAGE_MEMBERS)
    return membership.space, membership


def _change_form(
    membership: Membership, *, may_set_expiry: bool, data: Any = None
) -> MembershipChangeForm:
    """The row form of one member; the expiry is read-only for all but network admins."""
    form = MembershipChangeForm(
        data,
        initial={
            "role": membership.role,
            "clearance": membership.clearance,
            "clearance_expires_at": membership.clearance_expires_at,
        },
        prefix=f"m{membership.pk}",
    )
    form.fields["clearance_expires_at"].disabled = not may_set_expiry
    return form


def _invitation_form(*, may_set_expiry: bool, data: Any = None) -> InvitationForm:
    form = InvitationForm(data)
    if not may_set_expiry:
        del form.fields["clearance_expires_at"]
    return form


@login_required
def space_members(request: HttpRequest, space_id: int) -> HttpResponse:
    space, own = _moderation_space(request.user, space_id)
    is_admin = is_network_admin(request.user, space.network_id)
    members = selectors.space_members(space_id=space.pk)
    return render(
        request,
        "networks/members.html",
        {
            "space": space,
            "own": own,
            "members": members,
            "join_requests": selectors.pending_join_requests(space_id=space.pk),
            "invite_form": _invitation_form(may_set_expiry=is_admin),
            "decision_form": JoinDecisionForm(),
            "change_forms": {m.pk: _change_form(m, may_set_expiry=is_admin) for m in members},
        },
    )


def _form_error(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


def _members_redirect(space_id: int) -> HttpResponse:
    return redirect("space_members", space_id=space_id)


@login_required
@require_POST
def space_invite(request: HttpRequest, space_id: int) -> HttpResponse:
    space, _own = _moderation_space(request.user, space_id)
    form = _invitation_form(
        may_set_expiry=is_network_admin(request.user, space.network_id), data=request.POST
    )
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _members_redirect(space.pk)
    try:
        services.membership_invite(
            space=space, acting_user=request.user, request=request, **form.cleaned_data
        )
    except ValidationError as exc:
        _form_error(request, exc)
    else:
        messages.success(
            request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]}
        )
    return _members_redirect(space.pk)


def _membership_in(space: Space, membership_id: int) -> Membership:
    # Scoped to the space in the URL: another space's member id is simply not found.
    return get_object_or_404(Membership, pk=membership_id, space=space)


@login_required
@require_POST
def membership_change(request: HttpRequest, space_id: int, membership_id: int) -> HttpResponse:
    space, _own = _moderation_space(request.user, space_id)
    membership = _membership_in(space, membership_id)
    form = _change_form(
        membership,
        may_set_expiry=is_network_admin(request.user, space.network_id),
        data=request.POST,
    )
    if not form.is_valid():
        messages.error(request, _("Please choose a valid role and clearance."))
        return _members_redirect(space.pk)
    try:
        services.membership_change(
            membership=membership, acting_user=request.user, request=request, **form.cleaned_data
        )
    except ValidationError as exc:
        _form_error(request, exc)
    else:
        messages.success(request, _("Membership updated."))
    return _members_redirect(space.pk)


@login_required
@require_POST
def membership_status(request: HttpRequest, space_id: int, membership_id: int) -> HttpResponse:
    space, _own = _moderation_space(request.user, space_id)
    membership = _membership_in(space, membership_id)
    form = MembershipStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown status."))
        return _members_redirect(space.pk)
    try:
        services.membership_set_status(
            membership=membership,
            status=form.cleaned_data["status"],
            acting_user=request.user,
            request=request,
        )
    except ValidationError as exc:
        _form_error(request, exc)
    else:
        messages.success(request, _("Membership updated."))
    return _members_redirect(space.pk)


@login_required
@require_POST
def join_request_decide(request: HttpRequest, space_id: int, request_id: int) -> HttpResponse:
    space, _own = _moderation_space(request.user, space_id)
    join_request = get_object_or_404(JoinRequest, pk=request_id, space=space)
    form = JoinDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please choose a valid decision, role and clearance."))
        return _members_redirect(space.pk)
    try:
        services.join_request_decide(
            join_request=join_request,
            approve=form.cleaned_data["decision"] == "approve",
            role=form.cleaned_data["role"],
            clearance=form.cleaned_data["clearance"],
            acting_user=request.user,
            request=request,
        )
    except ValidationError as exc:
        _form_error(request, exc)
    return _members_redirect(space.pk)


@login_required
@require_POST
def join_request_create(request: HttpRequest, space_id: int) -> HttpResponse:
    if not user_has_completed_mfa(request.user):
        raise PermissionDenied
    space = Space.objects.select_related("network").filter(pk=space_id, is_listed=True).first()
    if space is None:
        raise Http404  # unlisted or unknown: indistinguishable
    _network_or_404(request.user, space.network.slug)
    form = JoinRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Your message is too long."))
    else:
        try:
            services.join_request_create(
                space=space,
                acting_user=request.user,
                request=request,
                message=form.cleaned_data["message"],
            )
        except ValidationError as exc:
            _form_error(request, exc)
        else:
            messages.success(request, _("Your request has been sent to the moderators."))
    return redirect("network_directory", slug=space.network.slug)


@login_required
@require_http_methods(["GET", "POST"])
def space_create(request: HttpRequest, slug: str) -> HttpResponse:
    from networks.forms import SpaceForm

    network = Network.objects.filter(slug=slug).first()
    if network is None:
        raise Http404
    try:
        access_network_admin(request.user, network.pk)
    except PermissionDenied:
        raise Http404 from None  # as for a missing network: the slug is no oracle
    form = SpaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            space = services.space_create(
                network=network, acting_user=request.user, check_admin=True, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Space created."))
            return redirect("space_members", space_id=space.pk)
    return render(request, "networks/space_form.html", {"network": network, "form": form})
