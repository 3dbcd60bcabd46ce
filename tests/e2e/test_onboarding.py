"""Invitation → signup → email verification → forced MFA setup → dashboard, in a browser.

Every page on the way is also checked with axe-core (no serious or critical violations).
"""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.core import mail

from networks.invitations import invitation_from_token
from networks.models import Membership, Role
from networks.services import membership_invite
from tests.e2e.helpers import assert_accessible, new_context, wait_for_mail_link
from workspace.accounts.models import User
from workspace.accounts.totp import totp_code_from_secret

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "Quiet-harbour-lantern-42"  # noqa: S105


def test_invited_signup_to_dashboard(world, daphne_server, browser, browser_log):
    space = world["space"]
    email = "new.expert@agency.example"
    invitation = membership_invite(
        space=space,
        email=email,
        role=Role.MEMBER,
        clearance=1,
        acting_user=world["users"]["moderator"],
    )
    # The invitation mail went through this process's outbox (locmem): follow its link.
    sent = [m for m in mail.outbox if email in m.to]
    assert len(sent) == 1
    path = re.search(r"/invitations/#\S+", sent[0].body).group(0)
    assert invitation_from_token(path.split("#")[1]).pk == invitation.pk
    page = new_context(browser, daphne_server, browser_log).new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    # The invitation link: anonymous, so it offers to create an account. Its token is in
    # the fragment, which the page posts; no request's URL ever carries it.
    page.goto(path)
    page.get_by_role("button", name="Create my account").wait_for()
    assert "#" not in page.url
    assert not [url for url in requests if path.split("#")[1] in url]
    assert_accessible(page)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(re.compile(r"/accounts/signup/$"))
    assert_accessible(page)
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("form button[type=submit]", has_text=re.compile("Sign up", re.I)).click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))
    assert_accessible(page)

    # The verification mail (printed by daphne's console backend); confirming is a POST.
    link = wait_for_mail_link(daphne_server, r"/accounts/confirm-email/[^/\s]+/")
    page.goto(link.replace(re.match(r"https?://[^/]+", link).group(0), daphne_server.url))
    assert_accessible(page)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))

    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    page.locator("main form button[type=submit]").click()

    # MFA is mandatory: the first page after login is the TOTP setup.
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
    assert_accessible(page)
    secret = page.input_value("#authenticator_secret")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    page.fill("#id_code", totp_code_from_secret(secret))
    page.locator("main form button[type=submit]").click()

    # Next come the recovery codes. allauth asks for the password again first (its
    # reauthentication needs an explicit re-entry, the fresh login does not count).
    page.wait_for_url(lambda url: "/2fa/totp/activate/" not in url)
    if "/accounts/reauthenticate/" in page.url:
        assert_accessible(page)
        page.fill("#id_password", PASSWORD)
        page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/recovery-codes/"))
    assert_accessible(page)
    codes = page.input_value("#recovery_codes").split()
    user = User.objects.get(email=email)
    recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    assert codes and codes == RecoveryCodes(recovery).get_unused_codes()
    page.get_by_role("link", name="Dashboard", exact=True).click()
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.get_by_role("link", name=space.name).wait_for()

    membership = Membership.objects.get(space=space, user__email=email)
    assert membership.status == "active" and membership.clearance == 1
