"""The project's own app: its management commands (waitfordb, nginxconf, a migrate that takes a
lock) and a system check, which every command that runs Django's checks runs, bin/boot's included."""

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.checks.security.base import check_secret_key

from exampleproject.env import GENERATE_KEY


def secret_key_is_strong(app_configs, **kwargs):
    """Django's own test of SECRET_KEY (security.W009, which only `check --deploy` runs), as an error
    whenever DEBUG is off: a guessable key lets anyone forge sessions and reset links."""
    if settings.DEBUG or not check_secret_key(app_configs):
        return []
    return [
        checks.Error(
            "SECRET_KEY is too weak for production: it needs 50 or more characters, 5 or more of "
            "them different, and no 'django-insecure-' prefix.",
            hint=f"Generate one with: {GENERATE_KEY}",
            id="exampleproject.E001",
        )
    ]


class ExampleprojectConfig(AppConfig):
    name = "exampleproject"

    def ready(self):
        checks.register(secret_key_is_strong, checks.Tags.security)
