"""The socket's session check, batched for many sockets, answers exactly as one by one."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from messaging.handlers import session_holds_many, session_user, session_users
from workspace.accounts.receivers import SESSION_LOGIN_AT

pytestmark = pytest.mark.django_db


def _login(user) -> str:
    client = Client()
    client.force_login(user)
    return client.session.session_key


def test_batched_session_check_matches_the_single_one(world):
    users = world["users"]
    valid = _login(users["member_open"])
    other = _login(users["member_secret"])
    logged_out = _login(users["moderator"])
    SessionStore(logged_out).delete()
    disabled_user = users["member_restricted"]
    disabled = _login(disabled_user)
    disabled_user.is_active = False
    disabled_user.save(update_fields=["is_active"])
    changed_user = users["member_confidential"]
    changed = _login(changed_user)
    changed_user.set_password("a new and long passphrase 42")
    changed_user.save()
    too_old = _login(users["observer"])
    store = SessionStore(too_old)
    store[SESSION_LOGIN_AT] = time.time() - 10 * 24 * 3600
    store.save()
    items = [
        (valid, users["member_open"].pk),
        (other, users["member_open"].pk),  # someone else's session
        (logged_out, users["moderator"].pk),
        (disabled, disabled_user.pk),
        (changed, changed_user.pk),
        (too_old, users["observer"].pk),
        (None, users["member_open"].pk),
        ("no-such-session-key", users["member_open"].pk),
        (valid, users["member_open"].pk),  # a second socket on the same session
    ]
    single = [session_user(key, user_id) for key, user_id in items]
    with CaptureQueriesContext(connection) as queries:
        batched = session_users(None, items)
    assert len(queries) == 2
    assert [u.pk if u else None for u in batched] == [u.pk if u else None for u in single]
    assert [u.pk if u else None for u in batched] == [
        users["member_open"].pk, None, None, None, None, None, None, None,
        users["member_open"].pk,
    ]
    assert batched[0] is not batched[-1]  # each socket its own user object
    # The watcher's refresh: the same answers from the password hashes alone, in two
    # queries, with no user object made.
    with CaptureQueriesContext(connection) as queries:
        holds = session_holds_many(items)
    assert len(queries) == 2
    assert holds == [u is not None for u in single]


def _post_frame(room, body: str):
    import uuid

    from messaging import protocol

    return protocol.parse({"type": "post", "client_id": str(uuid.uuid4()),
                           "space_id": room["space"].pk, "topic_id": room["topic"].pk,
                           "body": body, "level": 0, "tlp": "GREEN"})


# A post frame, session check included: the user with its session and its MFA check (1),
# the membership with its grant (1), the topic with its note (1), the seq, message,
# revision, topic head, event and follow notifications (6), and the transaction's two
# statements. The session and the MFA check ride on the user row; an ordinary topic's
# discussion labels come from the topic read, not a query of their own; a retry is found
# by the (author, client_id) constraint, not by a lookup first.
POST_FRAME_QUERIES = 11


def test_a_post_frame_reads_mfa_with_the_user_and_costs_a_fixed_number_of_queries(room):
    from messaging import handlers
    from messaging.models import Message

    user = room["users"]["open"]
    key = _login(user)
    handlers.checked_write(handlers.post, (key, user.pk), _post_frame(room, "warm-up"))
    with CaptureQueriesContext(connection) as queries:
        fresh, result = handlers.checked_write(
            handlers.post, (key, user.pk), _post_frame(room, "counted")
        )
    assert fresh.pk == user.pk and Message.objects.get(pk=result["message_id"]).body == "counted"
    sql = [q["sql"] for q in queries]
    assert len(sql) == POST_FRAME_QUERIES, "\n".join(sql)
    assert sum("mfa_authenticator" in s for s in sql) == 1  # inside the user query
    assert sum("django_session" in s for s in sql) == 1  # inside the user query too
    assert not any(s.lstrip().startswith('SELECT "messaging_note"') for s in sql)
    assert not hasattr(fresh, handlers.MFA_WITH_USER_ATTR)  # not kept past the frame


def test_a_post_frame_after_the_last_authenticator_went_is_refused_unwritten(room):
    from allauth.mfa.models import Authenticator
    from django.core.exceptions import PermissionDenied

    from messaging import handlers
    from messaging.models import Message

    user = room["users"]["open"]
    key = _login(user)
    handlers.checked_write(handlers.post, (key, user.pk), _post_frame(room, "with MFA"))
    Authenticator.objects.filter(user=user).delete()
    before = Message.objects.count()
    with pytest.raises(PermissionDenied):
        handlers.checked_write(handlers.post, (key, user.pk), _post_frame(room, "without"))
    assert Message.objects.count() == before


def test_a_write_frame_can_push_the_session_forward_in_the_same_trip(room):
    """The socket's once-a-minute session touch rides on a write frame's own database
    call: one more statement (the expiry UPDATE), no second trip."""
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from messaging import handlers

    user = room["users"]["open"]
    key = _login(user)
    handlers.checked_write(handlers.post, (key, user.pk), _post_frame(room, "warm-up"))
    soon = timezone.now() + timezone.timedelta(seconds=30)
    Session.objects.filter(session_key=key).update(expire_date=soon)
    with CaptureQueriesContext(connection) as queries:
        fresh, _ = handlers.checked_write(
            handlers.post, (key, user.pk), _post_frame(room, "touched"), touch=True
        )
    assert fresh.pk == user.pk
    assert len(queries) == POST_FRAME_QUERIES + 1
    expiry = Session.objects.get(session_key=key).expire_date
    assert (expiry - soon).total_seconds() > settings.SESSION_COOKIE_AGE - 120


def test_a_session_hashed_under_a_fallback_key_still_holds(world, settings):
    """#32: during a SECRET_KEY rotation Django's `get_user` accepts a session whose hash
    was made under a key now in SECRET_KEY_FALLBACKS; the socket's check must too, or
    every open socket closes with 4401 at the rotation."""
    user = world["users"]["member_open"]
    old_key = settings.SECRET_KEY
    session_key = _login(user)
    settings.SECRET_KEY = "a-new-secret-key-" + "n" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert session_user(session_key, user.pk) is not None
    settings.SECRET_KEY_FALLBACKS = []
    assert session_user(session_key, user.pk) is None  # the old key retired: refused
