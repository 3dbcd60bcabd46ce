"""Refuse oversized request bodies at the ASGI layer, before Django spools them.

Django's ASGI handler reads the whole body (to memory, then disk) before any view
runs, so a view cannot refuse a huge chunked body in time. This wrapper answers 413 as
soon as a declared Content-Length, or the bytes received so far, pass the limit.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

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


async def _send_413(send: Any) -> None:
    body = b"Request body too large.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
                    await _send_413(send)
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
                    await _send_413(send)
                    # Django sees a disconnect, stops reading and sends nothing.
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, limited_receive, send)
