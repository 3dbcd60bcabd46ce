"""Network views: thin; they parse, check access, call a service and render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from networks.invitations import (
    InvitationInvalid,
    invitation_accept_by_token,
    invitation_from_token,
)
from workspace.accounts.adapter import INVITATION_SESSION_KEY



@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation email. Anonymous: stash the token, go to signup."""
    try:
        invitation = invitation_from_token(token)
    except InvitationInvalid:
        request.session.pop(INVITATION_SESSION_KEY, None)
        return render(request, "networks/invitation_invalid.html", status=404)

    if not request.user.is_authenticated:
        request.session[INVITATION_SESSION_KEY] = token
        if request.method == "POST":
            return redirect("account_signup")
        return render(request, "networks/invitation_accept.html", {"invitation": invitation})

    if request.method == "POST":
        try:
            invitation_accept_by_token(token=token, acting_user=request.user, request=request)
        except InvitationInvalid:
            return render(request, "networks/invitation_invalid.html", status=404)
        messages.success(request, _("You have joined %(space)s.") % {"space": invitation.space})
        return redirect("home")
    return render(request, "networks/invitation_accept.html", {"invitation": invitation})
