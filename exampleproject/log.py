"""
Logging helpers for settings.LOGGING.

Bots probe every public address with made-up Host headers; Django refuses them with a
400, and one line per refusal says enough. A traceback for each would bury real errors.
"""

import logging


class WithoutTraceback(logging.Filter):
    """Log the record's message at WARNING, dropping its traceback."""

    def filter(self, record):
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
