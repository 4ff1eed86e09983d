"""
System checks of the project, run by every management command that runs Django's checks:
bin/boot's and bin/release's `waitfordb` among them, so a web process refuses to start.
(`collectstatic` runs only the staticfiles checks: django/core/management/base.py,
BaseCommand.execute; collectstatic.py, requires_system_checks.)
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.checks.security.base import check_secret_key

from exampleproject.env import GENERATE_KEY


@register(Tags.security)
def secret_key_is_strong(app_configs, **kwargs):
    """Django's own test of SECRET_KEY (security.W009, which only `check --deploy` runs), as an
    error whenever DEBUG is off: a guessable key lets anyone forge sessions and reset links."""
    if settings.DEBUG or not check_secret_key(app_configs):
        return []
    return [
        Error(
            "SECRET_KEY is too weak for production: it needs 50 or more characters, 5 or more of "
            "them different, and no 'django-insecure-' prefix.",
            hint=f"Generate one with: {GENERATE_KEY}",
            id="exampleproject.E001",
        )
    ]
