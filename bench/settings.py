"""
The benchmark's settings: production's (exampleproject.settings), plus the page as it
was before its rendering was cached, at bench.before.BEFORE_PATH, so that one run
measures both in the same processes (bench/run.py, bench/profile.py). Never deployed.
"""

from pathlib import Path

from exampleproject.settings import *  # noqa: F403
from exampleproject.settings import TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES = [{**TEMPLATES[0], "DIRS": [Path(__file__).resolve().parent / "before" / "templates"]}]
