from django.apps import AppConfig


class ExampleprojectConfig(AppConfig):
    """The project's own app: its management commands and system checks."""

    name = "exampleproject"

    def ready(self):
        from exampleproject import checks  # noqa: F401  (registers the checks)
