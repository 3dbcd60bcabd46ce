"""App configuration for `networks`."""

from django.apps import AppConfig


class NetworksConfig(AppConfig):
    name = "networks"
    default_auto_field = "django.db.models.BigAutoField"
