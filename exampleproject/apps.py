"""The project's own app: its management commands (waitfordb, nginxconf, a migrate that takes a
lock), a system check, which every command that runs Django's checks runs, bin/boot's included, and
a log line for each failed sign-in."""

import logging

from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
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


def log_failed_login(sender, credentials, request=None, **kwargs):
    """One WARNING line per failed sign-in, with the client's address: what an operator, or a tool
    such as fail2ban, needs to see a password being guessed. %r: the username is the client's."""
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    logging.getLogger("exampleproject.auth").warning(
        "sign-in failed for %r from %s", credentials.get("username"), address or "an unknown address"
    )


class ExampleprojectConfig(AppConfig):
    name = "exampleproject"

    def ready(self):
        checks.register(secret_key_is_strong, checks.Tags.security)
        user_login_failed.connect(log_failed_login, dispatch_uid="exampleproject.log_failed_login")
