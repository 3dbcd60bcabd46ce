"""The Django project package: settings, URLs, ASGI and the cross-cutting pieces."""
