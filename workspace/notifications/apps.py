"""App configuration for in-app and email notifications."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "workspace.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"
