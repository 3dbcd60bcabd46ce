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


def _open(client, token):
    """What the invitation page does with the link's fragment: post the token, follow."""
    return client.post("/invitations/", {"token": token}, follow=True)


def _stash(client, token):
    """Open the link, then press "Create my account" (anonymous): on to signup."""
    _open(client, token)
    return client.post("/invitations/")


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
    page = _open(client, token)
    assert page.status_code == 200
    assert invitation.space.name.encode() in page.content
    assert client.post("/invitations/").url == "/accounts/signup/"

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
    _stash(client, invitation_token(invitation))
    response = _signup(client, "someone-else@agency.example")
    assert response.status_code == 200
    assert not User.objects.filter(email="someone-else@agency.example").exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_used_invitation_is_refused(client):
    invitation = InvitationFactory()
    token = invitation_token(invitation)
    _stash(client, token)
    _signup(client, invitation.email)
    client.logout()
    second = _open(client, token)
    assert second.status_code == 404
    _signup(client, "second@agency.example")
    assert not User.objects.filter(email="second@agency.example").exists()


def test_expired_invitation_is_refused(client):
    invitation = InvitationFactory(expires_at=timezone.now() - timedelta(seconds=1))
    response = _open(client, invitation_token(invitation))
    assert response.status_code == 404
    assert invitation.space.name.encode() not in response.content


def test_invitation_expiring_after_stash_closes_signup(client):
    invitation = InvitationFactory()
    _stash(client, invitation_token(invitation))
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    invitation.save()
    _signup(client, invitation.email)
    assert not User.objects.filter(email=invitation.email).exists()


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJpIjoxLCJuIjoieCJ9:forged:signature", "a" * 500, "%00", "..%2F..%2Fetc"],
)
def test_forged_tokens_are_refused(client, token):
    response = _open(client, token)
    assert response.status_code == 404
    assert "workspace_invitation_token" not in client.session


def test_the_link_keeps_its_token_out_of_the_path(client, settings):
    """The token travels in the fragment: the e-mailed link's path, which servers and
    proxies log, holds none of it; the page posts it, and then the session keeps it."""
    from networks import services

    invitation = InvitationFactory()
    services._send_invitation_email(invitation, None)
    link = re.search(r"\S*/invitations/\S*", mail.outbox[-1].body).group(0)
    path, _hash, fragment = link.partition("#")
    assert path == "/invitations/" and fragment == invitation_token(invitation)
    page = client.get(path)
    assert page.status_code == 200 and b"invitation.js" in page.content
    assert invitation.space.name.encode() not in page.content
    posted = client.post(path, {"token": fragment})
    assert posted.status_code == 302 and posted.url == "/invitations/"
    assert fragment not in posted.url
    assert invitation.space.name.encode() in client.get(path).content


@pytest.mark.parametrize("form", ["{base}#{token}", "{base}{token}/", " {token} "])
def test_a_pasted_link_opens_the_invitation(client, form):
    invitation = InvitationFactory()
    token = invitation_token(invitation)
    pasted = form.format(base="https://workspace.example.org/invitations/", token=token)
    assert invitation.space.name.encode() in _open(client, pasted).content


def test_the_old_path_link_is_gone(client):
    invitation = InvitationFactory()
    assert client.get(f"/invitations/{invitation_token(invitation)}/").status_code == 404


def test_token_with_wrong_nonce_is_refused(client):
    from django.core import signing

    from networks.invitations import TOKEN_SALT

    invitation = InvitationFactory()
    forged = signing.dumps({"i": invitation.pk, "n": "guessed"}, salt=TOKEN_SALT)
    assert _open(client, forged).status_code == 404


def test_unverified_email_cannot_log_in(client):
    user = UserFactory(verified=False)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert response.status_code == 302
    assert "confirm-email" in response.url


def test_email_verification_link_then_login(client):
    invitation = InvitationFactory()
    _stash(client, invitation_token(invitation))
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
