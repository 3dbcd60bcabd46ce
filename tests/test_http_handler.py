"""workspace/http_handler.py: under ASGI the middleware and the view run in one thread
hop, not crossing back to the event loop between the middleware chain and the view."""

from __future__ import annotations

import pytest
from asgiref.sync import AsyncToSync
from channels.testing import HttpCommunicator

from workspace.http_handler import SyncChainASGIHandler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _counting_async_to_sync(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = AsyncToSync.__call__

    def counting(self, *args, **kwargs):
        calls.append(getattr(self.awaitable, "__qualname__", repr(self.awaitable)))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AsyncToSync, "__call__", counting)
    return calls


async def _get(app, path: str, monkeypatch) -> tuple[dict, list[str]]:
    calls = _counting_async_to_sync(monkeypatch)
    communicator = HttpCommunicator(app, "GET", path, headers=[(b"host", b"testserver")])
    response = await communicator.get_response(timeout=10)
    return response, list(calls)


async def test_a_page_goes_through_every_middleware_without_crossing_to_the_loop(monkeypatch):
    from workspace.asgi import application

    response, calls = await _get(application, "/accounts/login/", monkeypatch)
    assert response["status"] == 200
    headers = {k.lower() for k, _ in response["headers"]}
    assert b"content-security-policy" in headers  # the middleware ran
    assert b"x-request-id" in headers
    assert b"<form" in response["body"]
    assert calls == [], calls


async def test_django_s_own_handler_crosses_twice_which_this_one_avoids(monkeypatch):
    """The stock handler, for contrast: the sync chain reaches its async inner handler
    through async_to_sync (so this test notices if Django stops doing that)."""
    from django.core.handlers.asgi import ASGIHandler

    _response, calls = await _get(ASGIHandler(), "/accounts/login/", monkeypatch)
    assert calls, "Django's ASGIHandler no longer crosses: SyncChainASGIHandler may go"
    _response, ours = await _get(SyncChainASGIHandler(), "/accounts/login/", monkeypatch)
    assert ours == []


async def test_errors_still_become_responses(monkeypatch):
    from workspace.asgi import application

    response, _calls = await _get(application, "/no-such-page/", monkeypatch)
    assert response["status"] == 404
