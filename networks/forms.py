"""Moderation forms: they parse and validate input; services enforce the rules again."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from networks.clearance import level_choices
from networks.models import MembershipStatus, Role


class ClearanceField(forms.TypedChoiceField):
    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(choices=level_choices, coerce=int, label=_("Clearance"), **kwargs)


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)
    clearance = ClearanceField()
    clearance_expires_at = forms.DateTimeField(
        label=_("Clearance expires at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class MembershipChangeForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    clearance = ClearanceField()
    clearance_expires_at = forms.DateTimeField(
        label=_("Clearance expires at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


STATUS_ACTIONS = [
    (MembershipStatus.ACTIVE, _("Reinstate")),
    (MembershipStatus.SUSPENDED, _("Suspend")),
    (MembershipStatus.REMOVED, _("Remove")),
]


class MembershipStatusForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_ACTIONS)


class JoinRequestForm(forms.Form):
    message = forms.CharField(
        label=_("Why do you want to join?"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class JoinDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("deny", _("Deny"))])
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)
    clearance = ClearanceField(initial=0)


class SpaceForm(forms.Form):
    from networks.models import JoinPolicy, Theme

    name = forms.CharField(label=_("Name"), max_length=200)
    slug = forms.SlugField(label=_("Short name (for links)"), max_length=80)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    theme = forms.ChoiceField(label=_("Working-group theme"), choices=Theme.choices)
    is_listed = forms.BooleanField(label=_("Listed in the directory"), required=False)
    join_policy = forms.ChoiceField(label=_("Join policy"), choices=JoinPolicy.choices)
