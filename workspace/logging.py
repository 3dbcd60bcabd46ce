"""Structured logs: a request id per request, JSON lines, and redaction of secrets.

`RequestIdMiddleware` keeps a sane incoming `X-Request-ID` (or makes one), exposes it
to every log record of the request and returns it in the response. `RedactingFilter`
sits on the handler, so every record is scrubbed whichever logger emitted it: values of
secret-looking keys passed in `extra`, and secret-looking patterns (age identities,
session cookies, passwords in URLs, tokens in paths) in the message and traceback.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

from workspace import metrics

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

REDACTED = "[REDACTED]"

# The attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
}

# A key (in `extra`) is secret-looking when one of its words is one of these.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "session",
        "sessionid",
        "cookie",
        "cookies",
        "authorization",
        "auth",
        "csrf",
        "csrftoken",
        "apikey",
        "credential",
        "credentials",
        "otp",
        "totp",
        "recovery",
        "identity",
        "signature",
        "private",
    }
)
# Words that are secret as the last word of a key: `api_key`, `master_key`, and the
# content people wrote (`body`, `message_text`: message bodies never go to logs), but not
# `key_id` or `content_type`.
_SECRET_LAST_WORDS = frozenset({"key", "body", "plaintext", "content", "text"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")  # snake, kebab, camel

_SCRUB_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # age identities (the space keys' private halves).
    (re.compile(r"AGE-SECRET-KEY-1[0-9A-Za-z]+"), "AGE-SECRET-KEY-1" + REDACTED),
    # Cookies and query or form parameters with secret-looking names.
    (
        re.compile(
            r"(?i)\b((?:__host-)?(?:sessionid|csrftoken|csrfmiddlewaretoken)"
            r"|[a-z_]*(?:password|passwd|secret|token|api_?key|otp))=[^\s&;,'\"]+"
        ),
        r"\1=" + REDACTED,
    ),
    # "Authorization: Bearer …" and similar schemes.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # user:password@host in URLs (DATABASE_URL, REDIS_URL).
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), r"\1:" + REDACTED + "@"),
    # Secrets carried in URL paths: invitation tokens, password-reset and email keys.
    (re.compile(r"(/invitations/)[^/\s]+"), r"\1" + REDACTED),
    (re.compile(r"(/password/reset/key/)[^/\s]+"), r"\1" + REDACTED),
    (re.compile(r"(/confirm-email/)[^/\s]+"), r"\1" + REDACTED),
]


def scrub(text: str) -> str:
    """Replace secret-looking patterns in free text."""
    for pattern, replacement in _SCRUB_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_secret_key(name: str) -> bool:
    words = [w.lower() for w in _WORD_SPLIT.split(name) if w]
    if not words:
        return False
    return words[-1] in _SECRET_LAST_WORDS or any(w in _SECRET_WORDS for w in words)


def redact(value: Any, *, depth: int = 0) -> Any:
    """A copy of `value` with secret-looking keys masked and strings scrubbed."""
    if depth > 8:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: REDACTED if is_secret_key(str(k)) else redact(v, depth=depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, depth=depth + 1) for v in value]
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


def _request_id_of(record: logging.LogRecord) -> str | None:
    current = request_id_var.get()
    if current:
        return current
    # Django's own request logging (django.request) runs after the middleware returned;
    # it passes the request along.
    request = getattr(record, "request", None)
    return getattr(request, "request_id", None)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` ("-" outside a request) for any formatter to use."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id_of(record) or "-"
        return True


class RedactingFilter(logging.Filter):
    """Scrubs the message, the traceback and `extra` values of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key in list(record.__dict__):
            if key in _RECORD_ATTRS or key == "request":
                continue
            value = record.__dict__[key]
            record.__dict__[key] = REDACTED if is_secret_key(key) else redact(value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        if not request_id or request_id == "-":
            request_id = _request_id_of(record)
        created = datetime.fromtimestamp(record.created, tz=UTC)
        entry: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            # Scrubbed here too, so the formatter is safe even without RedactingFilter.
            "message": scrub(record.getMessage()),
            "request_id": request_id,
        }
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "method"):
            # The request object itself is never dumped (headers carry cookies).
            entry["method"] = str(request.method)
            entry["path"] = scrub(str(getattr(request, "path", "")))[:500]
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key != "request" and key not in entry:
                entry[key] = REDACTED if is_secret_key(key) else redact(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info else None
            entry["exception"] = scrub(record.exc_text)
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


class RequestIdMiddleware:
    """Gives each request an id (`request.request_id`, logs, `X-Request-ID` response header)
    and counts responses by status class."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        status = 500  # an exception escaping here becomes Django's 500
        try:
            response = self.get_response(request)
            status = response.status_code
        finally:
            metrics.inc("http_requests_total", status=_status_class(status))
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response
