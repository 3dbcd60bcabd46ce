"""ASGI entry point: Django views over HTTP and Channels consumers over /ws/."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")

from workspace.http_handler import get_asgi_application  # noqa: E402

# Middleware and view in one thread hop (workspace/http_handler.py).
django_asgi_app = get_asgi_application()

from channels.routing import URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from messaging.socket_auth import SocketAuthMiddlewareStack  # noqa: E402
from workspace.asgi_limits import BodySizeLimitMiddleware, ConcurrencyLimitMiddleware  # noqa: E402
from workspace.realtime import DoorbellLoopMiddleware  # noqa: E402
from workspace.routing import websocket_urlpatterns  # noqa: E402
from workspace.runtime_metrics import ProbedProtocolTypeRouter, time_gc  # noqa: E402
from workspace.websocket_server import skip_unlogged_debug_formatting  # noqa: E402

skip_unlogged_debug_formatting()

application = ProbedProtocolTypeRouter(
    {
        "http": BodySizeLimitMiddleware(
            ConcurrencyLimitMiddleware(DoorbellLoopMiddleware(django_asgi_app))
        ),
        # The page's origin must be one of ours in scheme, host and port, not host alone.
        "websocket": OriginValidator(
            SocketAuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
            settings.WORKSPACE_ALLOWED_ORIGINS,
        ),
    }
)

# Everything is imported and built: freeze it, and collect young objects less often
# (workspace/gc_tuning.py, WORKSPACE_GC_THRESHOLD).
from workspace import gc_tuning  # noqa: E402

gc_tuning.configure(settings.WORKSPACE_GC_THRESHOLD)
# The collector's pauses, timed for /metrics (workspace/runtime_metrics.py).
time_gc()
