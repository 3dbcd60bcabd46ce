"""App configuration for the audit log."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from workspace.audit.dbroles import grant_application_role


def _grant_application_role(using: str, **kwargs: Any) -> None:
    grant_application_role(using=using)


class AuditConfig(AppConfig):
    name = "workspace.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After every migrate (every table exists by then) and flush: the application's
        # role, if it is not the owner, gets its grants, and none beyond.
        post_migrate.connect(_grant_application_role, sender=self)
