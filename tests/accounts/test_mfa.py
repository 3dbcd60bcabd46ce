"""MFA is required: setup is forced, TOTP login works, secrets are encrypted at rest."""

import pytest
from allauth.mfa.models import Authenticator

from tests.factories import PASSWORD, UserFactory
from workspace.accounts.totp import totp_code_from_secret

pytestmark = pytest.mark.django_db

MFA_SETUP = "/accounts/2fa/totp/activate/"


@pytest.mark.parametrize(
    "path", ["/", "/accounts/profile/", "/accounts/email/", "/accounts/sessions/", "/admin/"]
)
def test_user_without_mfa_reaches_only_mfa_setup(client, path):
    user = UserFactory()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 302
    assert response.url == MFA_SETUP


def test_user_without_mfa_can_open_setup_and_log_out(client):
    user = UserFactory()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert client.get(MFA_SETUP).status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


# Transactional: allauth announces a new authenticator on commit, within the request,
# and that is when the session gets its MFA mark.
@pytest.mark.django_db(transaction=True)
def test_forced_totp_setup_then_dashboard(client):
    user = UserFactory()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    page = client.get(MFA_SETUP)
    secret = page.context["form"].secret
    response = client.post(MFA_SETUP, {"code": totp_code_from_secret(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    assert client.get("/").status_code == 200


def test_totp_login_end_to_end(client):
    user = UserFactory(mfa=True)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.url == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": totp_code_from_secret(user.totp_secret)}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/").status_code == 200


def test_stored_totp_secret_is_encrypted(db):
    user = UserFactory(mfa=True)
    stored = Authenticator.objects.get(user=user, type="totp").data["secret"]
    assert stored.startswith("enc1:")
    assert user.totp_secret not in stored
    recovery = Authenticator.objects.get(user=user, type="recovery_codes").data
    assert recovery["seed"].startswith("enc1:")


def test_tampered_totp_secret_is_rejected(db):
    from workspace.accounts.adapter import MFAAdapter
    from workspace.keys import KeyUnwrapError

    user = UserFactory(mfa=True)
    stored = Authenticator.objects.get(user=user, type="totp").data["secret"]
    tampered = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
    with pytest.raises((KeyUnwrapError, ValueError)):
        MFAAdapter().decrypt(tampered)
    with pytest.raises(ValueError):
        MFAAdapter().decrypt("JBSWY3DPEHPK3PXP")  # a plaintext secret is never accepted


def test_mfa_changes_require_reauthentication(mfa_client, mfa_user):
    from datetime import timedelta

    from django.utils import timezone

    # Enrolled a day ago: past the onboarding window.
    Authenticator.objects.filter(user=mfa_user).update(
        created_at=timezone.now() - timedelta(days=1)
    )
    response = mfa_client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/reauthenticate/")
    assert Authenticator.objects.filter(user=mfa_user, type="totp").exists()


def test_last_authenticator_cannot_be_removed(client, mfa_user):
    client.post("/accounts/login/", {"login": mfa_user.email, "password": PASSWORD})
    client.post(
        "/accounts/2fa/authenticate/", {"code": totp_code_from_secret(mfa_user.totp_secret)}
    )
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert Authenticator.objects.filter(user=mfa_user, type="totp").exists()


def test_totp_removed_when_another_authenticator_exists(db):
    from workspace.accounts.adapter import MFAAdapter

    user = UserFactory(mfa=True)
    totp = Authenticator.objects.get(user=user, type="totp")
    assert not MFAAdapter().can_delete_authenticator(totp)
    Authenticator.objects.create(user=user, type="webauthn", data={"name": "key"})
    assert MFAAdapter().can_delete_authenticator(totp)


def test_last_webauthn_key_cannot_be_removed(client):
    user = UserFactory()
    key = Authenticator.objects.create(user=user, type="webauthn", data={"name": "key"})
    client.force_login(user)  # a fake key cannot pass the WebAuthn login stage
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    response = client.post(f"/accounts/2fa/webauthn/keys/{key.pk}/remove/", follow=True)
    assert b"last authenticator" in response.content
    assert Authenticator.objects.filter(pk=key.pk).exists()


def test_webauthn_key_removed_when_totp_remains(client):
    user = UserFactory(mfa=True)
    key = Authenticator.objects.create(user=user, type="webauthn", data={"name": "key"})
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": totp_code_from_secret(user.totp_secret)})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    client.post(f"/accounts/2fa/webauthn/keys/{key.pk}/remove/")
    assert not Authenticator.objects.filter(pk=key.pk).exists()


def test_other_users_webauthn_key_is_not_found(mfa_client):
    other = UserFactory(mfa=True)
    key = Authenticator.objects.create(user=other, type="webauthn", data={"name": "key"})
    assert mfa_client.post(f"/accounts/2fa/webauthn/keys/{key.pk}/remove/").status_code == 404
    assert Authenticator.objects.filter(pk=key.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_recovery_codes_right_after_enrolment_need_no_second_password(client):
    user = UserFactory()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    secret = client.get(MFA_SETUP).context["form"].secret
    client.post(MFA_SETUP, {"code": totp_code_from_secret(secret)})
    response = client.get("/accounts/2fa/recovery-codes/")
    assert response.status_code == 200


def test_later_mfa_changes_still_need_the_password(client):
    from datetime import timedelta

    from django.utils import timezone

    user = UserFactory(mfa=True)
    Authenticator.objects.filter(user=user).update(created_at=timezone.now() - timedelta(days=1))
    client.force_login(user)
    response = client.get("/accounts/2fa/recovery-codes/")
    assert response.status_code == 302 and response.url.startswith("/accounts/reauthenticate/")
