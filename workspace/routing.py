"""WebSocket routes. Only this module (and urls.py) imports consumers."""

from django.urls import path

from messaging.consumers import RealtimeConsumer

websocket_urlpatterns: list = [
    path("ws/", RealtimeConsumer.as_asgi()),
]
