"""The project's middleware, in the order settings.MIDDLEWARE runs them: the health probes, the
Content-Security-Policy header, and a 503 for an outage of the database, Redis or S3."""

import json
import logging
import time

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from redis.exceptions import RedisError

from exampleproject.web import PROBES, READINESS

logger = logging.getLogger(__name__)


def check_database():
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connections["default"].close()  # the next request opens a new one
        raise


def check_cache():
    cache.set("readyz", "ok", timeout=10)
    if cache.get("readyz") != "ok":
        raise RuntimeError("the cache did not return what was stored")


def check_storage():
    # HeadBucket: the bucket exists and these credentials may use it; one request, within the storage's timeouts.
    default_storage.connection.meta.client.head_bucket(Bucket=default_storage.bucket_name)


def liveness():
    """The process answers: "restart me if I stop answering"."""
    return 200, {"status": "ok"}


def readiness():
    """Each service this configuration uses answers, or 503 names those that fail: "no traffic for now"."""
    checks = {"database": check_database}
    if settings.CACHE_ON_REDIS:
        checks["cache"] = check_cache
    if not settings.MEDIA_ON_DISK:
        checks["storage"] = check_storage
    results = {}
    for name, check in checks.items():
        started = time.monotonic()
        try:
            check()
            results[name] = {"status": "ok"}
        except Exception as exc:
            # Host names and driver messages go to the log, not to the caller.
            logger.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = {"status": "error", "error": type(exc).__name__}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    if failed := [name for name, result in results.items() if result["status"] != "ok"]:
        return 503, {"status": "unavailable", "failed": failed, "checks": results}
    return 200, {"status": "ok", "checks": results}


class HealthCheckMiddleware(MiddlewareMixin):
    """Answers GET and HEAD on the probe paths first: probes send an IP address as Host, over plain
    HTTP, which ALLOWED_HOSTS and the HTTPS redirect would refuse."""

    def process_request(self, request):
        if request.path_info in PROBES and request.method in ("GET", "HEAD"):
            status, body = readiness() if request.path_info == READINESS else liveness()
            return JsonResponse(body, status=status, headers={"Cache-Control": "no-store"})


def build_policy(config):
    """The header for a SECURE_CSP dict, as Django 6.0's build_policy writes it, nonces aside."""
    policy = []
    for directive, values in config.items():
        if values is True:
            policy.append(directive)
        elif values not in (None, False):
            values = sorted(values) if isinstance(values, set) else [values] if isinstance(values, str) else values
            if values:
                policy.append(f"{directive} {' '.join(values)}")
    return "; ".join(policy)


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Django 6.0's (docs/decisions.md, "Content-Security-Policy on Django 5.2"): on 6.0, use
    django.middleware.csp.ContentSecurityPolicyMiddleware and delete this class and build_policy.
    Under DEBUG it also logs the browser's reports of what the policy would block."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.headers = {  # once per process, not per response
            "Content-Security-Policy": build_policy(settings.SECURE_CSP),
            "Content-Security-Policy-Report-Only": build_policy(settings.SECURE_CSP_REPORT_ONLY),
        }
        self.report_path = settings.DEBUG and settings.SECURE_CSP_REPORT_ONLY.get("report-uri")

    def process_request(self, request):
        if self.report_path and request.path == self.report_path and request.method == "POST":
            try:
                report = json.loads(request.body)["csp-report"]
                what = report.get("blocked-uri") or "?"
                where = f"{report.get('document-uri', '?')} line {report.get('line-number', '?')}"
                directive = report.get("effective-directive") or report.get("violated-directive", "?")
            except (ValueError, KeyError, TypeError, AttributeError):
                return HttpResponse(status=400)
            # %r: what a page reports is quoted and escaped, so it cannot forge a log line.
            logger.warning(
                "Content-Security-Policy: production would block %r (%s) at %r; allow it in SECURE_CSP "
                "or move it to a static file",
                what,
                directive,
                where,
            )
            return HttpResponse(status=204)
        return None

    def process_response(self, request, response):
        for name, value in self.headers.items():
            if value and name not in response:  # a view's own header is kept
                response.headers[name] = value
        return response


# What S3 raises when it is unreachable or refuses; STORAGE_ERRORS adds the filesystem's (a full disk).
S3_ERRORS = (BotoCoreError, ClientError)
STORAGE_ERRORS = (OSError, *S3_ERRORS)


class ServiceUnavailableMiddleware(MiddlewareMixin):
    """A service's outage (a restart, a failover) answers 503 with Retry-After, which balancers and
    clients take as "try again", and logs one line; the next request reconnects."""

    def process_exception(self, request, exception):
        errors = {"database": (OperationalError, InterfaceError), "cache": RedisError, "file storage": S3_ERRORS}
        dependency = next((name for name, error in errors.items() if isinstance(exception, error)), None)
        if dependency is None:
            return None
        error = f"{type(exception).__name__}: {(str(exception).strip().splitlines() or [''])[0]}"
        # %r: the path is the client's, quoted and escaped, so a %0a in it cannot forge a log line.
        logger.warning("%s unavailable for %s %r: %s", dependency, request.method, request.path, error)
        return HttpResponse(
            "<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
            f"<p>The site cannot reach its {dependency} right now. Please try again in a moment.</p>",
            status=503,
            headers={"Retry-After": "5", "Cache-Control": "no-store"},  # about a database restart's length
        )
