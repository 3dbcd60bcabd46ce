"""Oversized bodies are refused at the ASGI layer, before Django spools them to disk."""

import asyncio

import pytest

from workspace.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


async def _call(scope: dict, chunks: list[bytes]) -> tuple[int, int]:
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    consumed = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal consumed
        if queue:
            consumed += 1
            return queue.pop(0)
        await asyncio.Future()  # a client that stays connected until the response ends
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], consumed


async def test_chunked_body_over_the_limit_is_cut_off(settings):
    settings.WORKSPACE_MAX_UPLOAD_BYTES = 100_000
    chunks = [b"x" * 65536] * 40  # 2.5 MiB, no Content-Length
    status, consumed = await _call(_scope("/spaces/1/documents/upload/", []), chunks)
    assert status == 413
    assert consumed < 5  # stopped reading right after the limit


async def test_declared_length_over_the_limit_is_refused_unread(settings):
    settings.WORKSPACE_MAX_UPLOAD_BYTES = 100_000
    scope = _scope("/spaces/1/documents/upload/", [(b"content-length", b"5000000")])
    status, consumed = await _call(scope, [b"x" * 10])
    assert status == 413 and consumed == 0


async def test_other_routes_have_a_small_limit():
    scope = _scope("/accounts/login/", [(b"content-length", b"50000000")])
    status, _consumed = await _call(scope, [b"x"])
    assert status == 413


async def test_garbage_content_length_is_refused():
    scope = _scope("/accounts/login/", [(b"content-length", b"12abc")])
    status, _consumed = await _call(scope, [b"x"])
    assert status == 413


async def test_small_bodies_pass_through():
    status, _consumed = await _call(_scope("/accounts/login/", []), [b"a=1"])
    assert status in (200, 302, 403)  # reaches Django (CSRF refuses the bare POST)


async def test_the_413_speaks_the_request_language():
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"x", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = _scope("/accounts/login/", [(b"content-length", b"50000000"),
                                        (b"accept-language", b"fr-CA,fr;q=0.8")])
    await application(scope, receive, send)
    start, body = sent[0], sent[1]["body"].decode()
    assert start["status"] == 413 and (b"content-language", b"fr") in start["headers"]
    assert body == "La requête est trop volumineuse.\n"
