"""The project's settings with a URLconf that adds failing views (tests/sentry_urls.py), for
tests of error reports through a real server."""

from exampleproject.settings import *  # noqa: F403

ROOT_URLCONF = "tests.sentry_urls"
