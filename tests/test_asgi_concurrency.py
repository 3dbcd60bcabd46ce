"""ConcurrencyLimitMiddleware: at most N requests of a process run in Django at once; the
rest wait on the event loop, and one that waits too long gets a 503 that Django never
sees. The real stack (daphne, PostgreSQL) is in tests/integration/test_concurrency.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workspace import metrics
from workspace.asgi_limits import ConcurrencyLimitMiddleware

pytestmark = pytest.mark.asyncio


def _scope(kind: str = "http") -> dict:
    return {"type": kind, "path": "/", "method": "GET", "headers": []}


class _App:
    """An inner app that holds each request until `release` is set."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.calls += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            self.running -= 1


async def _request(app: Any, scope: dict | None = None) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope or _scope(), receive, send)
    return sent


def _status(sent: list[dict]) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


async def test_at_most_the_limit_run_at_once_and_every_request_is_served(settings):
    settings.WORKSPACE_MAX_CONCURRENT_REQUESTS = 2
    settings.WORKSPACE_REQUEST_QUEUE_SECONDS = 10
    inner = _App()
    app = ConcurrencyLimitMiddleware(inner)
    tasks = [asyncio.ensure_future(_request(app)) for _ in range(7)]
    await asyncio.sleep(0.05)
    assert inner.running == 2 and inner.calls == 2  # five wait, outside the app
    inner.release.set()
    results = await asyncio.gather(*tasks)
    assert [_status(sent) for sent in results] == [200] * 7
    assert inner.peak == 2 and inner.calls == 7


async def test_a_request_that_waits_too_long_gets_503_and_never_reaches_the_app(settings):
    settings.WORKSPACE_MAX_CONCURRENT_REQUESTS = 1
    settings.WORKSPACE_REQUEST_QUEUE_SECONDS = 0.1
    inner = _App()
    app = ConcurrencyLimitMiddleware(inner)
    metrics.reset()
    holder = asyncio.ensure_future(_request(app))
    await asyncio.sleep(0.02)
    shed = await _request(app)
    assert _status(shed) == 503
    start = shed[0]
    assert (b"retry-after", b"1") in start["headers"]
    assert b"busy" in shed[1]["body"]
    assert inner.calls == 1
    assert "\nhttp_requests_shed_total 1\n" in metrics.render()
    inner.release.set()
    assert _status(await holder) == 200
    # The slot came back: the next request runs.
    assert _status(await _request(app)) == 200


async def test_a_slot_is_returned_when_the_app_fails_or_the_client_goes(settings):
    settings.WORKSPACE_MAX_CONCURRENT_REQUESTS = 1
    settings.WORKSPACE_REQUEST_QUEUE_SECONDS = 1

    async def failing(scope: dict, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    app = ConcurrencyLimitMiddleware(failing)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await _request(app)

    inner = _App()
    app = ConcurrencyLimitMiddleware(inner)
    cancelled = asyncio.ensure_future(_request(app))
    await asyncio.sleep(0.02)
    cancelled.cancel()  # daphne cancels the app when the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    inner.release.set()
    assert _status(await asyncio.wait_for(_request(app), 1)) == 200


async def test_websockets_and_a_zero_limit_pass_straight_through(settings):
    settings.WORKSPACE_MAX_CONCURRENT_REQUESTS = 1
    settings.WORKSPACE_REQUEST_QUEUE_SECONDS = 0.05
    inner = _App()
    app = ConcurrencyLimitMiddleware(inner)
    sockets = [asyncio.ensure_future(_request(app, _scope("websocket"))) for _ in range(3)]
    await asyncio.sleep(0.02)
    assert inner.running == 3
    settings.WORKSPACE_MAX_CONCURRENT_REQUESTS = 0
    pages = [asyncio.ensure_future(_request(app)) for _ in range(3)]
    await asyncio.sleep(0.02)
    assert inner.running == 6
    inner.release.set()
    await asyncio.gather(*sockets, *pages)


async def test_the_application_applies_the_limit():
    from workspace.asgi import application

    http = application.application_mapping["http"]
    assert isinstance(http.app, ConcurrencyLimitMiddleware)


@pytest.mark.parametrize(
    ("headers", "language", "text"),
    [
        ([(b"accept-language", b"es-AR,es;q=0.9,en;q=0.5")], "es", "El servicio está ocupado"),
        ([(b"accept-language", b"pt-BR")], "pt", "O serviço está ocupado"),
        # The language cookie wins over Accept-Language, as in LocaleMiddleware.
        ([(b"accept-language", b"es"), (b"cookie", b"a=1; django_language=fr")], "fr",
         "Le service est occupé"),
        ([(b"accept-language", b"de-DE,*;q=0.1")], "en", "The service is busy"),
        ([(b"cookie", b"django_language=xx; bad\x00cookie")], "en", "The service is busy"),
        ([(b"accept-language", b";;;q=,\xff\xfe")], "en", "The service is busy"),
    ],
)
async def test_the_503_speaks_the_language_django_would_have_chosen(settings, headers,
                                                                      language, text):
    settings.WORKSPACE_MAX_CONCURRENT_REQUESTS = 1
    settings.WORKSPACE_REQUEST_QUEUE_SECONDS = 0.05
    inner = _App()
    app = ConcurrencyLimitMiddleware(inner)
    holder = asyncio.ensure_future(_request(app))
    await asyncio.sleep(0.02)
    shed = await _request(app, {**_scope(), "headers": headers})
    assert _status(shed) == 503
    assert (b"content-language", language.encode()) in shed[0]["headers"]
    body = shed[1]["body"].decode()
    assert body.startswith(text) and body.endswith("\n")
    assert dict(shed[0]["headers"])[b"content-length"] == str(len(shed[1]["body"])).encode()
    inner.release.set()
    await holder
