"""The consumer's small synchronous steps: fresh checks and service calls per frame.

Each runs in `database_sync_to_async`; each re-checks access against the database (a
checker built at connect time is never reused), then calls the same service the HTML
views call.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from messaging import selectors, services
from messaging.events import frame_text
from messaging.models import Message
from messaging.protocol import Frame
from networks.access import (
    Action,
    access_space,
    clearance_in_effect,
    delivery_memberships_many,
    frame_user,
    granted_memberships,
    granted_memberships_many,
    user_has_completed_mfa,
)
from workspace.accounts.adapter import mfa_exists
from workspace.accounts.mfa_session import SESSION_MFA_ATTR, session_passed_mfa
from workspace.prepared import Prepared


def in_frame(
    fn: Callable[[Any, Frame], Any], user: Any, frame: Frame, *, mfa: bool | None = None
) -> Any:
    """Run a write frame's handler with a user object of the frame's own (see
    networks.access.frame_user): the handler's access check and the service's read the
    database once between them, and the next frame reads afresh."""
    return fn(frame_user(user, mfa=mfa), frame)


def checked_write(
    fn: Callable[[Any, Frame], Any],
    session: tuple[str | None, int],
    frame: Frame,
    *,
    touch: bool = False,
) -> tuple[Any | None, Any]:
    """The socket's session check and a write frame, in one trip to a database thread.

    Returns (the fresh user, the handler's result), or (None, None) without writing when
    the session no longer holds (`session_users`: logout, ended, expired, password
    changed, account disabled): the same check every other frame gets first, in order.
    `touch`: after the write, push the session's idle expiry forward (`session_touch`)
    in the same trip; a post a minute made it a second trip on almost every post.
    """
    user = session_users(None, [session], with_mfa=True)[0]
    if user is None:
        return None, None
    # The MFA check came with the user row, in this call: it stays with this frame only.
    mfa = user.__dict__.pop(MFA_WITH_USER_ATTR, None)
    result = in_frame(fn, user, frame, mfa=mfa)
    if touch:
        session_touch(session[0])
    return user, result


def display_name(user: Any) -> str:
    return user.display_name or user.email


def has_mfa(user: Any) -> bool:
    return user_has_completed_mfa(user)


def session_touch(session_key: str | None) -> None:
    """Socket activity is activity: push the session's idle expiry forward.

    One UPDATE of the expiry only (never a re-save of the session data, which an HTTP
    request may be changing at the same moment); an ended session stays ended.
    """
    if not session_key or settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    now = timezone.now()
    Session.objects.filter(session_key=session_key, expire_date__gt=now).update(
        expire_date=now + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    )


def session_user(session_key: str | None, user_id: int) -> Any | None:
    """The active user if `session_key` is still this user's live session, else None.

    Catches logout, a session ended through usersessions, expiry (idle and absolute),
    a password change (the session hash no longer matches) and a disabled account.
    """
    if not session_key:
        return None
    return _stored_session_user(_session_data(session_key), user_id)


def _session_data(session_key: str) -> dict[str, Any]:
    """The session's data from any session engine; {} when missing or expired."""
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()


def _stored_session_user(data: dict[str, Any], user_id: Any) -> Any | None:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return _session_user(data, user_id, user)


MFA_WITH_USER_ATTR = "_mfa_read_with_user"


def session_users(
    _key: Any, items: list[tuple[str | None, int]], *, with_mfa: bool = False
) -> list[Any | None]:
    """`session_user` for every socket of a batch in two queries (sessions, users).

    The same checks, on rows read together; each socket gets its own user object.
    `with_mfa`: each user row also says whether the user has MFA (an EXISTS in the same
    query), as the `MFA_WITH_USER_ATTR` attribute, for `checked_write`.
    """
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return [session_user(key, user_id) for key, user_id in items]
    if len(items) == 1 and items[0][0]:
        # One socket (every write frame, and a quiet process's checks): its session row
        # comes with its user row, in one query.
        (key, user_id), = items
        user = (_SESSION_USER_MFA if with_mfa else _SESSION_USER).first(
            user_id, key, timezone.now()
        )
        session_data = user.__dict__.pop(_SESSION_DATA_ATTR, None) if user is not None else None
        return [_session_user(_decoded(session_data) if session_data else {}, user_id, user)]
    data = _live_sessions({key for key, _ in items if key})
    user_ids = sorted({user_id for _, user_id in items})
    active = (_ACTIVE_USERS_MFA if with_mfa else _ACTIVE_USERS).list(*user_ids) if user_ids else []
    users = {user.pk: user for user in active}
    return [
        _session_user(data.get(key or "", {}), user_id, copy.copy(users.get(user_id)))
        if key
        else None
        for key, user_id in items
    ]


def fresh_access_many(
    items: list[tuple[str | None, int, list[int]]],
) -> list[tuple[bool, dict[int, Any]]]:
    """For each socket (session key, user id, its spaces): whether its session still
    holds (`session_holds_many`), and its membership in each space as delivery judges it
    (`networks.access.delivery_memberships_many`; None: it may see nothing there). Three
    queries for all the sockets of a process, every second: the rows are read narrow,
    and nothing is made per socket that an unchanged row already gave."""
    holds = session_holds_many([(key, user_id) for key, user_id, _ in items])
    found = delivery_memberships_many(
        (space_id, user_id)
        for (_, user_id, spaces), held in zip(items, holds, strict=True)
        if held
        for space_id in spaces
    )
    return [
        (held, {space_id: found.get((space_id, user_id)) for space_id in spaces} if held else {})
        for (_, user_id, spaces), held in zip(items, holds, strict=True)
    ]


def session_holds_many(items: list[tuple[str | None, int]]) -> list[bool]:
    """For each (session key, user id): the checks of `session_users`, on the sessions'
    data and the active users' password hashes alone (no user object)."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return [session_user(key, user_id) is not None for key, user_id in items]
    data = _live_sessions({key for key, _ in items if key})
    user_ids = sorted({user_id for _, user_id in items})
    if len(user_ids) > _PREPARED_LENGTHS:
        passwords = dict(_active_passwords(*user_ids, lookup="any_of"))
    else:
        passwords = dict(_ACTIVE_PASSWORDS.list(*user_ids)) if user_ids else {}
    return [
        bool(key) and _session_holds(data.get(key, {}), user_id, passwords.get(user_id))
        for key, user_id in items
    ]


def handshake_users(_key: Any, session_keys: list[str]) -> list[Any | None]:
    """The user behind each socket handshake's session cookie, for every handshake of a
    batch in two queries (sessions; users with their MFA check), or None.

    The checks of Channels' `get_user` (the session names a user and one of our
    backends, and carries that user's password hash) and of `session_user` (the absolute
    timeout, an active account), so the socket starts with its session checked. Each user
    carries the MFA answer from the same query as the `MFA_WITH_USER_ATTR` attribute. A
    refused session is left as it is (Channels flushed it); the next request ends it.
    """
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return [_handshake_user_slow(key) for key in session_keys]

    keys = sorted(set(session_keys))
    data = _live_sessions(keys)
    claimed = {key: _claimed_user_id(data.get(key, {})) for key in keys}
    user_ids = sorted({user_id for user_id in claimed.values() if user_id is not None})
    users = {user.pk: user for user in _ACTIVE_USERS_MFA.list(*user_ids)} if user_ids else {}
    return [
        _session_user(data[key], user_id, copy.copy(users.get(user_id)))
        if (user_id := claimed[key]) is not None
        else None
        for key in session_keys
    ]


def _claimed_user_id(data: Mapping[str, Any]) -> Any | None:
    """The user id a session's data names, if one of our backends logged it in."""
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        return get_user_model()._meta.pk.to_python(data[SESSION_KEY])
    except (KeyError, ValidationError):
        return None


def _handshake_user_slow(session_key: str) -> Any | None:
    """`handshake_users` for a session engine other than the database's: one at a time."""
    data = _session_data(session_key)
    user_id = _claimed_user_id(data)
    if user_id is None:
        return None
    user = _stored_session_user(data, user_id)
    if user is not None:
        setattr(user, MFA_WITH_USER_ATTR, has_mfa(user))
    return user


def _sessions(now: Any, *keys: str, lookup: str = "in") -> Any:
    from django.contrib.sessions.models import Session

    return Session.objects.filter(
        **{f"session_key__{lookup}": keys}, expire_date__gt=now
    ).values_list("session_key", "session_data")  # no model instance per session


def _live_sessions(keys: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """{session key: its decoded data} for those of `keys` that exist and have not expired
    (database sessions), in one query."""
    keys = sorted(keys)
    if len(keys) > _PREPARED_LENGTHS:
        rows = _sessions(timezone.now(), *keys, lookup="any_of")
    else:
        rows = _SESSIONS.list(timezone.now(), *keys) if keys else []
    return {session_key: _decoded(session_data) for session_key, session_data in rows}


def _active_users(*user_ids: int, lookup: str = "in") -> Any:
    return get_user_model().objects.filter(**{f"pk__{lookup}": user_ids}, is_active=True)


def _active_passwords(*user_ids: int, lookup: str = "in") -> Any:
    return _active_users(*user_ids, lookup=lookup).values_list("pk", "password")


# Read for every write frame and every socket's session check: their SQL is built once,
# for each number of values up to `_PREPARED_LENGTHS`. Longer lists (the access refresh
# reads every socket of the process) are one array parameter on PostgreSQL
# (workspace/lookups.py): one statement for any length, nothing per value to bind.
_PREPARED_LENGTHS = 32
_SESSIONS = Prepared(_sessions, shapes=_PREPARED_LENGTHS)
_ACTIVE_USERS = Prepared(_active_users, shapes=_PREPARED_LENGTHS)
_ACTIVE_PASSWORDS = Prepared(_active_passwords, shapes=_PREPARED_LENGTHS)
_ACTIVE_USERS_MFA = Prepared(
    lambda *user_ids: _active_users(*user_ids).annotate(
        **{MFA_WITH_USER_ATTR: mfa_exists(OuterRef("pk"))}
    )
)
_SESSION_DATA_ATTR = "_session_data_read_with_user"


def _session_user_row(user_id: int, session_key: str, now: Any, *, with_mfa: bool) -> Any:
    """The active user, with the data of the session `session_key` if it is live (else
    None) beside it, and with `with_mfa`, the MFA check: one query."""
    session = _sessions(now, session_key).values("session_data")[:1]  # the live-session rule
    users = _active_users(user_id).annotate(**{_SESSION_DATA_ATTR: Subquery(session)})
    if with_mfa:
        users = users.annotate(**{MFA_WITH_USER_ATTR: mfa_exists(OuterRef("pk"))})
    return users


_SESSION_USER = Prepared(functools.partial(_session_user_row, with_mfa=False))
_SESSION_USER_MFA = Prepared(functools.partial(_session_user_row, with_mfa=True))


def _session_user(data: Mapping[str, Any], user_id: int, user: Any | None) -> Any | None:
    """The user, if the session holds; it carries whether the session passed its MFA step
    (workspace.accounts.mfa_session), and an MFA answer read with it (`MFA_WITH_USER_ATTR`)
    counts only with that step: a session that came in by password alone is refused at
    the handshake (4403) and in every frame's access check."""
    if user is None or not _session_holds(data, user_id, user.password):
        return None
    passed = session_passed_mfa(data, user_id)
    setattr(user, SESSION_MFA_ATTR, passed)
    if MFA_WITH_USER_ATTR in user.__dict__:
        setattr(user, MFA_WITH_USER_ATTR, bool(user.__dict__[MFA_WITH_USER_ATTR]) and passed)
    return user


def _session_holds(data: Mapping[str, Any], user_id: int, password: str | None) -> bool:
    """The session's data names this user, within the absolute timeout, and carries the
    session hash of the user's current password (None: no such active user)."""
    from workspace.accounts.receivers import SESSION_LOGIN_AT

    if password is None or str(data.get(SESSION_KEY)) != str(user_id):
        return False
    login_at = data.get(SESSION_LOGIN_AT)
    if login_at is None or time.time() - login_at > settings.WORKSPACE_SESSION_ABSOLUTE_TIMEOUT:
        return False
    session_hash = data.get(HASH_SESSION_KEY)
    # As Django's `get_user`: the hash under SECRET_KEY, or under one of the
    # SECRET_KEY_FALLBACKS while a key rotation is under way.
    hashes = _auth_hashes_of(
        password, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS), get_user_model()
    )
    return bool(session_hash) and any(constant_time_compare(session_hash, h) for h in hashes)


# The sockets' session checks run every second for every socket of a process (the
# watcher's refresh), on rows that rarely change. Two HMACs per socket were most of it:
# decoding the signed session data, and the user's session auth hash. Both are pure
# functions of their text, so the answers are kept for the same text.


@functools.lru_cache(maxsize=8192)
def _decoded(session_data: str) -> MappingProxyType[str, Any]:
    """The session data as the session engine decodes it (read-only; {} if tampered)."""
    from django.contrib.sessions.backends.db import SessionStore

    return MappingProxyType(SessionStore().decode(session_data))


@functools.lru_cache(maxsize=8192)
def _auth_hashes_of(
    password: str, secret_key: str, fallback_keys: tuple[str, ...], user_type: type
) -> tuple[str, ...]:
    """The session auth hashes of a password: under the secret key, then each fallback
    (the keys are arguments so that the cache follows a change of settings)."""
    user = user_type(password=password)
    return (user.get_session_auth_hash(), *user.get_session_auth_fallback_hash())


def visible_spaces(user: Any) -> dict[int, int]:
    """{space id: clearance in effect} for every space the user may view now."""
    return {
        space_id: clearance_in_effect(membership)
        for space_id, membership in granted_memberships(user, action=Action.VIEW).items()
    }


def visible_spaces_many(users: list[Any]) -> list[dict[int, int]]:
    """`visible_spaces` for each of `users`, in one query (per 500 users): the periodic
    re-check of every socket of a process (messaging.consumers._HeadWatcher)."""
    found = granted_memberships_many(users, action=Action.VIEW)
    return [
        {space_id: clearance_in_effect(m) for space_id, m in found.get(user.pk, {}).items()}
        for user in users
    ]


def heads(space_ids: list[int]) -> dict[int, int]:
    return selectors.space_heads(space_ids=space_ids)


def heads_many(_key: Any, requests: list[list[int]]) -> list[dict[int, int]]:
    """`heads` for every socket of a batch (hellos arriving together): one query."""
    found = heads(sorted({space_id for space_ids in requests for space_id in space_ids}))
    return [{space_id: found[space_id] for space_id in space_ids} for space_ids in requests]


def hello_many(
    _key: Any, items: list[tuple[str | None, int]]
) -> list[tuple[Any, dict[int, int]] | None]:
    """A `hello` for every socket of a batch: the session check (`session_users`) and
    then `visible_spaces`, for all of them in three queries instead of three trips each.
    None where the session no longer holds."""
    users = session_users(None, items)
    found = visible_spaces_many([user for user in users if user is not None])
    spaces = iter(found)
    return [(user, next(spaces)) if user is not None else None for user in users]


def _visible_message(user: Any, frame: Frame) -> Message:
    """The message, if the user may see it in the frame's space; hidden and missing alike
    raise DoesNotExist, so probing ids reveals nothing."""
    access_space(user, frame.space_id, action=Action.VIEW)  # type: ignore[arg-type]
    return selectors.visible_messages(user=user, space_id=frame.space_id).get(  # type: ignore[arg-type]
        pk=frame.message_id
    )


# The key of a post's result that holds its new event, (seq, frame text), for the
# author's own socket; the consumer takes it out before the ack.
OWN_EVENT = "own_event"


def post(user: Any, frame: Frame) -> dict[str, Any]:
    membership = access_space(user, frame.space_id, action=Action.POST)  # type: ignore[arg-type]
    topic = selectors.visible_topic(user=user, space_id=membership.space_id,
                                    topic_id=frame.topic_id)
    message = services.message_post(
        space=membership.space,
        topic=topic,
        body=frame.body or "",
        level=frame.level,
        tlp=frame.tlp or "",
        recipients=list(frame.recipient_ids),
        client_id=frame.client_id,
        acting_user=user,
    )
    result: dict[str, Any] = {
        "message_id": message.pk,
        "seq": message.seq,
        "duplicate": bool(getattr(message, "idempotent_replay", False)),
    }
    event = getattr(message, "new_event", None)  # None for a retry of a stored post
    if event is not None:
        result[OWN_EVENT] = (event.seq, frame_text(event))
    return result


def edit(user: Any, frame: Frame) -> dict[str, Any]:
    message = services.message_edit(
        message=_visible_message(user, frame), body=frame.body or "", acting_user=user
    )
    return {"message_id": message.pk}


def delete(user: Any, frame: Frame) -> dict[str, Any]:
    message = services.message_delete(message=_visible_message(user, frame), acting_user=user)
    return {"message_id": message.pk}


def react(user: Any, frame: Frame) -> dict[str, Any]:
    present = services.reaction_toggle(
        message=_visible_message(user, frame),
        emoji=frame.emoji or "",
        acting_user=user,
        present=frame.present,
    )
    return {"message_id": frame.message_id, "emoji": frame.emoji, "present": present}


def read(user: Any, frame: Frame) -> dict[str, Any]:
    access_space(user, frame.space_id, action=Action.VIEW)  # type: ignore[arg-type]
    topic = selectors.visible_topic(user=user, space_id=frame.space_id, topic_id=frame.topic_id)  # type: ignore[arg-type]
    marker = services.read_mark(topic=topic, seq=frame.seq or 0, acting_user=user)
    unread = selectors.unread_by_topic(user=user, space_id=topic.space_id)
    return {
        "topic_id": topic.pk,
        "seq": marker.last_seq,
        "unread": {str(k): v for k, v in unread.items()},
    }


def typing(user: Any, frame: Frame) -> dict[str, Any]:
    access_space(user, frame.space_id, action=Action.POST)  # type: ignore[arg-type]
    selectors.visible_topic(user=user, space_id=frame.space_id, topic_id=frame.topic_id)  # type: ignore[arg-type]
    return {"id": user.pk, "name": display_name(user)}
