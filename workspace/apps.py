"""The project package as an app, so it can own templates tags and commands."""

from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"
    label = "workspace"
