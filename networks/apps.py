"""App configuration for `networks`."""

from django.apps import AppConfig


class NetworksConfig(AppConfig):
    name = "networks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from networks.permissions import forget_permission_ids

        # Not sender-bound: flush emits post_migrate for every app, and auth's
        # permissions may be recreated under new pks.
        post_migrate.connect(forget_permission_ids, dispatch_uid="networks.permission_ids")
