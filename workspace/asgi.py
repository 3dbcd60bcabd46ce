"""ASGI entry point: Django views over HTTP and Channels consumers over /ws/."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from messaging.socket_auth import SocketAuthMiddlewareStack  # noqa: E402
from workspace.asgi_limits import BodySizeLimitMiddleware, ConcurrencyLimitMiddleware  # noqa: E402
from workspace.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimitMiddleware(ConcurrencyLimitMiddleware(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(
            SocketAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything loaded so far (Django, the apps, the URLconf's modules) lives as long as the
# process. Frozen, the garbage collector's full collections no longer walk it: here one
# took about 80 ms over its 126,000 objects, and paused every socket and request of the
# process at once. What is already garbage goes first.
gc.collect()
gc.freeze()
