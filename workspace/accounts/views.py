"""Account views beyond allauth's: the profile page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from workspace.accounts.forms import ProfileForm
from workspace.accounts.services import profile_update


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        profile_update(
            user=request.user, acting_user=request.user, data=form.cleaned_data, request=request
        )
        messages.success(request, _("Your profile has been saved."))
        return redirect("profile_edit")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def webauthn_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """allauth's WebAuthn removal, refusing the last authenticator (MFA is required)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.webauthn.views import remove_webauthn
    from django.shortcuts import get_object_or_404

    from workspace.accounts.adapter import MFAAdapter

    authenticator = get_object_or_404(
        Authenticator, pk=pk, user=request.user, type=Authenticator.Type.WEBAUTHN
    )
    if request.method == "POST" and not MFAAdapter().can_delete_authenticator(authenticator):
        messages.error(
            request,
            _("This is your last authenticator. Add another one before removing it."),
        )
        return redirect("mfa_list_webauthn")
    return remove_webauthn(request, pk=pk)
