"""Structured logs: JSON lines, the request id, and no secrets or message bodies."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from workspace.logging import (
    REDACTED,
    JsonFormatter,
    RedactingFilter,
    RequestIdFilter,
    RequestIdMiddleware,
    request_id_var,
)

ROOT = Path(__file__).resolve().parents[1]
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
IDENTITY = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS3290GG"


def _capture(name: str = "workspace.test") -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    """A logger with a handler configured like settings.LOGGING's console handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    if name.startswith("workspace.test"):
        logger.setLevel(logging.DEBUG)
    return logger, stream, handler


@pytest.fixture
def json_log():
    logger, stream, handler = _capture()

    def lines() -> list[dict]:
        text = stream.getvalue()
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]

    yield logger, lines, stream
    logger.removeHandler(handler)


# --- The JSON format ------------------------------------------------------------------


def test_one_json_object_per_line_with_the_fields(json_log):
    logger, lines, _ = json_log
    logger.info("first %s", "line\nwith a newline")
    logger.warning("second", extra={"space_id": 7, "duration_ms": 1.5})
    first, second = lines()
    assert set(first) >= {"time", "level", "logger", "message", "request_id"}
    assert first["message"] == "first line\nwith a newline"
    assert first["level"] == "INFO" and first["logger"] == "workspace.test"
    assert first["request_id"] is None
    stamp = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert first["time"].endswith("Z") and stamp.utcoffset().total_seconds() == 0
    assert second["space_id"] == 7 and second["duration_ms"] == 1.5


def test_exceptions_are_included(json_log):
    logger, lines, _ = json_log
    try:
        raise ValueError("the reason")
    except ValueError:
        logger.exception("it failed")
    (entry,) = lines()
    assert entry["level"] == "ERROR"
    assert entry["exc_type"] == "ValueError"
    assert "Traceback" in entry["exception"] and "ValueError: the reason" in entry["exception"]


def test_values_that_are_not_json_are_stringified(json_log):
    logger, lines, _ = json_log
    logger.info("odd", extra={"when": datetime(2025, 1, 2), "obj": object(), "nums": (1, 2)})
    (entry,) = lines()
    assert entry["when"].startswith("2025-01-02")
    assert entry["nums"] == [1, 2]


# --- Redaction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, secret",
    [
        (f"identity {IDENTITY} loaded", IDENTITY[16:]),
        ("Cookie: sessionid=abcdef0123456789; csrftoken=tok987654321", "abcdef0123456789"),
        ("Cookie: __Host-sessionid=abcdef0123456789", "abcdef0123456789"),
        ("Cookie: sessionid=abcdef0123456789; csrftoken=tok987654321", "tok987654321"),
        ("POST body password=hunter2hunter2&next=/", "hunter2hunter2"),
        ("GET /?access_token=T0K3N-value&x=1", "T0K3N-value"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("db postgres://workspace:s3cr3t-pw@db.internal:5432/ws down", "s3cr3t-pw"),
        ("redis rediss://:r3dis-pw@cache:6380/0 down", "r3dis-pw"),
        ("Not Found: /invitations/eyJpZCI6MX0:1tQ:sig/", "eyJpZCI6MX0:1tQ:sig"),
        ("GET /accounts/password/reset/key/3-abc-123def/", "3-abc-123def"),
        ("GET /accounts/confirm-email/MQ:1tQ:abcdef/", "MQ:1tQ:abcdef"),
    ],
)
def test_secret_patterns_are_scrubbed_from_messages(json_log, text, secret):
    logger, lines, stream = json_log
    logger.warning(text)
    logger.warning("via args: %s", text)
    assert secret not in stream.getvalue()
    assert all(REDACTED in entry["message"] for entry in lines())


def test_secret_keys_in_extra_are_masked_at_any_depth(json_log):
    logger, lines, stream = json_log
    logger.info(
        "event",
        extra={
            "password": "hunter2hunter2",
            "sessionKey": "sess-abcdef",
            "apiKey": "camel-k-5544",
            "X-Auth-Token": "hdr-t-3322",
            "api_key": "k-123456",
            "details": {"token": "t-999888", "nested": [{"secret": "s-777666"}], "count": 3},
            "message_body": "the meeting is at the port at dawn",
            "body": "another body",
            "key_id": "3f1c",
            "content_type": "text/plain",
            "space_id": 4,
        },
    )
    (entry,) = lines()
    raw = stream.getvalue()
    for secret in (
        "hunter2hunter2",
        "sess-abcdef",
        "camel-k-5544",
        "hdr-t-3322",
        "k-123456",
        "t-999888",
        "s-777666",
    ):
        assert secret not in raw
    assert "at dawn" not in raw and "another body" not in raw
    assert entry["password"] == entry["message_body"] == entry["api_key"] == REDACTED
    assert entry["details"]["count"] == 3 and entry["details"]["token"] == REDACTED
    # Not secrets: kept for the operator.
    assert entry["key_id"] == "3f1c" and entry["content_type"] == "text/plain"
    assert entry["space_id"] == 4


def test_tracebacks_are_scrubbed(json_log):
    logger, lines, stream = json_log
    try:
        raise RuntimeError(f"could not use {IDENTITY} with sessionid=abcdef0123456789")
    except RuntimeError:
        logger.exception("failure")
    assert IDENTITY[16:] not in stream.getvalue()
    assert "abcdef0123456789" not in stream.getvalue()
    assert "RuntimeError" in lines()[0]["exception"]


def test_a_broken_format_string_does_not_lose_the_record(json_log):
    logger, lines, _ = json_log
    logger.warning("two %s %s", "only-one")
    assert "two %s %s" in lines()[0]["message"]


def test_plain_text_format_is_redacted_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s [%(request_id)s] %(message)s"))
    logger = logging.getLogger("workspace.test.text")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(IDENTITY)
        except ValueError:
            logger.exception("sessionid=abcdef0123456789")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert out.startswith("ERROR [-] sessionid=[REDACTED]")
    assert "abcdef0123456789" not in out and IDENTITY[16:] not in out


# --- The request id -------------------------------------------------------------------


def _through_middleware(headers: dict[str, str]) -> tuple[HttpResponse, list[str | None]]:
    seen: list[str | None] = []

    def view(request):
        seen.append(request_id_var.get())
        seen.append(request.request_id)
        return HttpResponse("ok")

    request = RequestFactory().get("/", headers=headers)
    response = RequestIdMiddleware(view)(request)
    return response, seen


def test_a_sane_incoming_request_id_is_kept():
    rid = "7b1c2a9e-1d2f-4c3b-9a8e-0f1e2d3c4b5a"
    response, seen = _through_middleware({"X-Request-ID": rid})
    assert response["X-Request-ID"] == rid
    assert seen == [rid, rid]
    assert request_id_var.get() is None  # reset after the request


def test_a_missing_request_id_is_generated():
    response, seen = _through_middleware({})
    assert GENERATED_ID.match(response["X-Request-ID"])
    assert seen == [response["X-Request-ID"]] * 2


@pytest.mark.parametrize(
    "hostile",
    [
        "short",  # under 8
        "a" * 65,  # over 64
        "<script>alert(1)</script>",
        "abc def ghi jkl",
        "abcdefgh\r\nSet-Cookie: x=1",
        "abcdefgh\n",
        "abcdefgh;rm -rf",
        "ábcdefghij",
        "abcdefgh" + "\x00",
        "x" * 100_000,  # a huge header
        "",
    ],
)
def test_a_hostile_request_id_is_replaced_not_echoed(hostile):
    response, seen = _through_middleware({"X-Request-ID": hostile})
    assert GENERATED_ID.match(response["X-Request-ID"])
    assert response["X-Request-ID"] != hostile
    assert seen[0] == response["X-Request-ID"]


@pytest.mark.django_db
def test_every_response_carries_the_request_id_through_the_whole_stack(client):
    for path in ("/", "/healthz", "/no-such-page/", "/accounts/login/"):
        response = client.get(path, HTTP_X_REQUEST_ID="trace-0123456789")
        assert response["X-Request-ID"] == "trace-0123456789", path
    assert GENERATED_ID.match(client.get("/healthz", HTTP_X_REQUEST_ID="<bad>")["X-Request-ID"])


@pytest.mark.django_db
def test_djangos_request_log_carries_the_request_id(client):
    # django.request logs a 404 after the middleware has returned: the id comes from
    # the request passed along with the record.
    logger, stream, handler = _capture("django.request")
    try:
        response = client.get("/invitations/secret-token-value/nope/")
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entries, "django.request logged nothing"
    assert entries[-1]["request_id"] == response["X-Request-ID"]
    assert entries[-1]["path"].startswith("/invitations/" + REDACTED)
    assert "secret-token-value" not in stream.getvalue()


# --- The settings wiring, in a real process -------------------------------------------

SNIPPET = f"""
import logging
log = logging.getLogger("workspace.check")
log.warning("loaded %s", "{IDENTITY}", extra={{"password": "hunter2hunter2", "space_id": 3}})
"""


def _run_django(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WORKSPACE_"))},
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
        "DJANGO_SECRET_KEY": "logging-test-" + "s" * 50,
        "WORKSPACE_DATA_DIR": os.environ.get("WORKSPACE_DATA_DIR", "/tmp"),
        **env_extra,
    }
    code = "import django; django.setup()\n" + SNIPPET
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )


def test_production_logs_are_json_lines_on_stderr_and_redacted():
    result = _run_django({})
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "workspace.check" and entry["space_id"] == 3
    assert entry["password"] == REDACTED
    assert IDENTITY[16:] not in result.stderr and "hunter2hunter2" not in result.stderr


def test_debug_defaults_to_text_and_the_variable_chooses(tmp_path):
    text = _run_django({"DJANGO_DEBUG": "1", "WORKSPACE_DATA_DIR": str(tmp_path)})
    assert re.search(
        r" WARNING workspace\.check \[-\] loaded AGE-SECRET-KEY-1\[REDACTED\]$", text.stderr.strip()
    )
    as_json = _run_django(
        {"DJANGO_DEBUG": "1", "WORKSPACE_DATA_DIR": str(tmp_path), "WORKSPACE_LOG_FORMAT": "json"}
    )
    assert json.loads(as_json.stderr)["message"].startswith("loaded AGE-SECRET-KEY-1[REDACTED]")
    forced_text = _run_django({"WORKSPACE_LOG_FORMAT": "text"})
    assert "hunter2hunter2" not in forced_text.stderr
    assert not forced_text.stderr.startswith("{")
