"""Profile form: the expert's public details; the MFA step's form, with device allowances."""

from __future__ import annotations

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core import context
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.base.forms import AuthenticateForm
from allauth.mfa.models import Authenticator
from django import forms
from django.conf import global_settings
from django.utils.translation import gettext_lazy as _

from workspace.accounts.devices import device_attempt, device_rate_key, device_succeeded
from workspace.accounts.models import User

# Working languages of the programme's experts: the EU's official languages, the
# languages of Latin America and the Caribbean covered by Django, and a few others
# common in cooperation work. Names come (translated) from Django's own catalogues.
PROFILE_LANGUAGES = {
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "it",
    "lt", "lv", "nl", "pl", "pt", "ro", "sk", "sl", "sv", "ar", "ca", "eu", "gl", "ru",
    "tr", "uk",
}
LANGUAGE_CHOICES = [
    (code, name) for code, name in global_settings.LANGUAGES if code in PROFILE_LANGUAGES
]


class ProfileForm(forms.ModelForm):
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=LANGUAGE_CHOICES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = User
        fields = ["display_name", "organisation", "country", "languages", "expertise"]
        widgets = {"expertise": forms.Textarea(attrs={"rows": 4})}


class MFAAuthenticateForm(AuthenticateForm):
    """allauth's MFA step (a TOTP or recovery code), where a browser holding a device
    cookie for the account has its own allowance of wrong codes
    (workspace.accounts.devices); any other client shares the account's, as in allauth."""

    def clean_code(self) -> str:
        request = context.request
        key = device_rate_key(request, user_id=self.user.pk)
        if key is None:
            return super().clean_code()
        if not device_attempt(request, key=key):
            raise get_account_adapter().validation_error("too_many_login_attempts")
        # allauth's own check, with the browser's allowance in place of the account's.
        code = self.cleaned_data["code"]
        main_auth: Authenticator | None = None
        for auth in Authenticator.objects.filter(user=self.user).exclude(
            type=Authenticator.Type.WEBAUTHN  # a security key has no code to type
        ):
            if not main_auth or auth.type == Authenticator.Type.TOTP:
                main_auth = auth  # failures are reported against the main authenticator
            if auth.wrap().validate_code(code):
                auth.user = self.user
                self.authenticator = auth
                device_succeeded(request, key=key)
                return code
        if main_auth:
            self._emit_authentication_failed(main_auth)
        raise get_mfa_adapter().validation_error("incorrect_code")
