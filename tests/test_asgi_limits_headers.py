"""The 413 and 503 answered before Django carry the same security headers as Django's own
answers (#35 item 11)."""

from __future__ import annotations

import asyncio

import pytest

from workspace import asgi_limits
from workspace.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SECURITY_HEADERS = {
    b"x-content-type-options",
    b"x-frame-options",
    b"referrer-policy",
    b"cross-origin-opener-policy",
    b"cross-origin-resource-policy",
    b"permissions-policy",
    b"content-security-policy",
    b"strict-transport-security",
}


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 443),
    }


async def _start(app, scope: dict, body: bytes = b"") -> dict:
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.Future()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return next(m for m in sent if m["type"] == "http.response.start")


def _names(start: dict) -> set[bytes]:
    return {name.lower() for name, _value in start["headers"]}


async def test_django_answers_carry_the_security_headers():
    """The reference: what Django sends on an ordinary page (so the list above is real)."""
    start = await _start(application, _scope("GET", "/accounts/login/", []))
    assert start["status"] == 200
    assert SECURITY_HEADERS <= _names(start)


async def test_the_413_carries_them():
    oversized = [(b"content-length", str(50 * 1024 * 1024).encode())]
    start = await _start(application, _scope("POST", "/accounts/login/", oversized))
    assert start["status"] == 413
    assert SECURITY_HEADERS <= _names(start)
    headers = dict(start["headers"])
    assert headers[b"x-frame-options"] == b"DENY"
    assert b"default-src 'none'" in headers[b"content-security-policy"]


async def test_the_503_carries_them():
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await asgi_limits._send_503(_scope("GET", "/", []), send, retry_after=3)
    start = sent[0]
    assert start["status"] == 503
    assert SECURITY_HEADERS <= _names(start)
    assert dict(start["headers"])[b"retry-after"] == b"3"


async def test_hsts_only_over_https(settings):
    scope = _scope("GET", "/", []) | {"scheme": "http"}
    assert b"strict-transport-security" not in dict(asgi_limits.security_headers(scope))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    scope["headers"].append((b"x-forwarded-proto", b"https"))
    assert b"strict-transport-security" in dict(asgi_limits.security_headers(scope))
