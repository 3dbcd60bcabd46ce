"""`handlers.handshake_users`: the socket handshake's batched session and user lookup.

It must refuse every session Channels' `get_user` and the socket's own session check
refuse, and read a whole batch in two queries."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.test import Client

from messaging import handlers
from tests.factories import UserFactory
from workspace.accounts.receivers import SESSION_LOGIN_AT

pytestmark = pytest.mark.django_db


def _login(user) -> str:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client.session.session_key


def _edit_session(key: str, **changes) -> None:  # type: ignore[no-untyped-def]
    store = import_module(settings.SESSION_ENGINE).SessionStore(key)
    store.load()
    for name, value in changes.items():
        if value is None:
            store.pop(name, None)
        else:
            store[name] = value
    store.save()


def test_a_batch_is_read_in_two_queries(django_assert_num_queries):
    users = [UserFactory(mfa=i % 2 == 0) for i in range(6)]
    keys = [_login(user) for user in users]
    asked = [*keys, "nosuchsessionkeyatall00000000000", keys[0]]
    with django_assert_num_queries(2):
        found = handlers.handshake_users(None, asked)
    assert [u.pk if u else None for u in found] == [u.pk for u in users] + [None, users[0].pk]
    mfa = [u.__dict__[handlers.MFA_WITH_USER_ATTR] for u in found if u is not None]
    assert mfa == [True, False, True, False, True, False, True]
    assert found[0] is not found[-1]  # each socket its own user object


def test_an_unknown_session_costs_one_query_and_no_user_read(django_assert_num_queries):
    with django_assert_num_queries(1):  # the sessions; no user to read
        assert handlers.handshake_users(None, ["nosuchsessionkeyatall00000000000"]) == [None]


@pytest.mark.parametrize(
    "spoil",
    [
        "password_changed",
        "account_disabled",
        "login_too_old",
        "no_login_time",
        "unknown_backend",
        "no_backend",
        "user_id_not_a_number",
        "another_users_id",
        "session_expired",
    ],
)
def test_every_refused_session_gives_no_user(spoil):
    user = UserFactory(mfa=True)
    other = UserFactory(mfa=True)
    key = _login(user)
    assert handlers.handshake_users(None, [key])[0].pk == user.pk
    if spoil == "password_changed":
        user.set_password("a different long passphrase 9")
        user.save()
    elif spoil == "account_disabled":
        user.is_active = False
        user.save()
    elif spoil == "login_too_old":
        old = 1_000_000  # 1970: far past the absolute timeout
        _edit_session(key, **{SESSION_LOGIN_AT: old})
    elif spoil == "no_login_time":
        _edit_session(key, **{SESSION_LOGIN_AT: None})
    elif spoil == "unknown_backend":
        _edit_session(key, **{BACKEND_SESSION_KEY: "somewhere.else.Backend"})
    elif spoil == "no_backend":
        _edit_session(key, **{BACKEND_SESSION_KEY: None})
    elif spoil == "user_id_not_a_number":
        _edit_session(key, **{SESSION_KEY: "1 OR 1=1"})
    elif spoil == "another_users_id":
        # The other user's id with this user's hash: the hash check refuses it.
        _edit_session(key, **{SESSION_KEY: str(other.pk)})
    elif spoil == "session_expired":
        from datetime import timedelta

        from django.contrib.sessions.models import Session
        from django.utils import timezone

        Session.objects.filter(session_key=key).update(
            expire_date=timezone.now() - timedelta(seconds=1)
        )
    assert handlers.handshake_users(None, [key]) == [None]


def test_another_session_engine_gets_the_same_answers(settings):
    """With sessions outside the database (the cache engine), one lookup per socket."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    with_mfa, without_mfa = UserFactory(mfa=True), UserFactory(mfa=False)
    keys = [_login(with_mfa), _login(without_mfa)]
    found = handlers.handshake_users(None, [*keys, "nosuchsessionkeyatall00000000000"])
    assert [u.pk if u else None for u in found] == [with_mfa.pk, without_mfa.pk, None]
    assert [u.__dict__[handlers.MFA_WITH_USER_ATTR] for u in found[:2]] == [True, False]
    with_mfa.set_password("a different long passphrase 9")
    with_mfa.save()
    assert handlers.handshake_users(None, keys[:1]) == [None]
