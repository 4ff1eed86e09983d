"""A filter for settings.LOGGING: bots send made-up Host headers all day, and Django refuses each
with a 400; one WARNING line per refusal says enough, where a traceback each would bury real errors."""

import logging


class WarningWithoutTraceback(logging.Filter):
    def filter(self, record):
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
