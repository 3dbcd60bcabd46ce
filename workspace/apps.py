"""The project package as an app, so it can own templates tags and commands."""

from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"
    label = "workspace"

    def ready(self) -> None:
        from workspace import lookups  # noqa: F401 - registers `__any_of` on every field
