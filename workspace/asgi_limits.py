"""Limits at the ASGI layer, in front of Django.

- `BodySizeLimitMiddleware`: Django's ASGI handler reads the whole body (to memory, then
  disk) before any view runs, so a view cannot refuse a huge chunked body in time. This
  wrapper answers 413 as soon as a declared Content-Length, or the bytes received so
  far, pass the limit.
- `ConcurrencyLimitMiddleware`: at most WORKSPACE_MAX_CONCURRENT_REQUESTS requests of a
  process run in Django at once; the others wait their turn on the event loop.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from workspace import metrics

# Ciphertext routes: one-shot uploads (small files, any age client) and upload parts.
UPLOAD_PATHS = re.compile(
    r"^/(spaces/\d+/documents/upload|documents/\d+/versions/upload"
    r"|uploads/[0-9a-f-]{36}/parts/\d+)/$"
)
AGE_OVERHEAD = 64 * 1024
DEFAULT_LIMIT = 4 * 1024 * 1024  # every other route: forms and small JSON


def body_limit_for(path: str) -> int:
    """daphne holds a whole request body in memory, so no body may be large: files above
    the part size travel in parts (documents.services.upload_session_*)."""
    if UPLOAD_PATHS.match(path):
        part = int(getattr(settings, "WORKSPACE_UPLOAD_PART_BYTES", 8 * 1024 * 1024))
        return min(part, int(settings.WORKSPACE_MAX_UPLOAD_BYTES)) + AGE_OVERHEAD
    return DEFAULT_LIMIT


def _language(scope: dict) -> str:
    """The language Django's LocaleMiddleware would pick for this request (the language
    cookie, then Accept-Language, then LANGUAGE_CODE), by Django's own function, given
    only what it reads: these answers are sent before Django has built a request."""
    cookies: dict[str, str] = {}
    meta: dict[str, str] = {}
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            cookies.update(parse_cookie(value.decode("latin-1")))
        elif name == b"accept-language":
            meta["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(SimpleNamespace(COOKIES=cookies, META=meta))


def _text(language: str, message: str) -> bytes:
    """`message` (a gettext msgid) in `language`, as a response body."""
    with translation.override(language):
        return (gettext(message) + "\n").encode()


# A text/plain answer loads nothing and may be framed by no one.
PLAIN_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _is_secure(scope: dict) -> bool:
    """As Django's `request.is_secure()`: the scheme, or the trusted proxy's header."""
    if scope.get("scheme") == "https":
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    name, expected = proxy_header
    wanted = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
    values = [v for n, v in scope.get("headers") or [] if n == wanted]
    return bool(values) and values[0].decode("latin-1").split(",")[0].strip() == expected


def security_headers(scope: dict) -> list[tuple[bytes, bytes]]:
    """The headers Django's SecurityMiddleware, django-csp and ours put on every response,
    for the answers this module sends before Django runs."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", settings.X_FRAME_OPTIONS.encode()),
        (b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode()),
        (b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", settings.WORKSPACE_PERMISSIONS_POLICY.encode()),
        (b"content-security-policy", PLAIN_CSP),
        (b"cache-control", b"no-store"),
    ]
    hsts_seconds = getattr(settings, "SECURE_HSTS_SECONDS", 0)
    if hsts_seconds and _is_secure(scope):
        value = f"max-age={hsts_seconds}"
        if getattr(settings, "SECURE_HSTS_INCLUDE_SUBDOMAINS", False):
            value += "; includeSubDomains"
        if getattr(settings, "SECURE_HSTS_PRELOAD", False):
            value += "; preload"
        headers.append((b"strict-transport-security", value.encode()))
    return headers


async def _send_plain(
    scope: dict, send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """A short text/plain response, sent without Django, with the security headers."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *security_headers(scope),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_413(scope: dict, send: Any) -> None:
    language = _language(scope)
    body = _text(language, gettext_noop("The request is too large."))
    await _send_plain(
        scope,
        send,
        413,
        body,
        [(b"connection", b"close"), (b"content-language", language.encode())],
    )


class BodySizeLimitMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await _send_413(scope, send)
                    return
        received = 0
        rejected = False

        async def limited_receive() -> dict:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    await _send_413(scope, send)
                    # Django sees a disconnect, stops reading and sends nothing.
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send)


async def _send_503(scope: dict, send: Any, retry_after: int) -> None:
    language = _language(scope)
    await _send_plain(
        scope,
        send,
        503,
        _text(language, gettext_noop("The service is busy. Please try again in a moment.")),
        [(b"retry-after", str(retry_after).encode()), (b"content-language", language.encode())],
    )


class ConcurrencyLimitMiddleware:
    """At most `settings.WORKSPACE_MAX_CONCURRENT_REQUESTS` HTTP requests of this process
    run in Django at once (0: no limit). The rest wait on the event loop, which costs no
    thread; one that waits longer than `settings.WORKSPACE_REQUEST_QUEUE_SECONDS` gets a
    503 with Retry-After, and Django never sees it.

    Under ASGI Django runs every request on a thread of its own, and each opens its own
    database connection: with no bound, the load test's ramp (hundreds of users opening
    their first page at once) ran PostgreSQL out of connections ("too many clients
    already", 500s), and hundreds of threads fought over the GIL. A slot is held until
    Django returns, after the response has been handed to daphne (which buffers it), so
    a streamed export's database cursor counts too.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        # (limit, semaphore) per event loop: daphne has one loop; tests may run several.
        self._slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()

    def _semaphore(self, limit: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None or slot[0] != limit:
            slot = self._slots[loop] = (limit, asyncio.Semaphore(limit))
        return slot[1]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        limit = int(getattr(settings, "WORKSPACE_MAX_CONCURRENT_REQUESTS", 0))
        if scope["type"] != "http" or limit <= 0:
            await self.app(scope, receive, send)
            return
        semaphore = self._semaphore(limit)
        wait = float(getattr(settings, "WORKSPACE_REQUEST_QUEUE_SECONDS", 30))
        queued = time.perf_counter()
        try:
            await asyncio.wait_for(semaphore.acquire(), wait)
        except TimeoutError:
            metrics.inc("http_requests_total", status="5xx")
            metrics.inc("http_requests_shed_total")
            await _send_503(scope, send, retry_after=max(1, round(wait / 10)))
            return
        finally:
            metrics.inc("http_request_wait_seconds_total", time.perf_counter() - queued)
        try:
            await self.app(scope, receive, send)
        finally:
            semaphore.release()
