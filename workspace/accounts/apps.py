"""App configuration for accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "workspace.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the audit receivers, and those that mark sessions that pass MFA.
        from workspace.accounts import mfa_session, receivers  # noqa: F401
