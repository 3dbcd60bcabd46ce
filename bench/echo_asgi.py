"""The load test's baseline: a bare Channels echo consumer (no auth, no database, no layer).

    daphne -b 127.0.0.1 -p 8101 bench.echo_asgi:application

Every WebSocket path echoes each text frame back; any HTTP request gets a tiny 200.
bench/loadtest.py drives it with the same users and steps as the workspace.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


async def plain_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _configure() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["*"], INSTALLED_APPS=[], SECRET_KEY="echo")  # noqa: S106 - no sessions or signing here


_configure()

application = ProtocolTypeRouter({
    "http": plain_http,
    "websocket": URLRouter([re_path(r"^.*$", EchoConsumer.as_asgi())]),
})
