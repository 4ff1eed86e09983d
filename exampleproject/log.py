"""What settings.LOGGING and Django's error reports use: a filter for the refused Host headers
bots send all day (one WARNING line each, where a traceback each would bury real errors), and
error reports to ADMINS that carry no visitor's data."""

import logging

from django.views.debug import SafeExceptionReporterFilter


class WarningWithoutTraceback(logging.Filter):
    def filter(self, record):
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class PrivateExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error reports name each form field and cookie, never its value: what a visitor typed (a
    guestbook message, a password) and their session stay out of ADMINS' mailboxes."""

    def get_post_parameters(self, request):
        return {name: self.cleansed_substitute for name in request.POST} if request is not None else {}

    def get_safe_cookies(self, request):
        return {name: self.cleansed_substitute for name in request.COOKIES} if request is not None else {}
