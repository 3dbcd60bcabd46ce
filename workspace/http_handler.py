"""Django's ASGI handler, with the middleware and the view run in one thread hop.

Under ASGI Django builds an async middleware chain: its innermost handler is async, so a
chain of synchronous middleware (ours and most third-party ones) calls it through
`async_to_sync`, and it calls the synchronous view back through `sync_to_async`. Every
page thus crosses to the server's event loop and back twice, and in a process whose loop
is busy with hundreds of sockets each crossing waits for a turn of that loop (py-spy in
the load test: request threads waiting there were a tenth of a daphne's samples).

`SyncChainASGIHandler` builds the synchronous chain, as WSGI does, and runs it, view
included, in one `sync_to_async` call on the request's own thread (Django's
`ThreadSensitiveContext` gives each request one), where the request-started signal has
already tidied its database connection. Reading the body, building the request and
sending the response stay Django's own. Every view of the project is synchronous.
"""

from __future__ import annotations

from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> Any:
    """`django.core.asgi.get_asgi_application` with `SyncChainASGIHandler`."""
    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
