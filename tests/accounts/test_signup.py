"""Signup is by invitation only; invitations are signed, expiring and single use."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from networks.invitations import invitation_token
from networks.models import Membership, MembershipStatus
from tests.factories import PASSWORD, InvitationFactory, UserFactory
from workspace.accounts.models import User

pytestmark = pytest.mark.django_db


def _signup(client, email, password=PASSWORD):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": password, "password2": password}
    )


def test_signup_without_invitation_is_closed(client):
    response = client.get("/accounts/signup/")
    assert b"Sign Up Closed" in response.content or b"closed" in response.content.lower()
    _signup(client, "intruder@agency.example")
    assert not User.objects.filter(email="intruder@agency.example").exists()


def test_invited_signup_creates_membership_and_requires_verification(client):
    invitation = InvitationFactory()
    token = invitation_token(invitation)
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 200
    assert invitation.space.name.encode() in page.content
    assert client.post(f"/invitations/{token}/").url == "/accounts/signup/"

    response = _signup(client, invitation.email)
    assert response.status_code == 302
    user = User.objects.get(email=invitation.email)
    membership = Membership.objects.get(user=user, space=invitation.space)
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.role == invitation.role
    assert membership.clearance == invitation.clearance
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    # Not logged in until the email is verified.
    assert "_auth_user_id" not in client.session
    assert len(mail.outbox) == 1
    assert user.password.startswith("argon2") or user.password.startswith("md5")


def test_signup_with_other_email_than_invited_is_refused(client):
    invitation = InvitationFactory()
    client.post(f"/invitations/{invitation_token(invitation)}/")
    response = _signup(client, "someone-else@agency.example")
    assert response.status_code == 200
    assert not User.objects.filter(email="someone-else@agency.example").exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_used_invitation_is_refused(client):
    invitation = InvitationFactory()
    token = invitation_token(invitation)
    client.post(f"/invitations/{token}/")
    _signup(client, invitation.email)
    client.logout()
    second = client.get(f"/invitations/{token}/")
    assert second.status_code == 404
    _signup(client, "second@agency.example")
    assert not User.objects.filter(email="second@agency.example").exists()


def test_expired_invitation_is_refused(client):
    invitation = InvitationFactory(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"/invitations/{invitation_token(invitation)}/")
    assert response.status_code == 404
    assert invitation.space.name.encode() not in response.content


def test_invitation_expiring_after_stash_closes_signup(client):
    invitation = InvitationFactory()
    client.post(f"/invitations/{invitation_token(invitation)}/")
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    invitation.save()
    _signup(client, invitation.email)
    assert not User.objects.filter(email=invitation.email).exists()


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJpIjoxLCJuIjoieCJ9:forged:signature", "a" * 500, "%00", "..%2F..%2Fetc"],
)
def test_forged_tokens_are_refused(client, token):
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 404
    assert "workspace_invitation_token" not in client.session


def test_token_with_wrong_nonce_is_refused(client):
    from django.core import signing

    from networks.invitations import TOKEN_SALT

    invitation = InvitationFactory()
    forged = signing.dumps({"i": invitation.pk, "n": "guessed"}, salt=TOKEN_SALT)
    assert client.get(f"/invitations/{forged}/").status_code == 404


def test_unverified_email_cannot_log_in(client):
    user = UserFactory(verified=False)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert response.status_code == 302
    assert "confirm-email" in response.url


def test_email_verification_link_then_login(client):
    invitation = InvitationFactory()
    client.post(f"/invitations/{invitation_token(invitation)}/")
    _signup(client, invitation.email)
    link = re.search(r"https?://[^/]+(/accounts/confirm-email/[^\s]+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page = client.get(link.group(1))
    assert page.status_code == 200
    client.post(link.group(1))
    response = client.post("/accounts/login/", {"login": invitation.email, "password": PASSWORD})
    assert client.session.get("_auth_user_id")
    # Logged in, but without MFA: the next stop is the authenticator setup.
    assert client.get("/").url == "/accounts/2fa/totp/activate/"
    assert response.status_code == 302
