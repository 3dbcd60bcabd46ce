"""The security baseline: headers in every mode, HTTPS settings when DEBUG is off."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.strip().split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.parametrize("path", ["/accounts/login/", "/no-such-page/"])
def test_security_headers(client, path):
    response = client.get(path)
    csp = _csp_directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert not any("unsafe-inline" in v for values in csp.values() for v in values)
    assert not any("unsafe-eval" in v for values in csp.values() for v in values)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_headers_also_in_debug_mode(client, settings):
    settings.DEBUG = True
    response = client.get("/accounts/login/")
    assert "Content-Security-Policy" in response
    assert "Permissions-Policy" in response


def test_https_settings_when_debug_is_off(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    insecure = client.get("/accounts/login/")
    assert insecure.status_code == 301
    assert insecure.url.startswith("https://")
    secure = client.get("/accounts/login/", secure=True)
    assert secure.status_code == 200
    assert "max-age=31536000" in secure["Strict-Transport-Security"]
    assert secure.cookies["__Host-csrftoken"]["secure"]
    assert settings.SESSION_COOKIE_NAME == "__Host-sessionid"
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    assert settings.SECURE_PROXY_SSL_HEADER is None


def test_no_cdn_in_pages(client):
    body = client.get("/accounts/login/").content.decode()
    assert "cdn" not in body.lower()
    assert "<script>" not in body  # no inline scripts
    assert 'style="' not in body


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WORKSPACE_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="workspace.settings",
        DJANGO_SECRET_KEY="a-production-like-secret-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        DJANGO_ALLOWED_HOSTS="workspace.example.org",
        DJANGO_DEBUG="0",
        WORKSPACE_DATA_DIR=str(Path(os.environ.get("TMPDIR", "/tmp")) / "ws-deploy-check"),
    )
    env.update(extra)
    return env


def _setting(code: str, **extra: str) -> subprocess.CompletedProcess:
    """Run `code` after django.setup() in a process with the production environment."""
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=_production_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = _production_env()
    env.pop("DJANGO_SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("choice", "backend"),
    [
        (None, "workspace.layers.PubSubChannelLayer"),
        ("lists", "channels_redis.core.RedisChannelLayer"),
        ("kafka", None),
    ],
)
def test_the_redis_channel_layer_is_chosen_by_name(choice, backend):
    code = "from django.conf import settings; print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
    extra = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
    if choice is not None:
        extra["WORKSPACE_CHANNEL_LAYER"] = choice
    result = _setting(code, **extra)
    if backend is None:
        assert result.returncode != 0
        message = "WORKSPACE_CHANNEL_LAYER must be one of ['lists', 'pubsub'], not 'kafka'"
        assert message in result.stderr
    else:
        assert result.stdout.strip() == backend, result.stderr


def test_behind_tls_proxy_sets_proxy_header():
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=_production_env(WORKSPACE_BEHIND_TLS_PROXY="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "HTTP_X_FORWARDED_PROTO" in result.stdout, result.stderr


def test_master_key_file_is_created_owner_only(tmp_path, settings):
    from workspace.keys import LocalKeyProvider, read_or_create_key_file

    path = tmp_path / "keys" / "master.key"
    key = read_or_create_key_file(path)
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_or_create_key_file(path) == key
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        read_or_create_key_file(path)
    provider = LocalKeyProvider(key)
    blob = provider.wrap(b"secret", context=b"ctx")
    assert provider.unwrap(blob, context=b"ctx") == b"secret"
    from workspace.keys import KeyUnwrapError

    with pytest.raises(KeyUnwrapError):
        provider.unwrap(blob, context=b"other")


def test_every_environment_variable_is_documented():
    import re

    settings_source = (ROOT / "workspace" / "settings.py").read_text()
    keys_source = (ROOT / "workspace" / "keys.py").read_text()
    used = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_source))
    used |= set(re.findall(r'environ\.get\("([A-Z_]+)"', keys_source))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used, "no variables found"
    assert used - documented == set(), f"undocumented: {sorted(used - documented)}"


def test_server_error_page_needs_no_database(rf, django_assert_num_queries):
    from workspace.views import server_error

    request = rf.get("/")
    with django_assert_num_queries(0):
        response = server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "<script" not in body


@pytest.mark.parametrize(
    ("database_url", "size", "expected"),
    [
        ("postgres://u@127.0.0.1:5432/w", "24", "{'min_size': 4, 'max_size': 24, 'timeout': 2}"),
        ("postgres://u@127.0.0.1:5432/w", "2", "{'min_size': 2, 'max_size': 2, 'timeout': 2}"),
        ("postgres://u@127.0.0.1:5432/w", "0", "None"),
        ("postgres://u@127.0.0.1:5432/w", None, "None"),  # off unless asked for
        ("sqlite:////tmp/ws-pool-check.sqlite3", "24", "None"),  # PostgreSQL only
        ("postgres://u@127.0.0.1:5432/w?conn_max_age=60", "24", "error"),
    ],
)
def test_the_database_pool_is_configured_by_size(database_url, size, expected):
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default'].get('OPTIONS', {}).get('pool'))"
    )
    extra = {"DATABASE_URL": database_url}
    if size is not None:
        extra["WORKSPACE_DB_POOL_SIZE"] = size
    result = _setting(code, **extra)
    if expected == "error":
        assert result.returncode != 0
        assert "WORKSPACE_DB_POOL_SIZE needs conn_max_age=0" in result.stderr
    else:
        assert result.stdout.strip() == expected, result.stderr
