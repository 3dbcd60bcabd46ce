"""Lockout is no weapon: a stranger's failures lock the account for clients without a
device cookie, while a browser that completed MFA for the account before keeps an
allowance of its own, still limited."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.test import Client

from tests.factories import PASSWORD, UserFactory
from workspace.accounts.devices import DEVICE_COOKIE_SALT
from workspace.accounts.totp import totp_code_from_secret
from workspace.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

OWNER_IP = "198.51.100.7"
ATTACKER_IP = "203.0.113.66"
LOGIN = "/accounts/login/"
MFA_STEP = "/accounts/2fa/authenticate/"


def _code(user) -> str:  # type: ignore[no-untyped-def]
    """The current TOTP code, usable again: allauth keeps each used code in the cache,
    and the rate-limit counters there must stay, so only that marker is forgotten."""
    code = totp_code_from_secret(user.totp_secret)
    cache.delete(f"allauth.mfa.totp.used?user={user.pk}&code={code}")
    return code


def _owner_browser(user) -> Client:  # type: ignore[no-untyped-def]
    """A browser where the owner logged in with password and TOTP, then logged out."""
    browser = Client(REMOTE_ADDR=OWNER_IP)
    browser.post(LOGIN, {"login": user.email, "password": PASSWORD})
    browser.post(MFA_STEP, {"code": _code(user)})
    assert browser.session.get("_auth_user_id") == str(user.pk)
    browser.post("/accounts/logout/")
    assert "_auth_user_id" not in browser.session
    return browser


def _lock_login(user, attempts: int = 8) -> list[int]:  # type: ignore[no-untyped-def]
    attacker = Client(REMOTE_ADDR=ATTACKER_IP)
    return [
        attacker.post(LOGIN, {"login": user.email, "password": "wrong-guess!"}).status_code
        for _ in range(attempts)
    ]


def test_device_cookie_is_signed_httponly_lax_and_long_lived():
    user = UserFactory(mfa=True)
    browser = Client(REMOTE_ADDR=OWNER_IP)
    browser.post(LOGIN, {"login": user.email, "password": PASSWORD})
    response = browser.post(MFA_STEP, {"code": _code(user)})
    cookie = response.cookies[settings.WORKSPACE_DEVICE_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) >= 30 * 24 * 3600
    # Signed with a salt of its own, binding the account; a bare signature does not do.
    payload = signing.loads(cookie.value, salt=DEVICE_COOKIE_SALT)
    assert payload["u"] == [str(user.pk)]
    with pytest.raises(signing.BadSignature):
        signing.loads(cookie.value)


def test_password_only_gives_no_device_cookie():
    user = UserFactory(mfa=True)
    browser = Client(REMOTE_ADDR=OWNER_IP)
    response = browser.post(LOGIN, {"login": user.email, "password": PASSWORD})
    assert settings.WORKSPACE_DEVICE_COOKIE_NAME not in response.cookies
    assert settings.WORKSPACE_DEVICE_COOKIE_NAME not in browser.cookies


def test_stranger_locks_unknown_clients_but_not_the_owners_browser():
    user = UserFactory(mfa=True)
    browser = _owner_browser(user)
    statuses = _lock_login(user)
    assert statuses[-1] == 429
    # Another client without the cookie (a new browser) meets the account's lock.
    fresh = Client(REMOTE_ADDR=OWNER_IP)
    assert fresh.post(LOGIN, {"login": user.email, "password": PASSWORD}).status_code == 429
    # The owner's browser signs in: password, then the TOTP step.
    response = browser.post(LOGIN, {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response.url == MFA_STEP
    response = browser.post(MFA_STEP, {"code": _code(user)})
    assert response.status_code == 302
    assert browser.session.get("_auth_user_id") == str(user.pk)
    # The failures and the lock stay audited.
    assert AuditEvent.objects.filter(action="auth.login_failed").count() >= 5
    assert AuditEvent.objects.filter(action="auth.rate_limited", ip=ATTACKER_IP).exists()


def test_stolen_device_cookie_still_meets_a_limit():
    user = UserFactory(mfa=True)
    browser = _owner_browser(user)
    statuses = [
        browser.post(LOGIN, {"login": user.email, "password": "wrong-guess!"}).status_code
        for _ in range(8)
    ]
    assert statuses[0] == 200 and statuses[-1] == 429
    refused = browser.post(LOGIN, {"login": user.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert AuditEvent.objects.filter(action="auth.rate_limited", ip=OWNER_IP).exists()
    # Its failures were its own: a client without the cookie still has the account's.
    other = Client(REMOTE_ADDR=ATTACKER_IP)
    assert other.post(LOGIN, {"login": user.email, "password": PASSWORD}).status_code == 302


def test_device_cookie_of_another_account_gives_no_allowance():
    owner, victim = UserFactory(mfa=True), UserFactory(mfa=True)
    browser = _owner_browser(owner)
    _lock_login(victim)
    assert browser.post(LOGIN, {"login": victim.email, "password": PASSWORD}).status_code == 429


def test_tampered_device_cookie_gives_no_allowance():
    user = UserFactory(mfa=True)
    browser = _owner_browser(user)
    name = settings.WORKSPACE_DEVICE_COOKIE_NAME
    value = browser.cookies[name].value
    browser.cookies[name] = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    _lock_login(user)
    assert browser.post(LOGIN, {"login": user.email, "password": PASSWORD}).status_code == 429


def test_stranger_with_the_password_locks_the_totp_step_only_for_others():
    user = UserFactory(mfa=True)
    browser = _owner_browser(user)
    attacker = Client(REMOTE_ADDR=ATTACKER_IP)
    response = attacker.post(LOGIN, {"login": user.email, "password": PASSWORD})
    assert response.url == MFA_STEP
    for _ in range(7):
        page = attacker.post(MFA_STEP, {"code": "000000"})
    assert page.status_code == 200 and "_auth_user_id" not in attacker.session
    assert AuditEvent.objects.filter(action="mfa.failed").count() >= 5
    # The account's shared allowance for the TOTP step is spent ...
    fresh = Client(REMOTE_ADDR="192.0.2.9")
    fresh.post(LOGIN, {"login": user.email, "password": PASSWORD})
    locked = fresh.post(MFA_STEP, {"code": _code(user)})
    assert "_auth_user_id" not in fresh.session
    assert locked.status_code == 200
    # ... but not the owner's browser's.
    browser.post(LOGIN, {"login": user.email, "password": PASSWORD})
    response = browser.post(MFA_STEP, {"code": _code(user)})
    assert response.status_code == 302
    assert browser.session.get("_auth_user_id") == str(user.pk)


def test_wrong_codes_from_the_owners_browser_are_still_limited():
    user = UserFactory(mfa=True)
    browser = _owner_browser(user)
    browser.post(LOGIN, {"login": user.email, "password": PASSWORD})
    for _ in range(6):
        browser.post(MFA_STEP, {"code": "000000"})
    page = browser.post(MFA_STEP, {"code": _code(user)})
    assert page.status_code == 200 and "_auth_user_id" not in browser.session
    assert AuditEvent.objects.filter(action="mfa.failed").count() >= 5
