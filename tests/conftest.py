"""Shared fixtures and the rule for tests that need an outside service or tool."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from django.db import connection
from django.test.client import ClientMixin

from workspace.audit.dbroles import as_table_owner

IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip on a newcomer's machine; under CI a missing prerequisite is a failure."""
    if IN_CI:
        pytest.fail(f"CI requires this test to run: {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"`{name}` is not installed; {install_hint}")
    return path  # type: ignore[return-value]


# --- Logging a test client in ------------------------------------------------------
# `client.force_login(user)` stands for a complete login, the password and the MFA step:
# the session gets the MFA mark the MFA step gives (workspace.accounts.mfa_session).
# `force_login_password_only` is a session that came in by password alone.

_django_force_login = ClientMixin.force_login


def _force_login_with_mfa(self: ClientMixin, user: Any, backend: str | None = None) -> None:
    _django_force_login(self, user, backend)
    from workspace.accounts.mfa_session import session_mark_mfa

    session = self.session
    session_mark_mfa(session, user_id=user.pk, how="test")
    session.save()


ClientMixin.force_login = _force_login_with_mfa  # type: ignore[method-assign]


def force_login_password_only(client: ClientMixin, user: Any) -> None:
    """Log `client` in as `user` with a session that never passed an MFA step."""
    _django_force_login(client, user)


@pytest.fixture(scope="session", autouse=True)
def _socket_threads_let_go_of_the_database(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Torn down before the test database is dropped: the socket database threads
    (messaging/dbthreads.py) keep their connections open between calls, and PostgreSQL
    refused to drop a database they were still connected to."""
    yield
    from messaging.dbthreads import close_connections

    with django_db_blocker.unblock():
        close_connections()


@pytest.fixture(scope="session")
def _as_table_owner() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings, _as_table_owner):  # type: ignore[no-untyped-def]
    """PostgreSQL with DATABASE_OWNER_URL: the test database is created, migrated and
    dropped by the tables' owner, and the tests run as DATABASE_URL's restricted role,
    as the application does (docs/deploy.md). Otherwise nothing changes."""
    _as_table_owner.enter_context(as_table_owner())


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, _as_table_owner):  # type: ignore[no-untyped-def]
    _as_table_owner.close()  # created and migrated: from here on, the application's role
    yield
    _as_table_owner.enter_context(as_table_owner())  # pytest-django drops it next


@pytest.fixture(autouse=True)
def _service_markers(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        skip_or_fail(
            "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/workspace_test"
        )
    if request.node.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        skip_or_fail("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:  # type: ignore[no-untyped-def]
    # Argon2 is the production hasher (tested in tests/accounts); MD5 keeps other tests fast.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Each test gets its own blob storage, so "nothing was stored" can be checked exactly.
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _fresh_channel_layer():  # type: ignore[no-untyped-def]
    """Each test gets its own channel layer instance. Tests run on event loops of their
    own; a channels_redis layer keeps asyncio locks bound to the loop that first used it,
    and a socket cancelled mid-receive at the end of one test left its receive lock held
    and bound to a closed loop: the next test's sockets failed with "bound to a different
    event loop" (twice in a day of CI runs)."""
    from channels.layers import channel_layers

    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    # Rate-limit counters live in the cache; each test starts with none.
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if not settings.XDIST_WORKER or not isinstance(cache, RedisCache):
        cache.clear()
        return
    # Under xdist on Redis: only this worker's keys (see tests/settings.py).
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key("*")))
    if keys:
        client.delete(*keys)


@pytest.fixture
def mfa_user(db):  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory

    return UserFactory(mfa=True)


@pytest.fixture
def mfa_client(client, mfa_user):  # type: ignore[no-untyped-def]
    """A client logged in as a user who has completed MFA setup."""
    client.force_login(mfa_user)
    return client


# --- A space populated with one user per row of the authorization matrix -----------


@pytest.fixture
def world(db):  # type: ignore[no-untyped-def]
    return build_world()


def build_world() -> dict:  # type: ignore[type-arg]
    """The `world` fixture's data, for a caller that needs it once for many tests
    (tests/networks/test_authorization_matrix.py)."""
    from datetime import timedelta

    from django.utils import timezone

    from networks.models import MembershipStatus, Role
    from networks.services import membership_set
    from tests.factories import InvitationFactory, SpaceFactory, UserFactory

    space = SpaceFactory(
        is_listed=True,
        join_policy="request",
        name="Nightjar Working Group",
        description="Marker-7f3a description",
    )
    other_space = SpaceFactory(network=space.network, name="Kestrel Working Group", is_listed=False)
    admin = UserFactory(mfa=True)
    space.network.admins.add(admin)

    def member(
        role=Role.MEMBER,
        clearance=0,
        status=MembershipStatus.ACTIVE,
        expires=None,
        in_space=space,
        mfa=True,
    ):
        user = UserFactory(mfa=mfa)
        membership_set(
            space=in_space,
            user=user,
            role=role,
            clearance=clearance,
            status=status,
            clearance_expires_at=expires,
            acting_user=admin,
        )
        return user

    invited = UserFactory(mfa=True)
    InvitationFactory(space=space, email=invited.email)
    users = {
        "anonymous": None,
        "no_mfa": member(mfa=False),
        "non_member": UserFactory(mfa=True),
        "invited": invited,
        "observer": member(Role.OBSERVER),
        "member_open": member(clearance=0),
        "member_restricted": member(clearance=1),
        "member_confidential": member(clearance=2),
        "member_secret": member(clearance=3),
        "member_expired": member(clearance=3, expires=timezone.now() - timedelta(minutes=1)),
        "suspended": member(clearance=2, status=MembershipStatus.SUSPENDED),
        "removed": member(clearance=2, status=MembershipStatus.REMOVED),
        "moderator": member(Role.MODERATOR, clearance=2),
        "other_moderator": member(Role.MODERATOR, clearance=3, in_space=other_space),
        "network_admin": admin,
    }
    return {"space": space, "other_space": other_space, "users": users}
