"""App configuration for moderator insight."""

from django.apps import AppConfig


class InsightConfig(AppConfig):
    name = "workspace.insight"
    label = "insight"
    default_auto_field = "django.db.models.BigAutoField"
