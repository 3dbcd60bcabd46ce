"""ASGI app for the baseline: Django's handler with no body-size wrapper in front."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.plain_settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
