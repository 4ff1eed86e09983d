"""
Health probes, by the Kubernetes naming convention, for load balancers and platforms.

/healthz (liveness) answers from the process alone: "restart me if I stop answering".
/readyz (readiness) checks each dependency and answers 503 naming the ones that failed:
"send me no traffic for now": the database, Redis when REDIS_URL is set, and the bucket
when STORAGE_URL is on S3. Both run before every other middleware, because probes send
an IP address or an internal name as Host and use plain HTTP.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)


def check_database():
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # Drop the broken connection so the next request opens a new one.
        connection.close()
        raise


def check_cache():
    cache.set("readyz", "ok", timeout=10)
    if cache.get("readyz") != "ok":
        raise RuntimeError("the cache did not return what was stored")


def check_storage():
    # HeadBucket: the bucket exists and these credentials may use it; one small request,
    # bounded by the storage's timeouts (exampleproject/services.py).
    default_storage.connection.meta.client.head_bucket(Bucket=default_storage.bucket_name)


def readiness_checks():
    """Each dependency the app is configured to use, by the name readiness reports."""
    checks = {"database": check_database}
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        checks["cache"] = check_cache
    if settings.STORAGES["default"]["BACKEND"].endswith("S3Storage"):
        checks["storage"] = check_storage
    return checks


def _probe_response(body, status=200):
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def liveness(request):
    return _probe_response({"status": "ok"})


def readiness(request):
    checks = {}
    for name, check in readiness_checks().items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:
            # The details (host names, driver messages) go to the log, not to the caller.
            logger.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
            checks[name] = {"status": "error", "error": type(exc).__name__}
        else:
            checks[name] = {"status": "ok"}
        checks[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    failed = [name for name, result in checks.items() if result["status"] != "ok"]
    if failed:
        return _probe_response({"status": "unavailable", "failed": failed, "checks": checks}, status=503)
    return _probe_response({"status": "ok", "checks": checks})


PROBES = {"/healthz": liveness, "/readyz": readiness}


class HealthCheckMiddleware:
    """Answer GET and HEAD on the probe paths before any other middleware runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
