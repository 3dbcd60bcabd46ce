"""Shared fixtures and the rule for tests that need an outside service or tool."""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connection

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
def _clear_cache() -> None:
    # Rate-limit counters live in the cache; each test starts with none.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def mfa_user(db):  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory

    return UserFactory(mfa=True)


@pytest.fixture
def mfa_client(client, mfa_user):  # type: ignore[no-untyped-def]
    """A client logged in as a user who has completed MFA setup."""
    client.force_login(mfa_user)
    return client
