"""
An outage of the database (or of Redis, or of S3) answers 503, quickly, instead of a 500
or a hang.

When the database restarts or fails over, queries fail with OperationalError (the
connection timeout, DATABASE_CONNECT_TIMEOUT, bounds how long that takes); Redis errors
come after at most 2 s. That is not a bug in the app: the request is refused with 503
and Retry-After, which balancers and clients treat as "try again", and the log gets one
line naming the dependency. The next request reconnects.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from exampleproject.services import S3_ERRORS

try:
    from redis.exceptions import RedisError
except ImportError:  # Redis is optional
    RedisError = ()

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # about how long a database restart or failover takes


class ServiceUnavailableMiddleware:
    """503 with Retry-After when the database, Redis or S3 cannot be reached."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            dependency = "database"
        elif isinstance(exception, RedisError):
            dependency = "cache"
        elif isinstance(exception, S3_ERRORS):
            dependency = "file storage"
        else:
            return None
        logger.warning(
            "%s unavailable for %s %s: %s: %s",
            dependency,
            request.method,
            request.path,
            type(exception).__name__,
            str(exception).strip().splitlines()[0] if str(exception).strip() else "",
        )
        response = HttpResponse(
            "<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
            f"<p>The site cannot reach its {dependency} right now. Please try again in a moment.</p>",
            status=503,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
