"""`/healthz`: real checks of the database, channel layer, cache and key provider, and
who may see which check failed."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from workspace import health
from workspace.keys import get_key_provider

CHECK_NAMES = {"database", "channel_layer", "cache", "key_provider"}
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}
REDIS_LAYERS = [
    "channels_redis.pubsub.RedisPubSubChannelLayer",
    "channels_redis.core.RedisChannelLayer",
]


@pytest.fixture(autouse=True)
def _fresh():
    health.forget_public_answer()
    get_key_provider.cache_clear()
    yield
    health.forget_public_answer()
    get_key_provider.cache_clear()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.django_db
def test_all_checks_pass_and_a_local_caller_sees_them(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECK_NAMES
    for result in body["checks"].values():
        assert result["ok"] is True and result["ms"] >= 0 and "error" not in result
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_an_outside_caller_gets_only_the_status(client):
    response = client.get("/healthz", **OUTSIDE)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_FORWARDED": "for=127.0.0.1"},
        {"HTTP_X_REAL_IP": "127.0.0.1"},
        {"REMOTE_ADDR": "10.1.2.3"},
        {"REMOTE_ADDR": "::ffff:192.0.2.1"},
        {"REMOTE_ADDR": "not-an-ip"},
    ],
)
def test_forwarded_or_remote_callers_get_no_details(client, extra):
    assert client.get("/healthz", **extra).json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("addr", ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"])
def test_every_loopback_address_is_local(client, addr):
    assert set(client.get("/healthz", REMOTE_ADDR=addr).json()["checks"]) == CHECK_NAMES


def test_network_admins_see_details_from_anywhere_members_do_not(client, world):
    client.force_login(world["users"]["network_admin"])
    assert set(client.get("/healthz", **OUTSIDE).json()["checks"]) == CHECK_NAMES
    for who in ("moderator", "member_secret", "other_moderator"):
        client.force_login(world["users"][who])
        assert client.get("/healthz", **OUTSIDE).json() == {"status": "ok"}, who


@pytest.mark.django_db
def test_only_get_and_head(client):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


# --- Failures: real broken components ----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("backend", REDIS_LAYERS)
def test_redis_down_fails_the_cache_and_channel_layer_checks(client, settings, backend):
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [url]}}}
    local = client.get("/healthz")
    assert local.status_code == 503
    checks = local.json()["checks"]
    assert local.json()["status"] == "error"
    assert not checks["cache"]["ok"] and not checks["channel_layer"]["ok"]
    assert "ConnectionError" in checks["cache"]["error"]
    assert checks["database"]["ok"] and checks["key_provider"]["ok"]
    outside = client.get("/healthz", **OUTSIDE)
    assert outside.status_code == 503
    assert outside.json() == {"status": "error"}
    assert b"cache" not in outside.content and b"redis" not in outside.content.lower()


@pytest.mark.django_db
def test_a_channel_layer_that_loses_messages_times_out(client, settings, monkeypatch):
    # expiry=0: every message has expired by the time it is received, as if dropped.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"expiry": 0}}
    }
    monkeypatch.setattr(health, "CHANNEL_LAYER_TIMEOUT", 0.3)
    response = client.get("/healthz")
    assert response.status_code == 503
    result = response.json()["checks"]["channel_layer"]
    assert result["error"].startswith("TimeoutError") and result["ms"] >= 300


@pytest.mark.django_db
def test_an_unreadable_master_key_fails_the_key_provider_check(client, settings, tmp_path):
    key_file = tmp_path / "master.key"
    key_file.write_text("00" * 32 + "\n")
    os.chmod(key_file, 0o644)  # others may read it: the provider refuses the file
    settings.WORKSPACE_MASTER_KEY_FILE = key_file
    response = client.get("/healthz")
    assert response.status_code == 503
    result = response.json()["checks"]["key_provider"]
    assert not result["ok"] and result["error"].startswith("PermissionError")


def test_no_database_fails_the_database_check(client):
    # Outside django_db, pytest-django refuses database access: a real failed query.
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert not checks["database"]["ok"]
    assert checks["cache"]["ok"] and checks["channel_layer"]["ok"]


@pytest.mark.django_db
def test_public_answers_are_reused_for_a_moment(client, settings, monkeypatch):
    runs = []
    real_run = health.run_checks
    monkeypatch.setattr(health, "run_checks", lambda: runs.append(1) or real_run())
    for _ in range(20):
        assert client.get("/healthz", **OUTSIDE).status_code == 200
    assert len(runs) == 1
    client.get("/healthz")  # a local caller always gets a fresh run
    assert len(runs) == 2
    health.forget_public_answer()
    client.get("/healthz", **OUTSIDE)
    assert len(runs) == 3


@pytest.mark.redis
@pytest.mark.django_db
@pytest.mark.parametrize("backend", REDIS_LAYERS)
def test_the_checks_pass_on_real_redis(client, settings, backend):
    url = os.environ["REDIS_URL"]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [url]}}}
    body = client.get("/healthz").json()
    assert body["status"] == "ok", body


@pytest.mark.redis
@pytest.mark.parametrize("backend", REDIS_LAYERS)
def test_checks_in_the_servers_event_loop_leave_no_channel_behind(settings, backend):
    """In daphne every check runs in the one event loop, whose layer lives as long as the
    process: the pub/sub layer's channel (a Redis subscription) must end with the check."""
    import redis
    from channels.layers import channel_layers

    url = os.environ["REDIS_URL"]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [url]}}}
    channel_layers.backends.pop("default", None)  # built afresh from these settings
    spy = redis.Redis.from_url(url)

    async def checks() -> tuple[int, int]:
        before = len(spy.pubsub_channels("asgi*"))
        for _ in range(5):
            await health._channel_round_trip_with_timeout()
        return before, len(spy.pubsub_channels("asgi*"))

    try:
        before, after = asyncio.run(checks())
    finally:
        channel_layers.backends.pop("default", None)
        spy.close()
    assert after == before


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_database_check_passes_on_postgresql(client):
    assert client.get("/healthz").json()["checks"]["database"]["ok"] is True
