"""The project's middleware, in the order settings.MIDDLEWARE runs them: the health probes, the
Content-Security-Policy header, bin/gunicorn's limit on POSTs, and a 503 for an outage of the
database, Redis or S3."""

import functools
import ipaddress
import json
import logging
import math
import threading
import time

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import MiddlewareNotUsed
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from redis.exceptions import RedisError

from exampleproject import web

logger = logging.getLogger(__name__)


def one_line(exception):
    return f"{type(exception).__name__}: {(str(exception).strip().splitlines() or [''])[0]}"


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


# One try, a second to connect and one to answer: the storage's own retries and 10 s reads (parse.py)
# would keep a probe waiting 24 s, past every platform's probe timeout.
PROBE_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1})


@functools.cache
def storage_probe():
    s3 = default_storage
    return s3._create_session().client(
        "s3",
        region_name=s3.region_name,
        use_ssl=s3.use_ssl,
        endpoint_url=s3.endpoint_url,
        config=s3.client_config.merge(PROBE_CONFIG),
        verify=s3.verify,
    )


def check_storage():
    # HeadBucket: the bucket exists and these credentials may use it.
    storage_probe().head_bucket(Bucket=default_storage.bucket_name)


def liveness():
    """The process answers: "restart me if I stop answering"."""
    return 200, {"status": "ok"}


# Each process reuses its readiness this long: a probe every second, or a stranger's thousand, costs
# each service one check per interval per worker (docs/decisions.md, "Readiness: cheap, bounded, and no oracle").
READINESS_SECONDS = 3
_readiness = {"until": 0.0, "answer": None, "failed": None}
_readiness_lock = threading.Lock()


def readiness():
    """Each service this configuration uses answers, or 503: "no traffic for now". The first failure
    ends the round, which waits on at most one failing service's timeout (S3's 1 s, Redis's 2 s,
    DATABASE_CONNECT_TIMEOUT). Which failed is logged once, when it changes."""
    with _readiness_lock:
        if time.monotonic() < _readiness["until"]:
            return _readiness["answer"]
        checks = {"database": check_database}
        if settings.CACHE_ON_REDIS:
            checks["cache"] = check_cache
        if not settings.MEDIA_ON_DISK:
            checks["storage"] = check_storage
        results, failed = {}, None
        for name, check in checks.items():
            started = time.monotonic()
            try:
                check()
                results[name] = {"status": "ok"}
            except Exception as exc:
                results[name] = {"status": "error", "error": type(exc).__name__}
                failed = name, type(exc).__name__
                if failed != _readiness["failed"]:  # host names and driver messages: for the log only
                    logger.warning("readiness: %s failed: %s", name, one_line(exc))
            results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
            if failed:
                break
        if failed:
            answer = 503, {"status": "unavailable", "failed": [failed[0]], "checks": results}
        else:
            answer = 200, {"status": "ok", "checks": results}
            if _readiness["failed"]:
                logger.info("readiness: ready again")
        _readiness.update(until=time.monotonic() + READINESS_SECONDS, answer=answer, failed=failed)
        return answer


def from_this_machine(request):
    """An operator in the container, or the image's own checks: a loopback address. Not a private
    one: behind Swarm's routing mesh or an HTTP balancer every stranger comes from a private address."""
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class HealthCheckMiddleware(MiddlewareMixin):
    """Answers GET and HEAD on the probe paths first: probes send an IP address as Host, over plain
    HTTP, which ALLOWED_HOSTS and the HTTPS redirect would refuse. Readiness tells others only
    up or down: which service failed is no one else's business (the log has it)."""

    def process_request(self, request):
        if request.path_info in web.PROBES and request.method in ("GET", "HEAD"):
            status, body = readiness() if request.path_info == web.READINESS else liveness()
            if not from_this_machine(request):
                body = {"status": body["status"]}
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


def service_unavailable(request, dependency, exception):
    """503 with Retry-After, which balancers and clients take as "try again", and one log line."""
    # %r: the path is the client's, quoted and escaped, so a %0a in it cannot forge a log line.
    logger.warning("%s unavailable for %s %r: %s", dependency, request.method, request.path, one_line(exception))
    return HttpResponse(
        "<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
        f"<p>The site cannot reach its {dependency} right now. Please try again in a moment.</p>",
        status=503,
        headers={"Retry-After": "5", "Cache-Control": "no-store"},  # about a database restart's length
    )


class PostLimitMiddleware:
    """Under bin/gunicorn no nginx limits POSTs (conf/nginx.conf): the same rate per client address,
    POST_AT_ONCE each 60 / POSTS_PER_MINUTE seconds, the rest 429 with Retry-After. Not held back as
    nginx holds them (POST_BURST): here a held request would hold a worker. Counted in the cache:
    with REDIS_URL across workers; without, in each worker, so up to WEB_CONCURRENCY times the rate."""

    def __init__(self, get_response):
        if not (web.GUNICORN_PORT and web.POSTS_PER_MINUTE):
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.interval = 60 / web.POSTS_PER_MINUTE

    def __call__(self, request):
        if request.method != "POST":
            return self.get_response(request)
        address, now = request.META["REMOTE_ADDR"], time.time()
        window = int(now // self.interval)
        key = f"post-limit:{address}:{window}"
        try:
            cache.add(key, 0, timeout=math.ceil(self.interval) + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between the two
                count = cache.get_or_set(key, 1, timeout=math.ceil(self.interval) + 1)
        except RedisError as exc:
            return service_unavailable(request, "cache", exc)
        if count <= web.POST_AT_ONCE:
            return self.get_response(request)
        if count == web.POST_AT_ONCE + 1:  # once per address and interval, not per refusal
            logger.warning("POST limit: %s over %d per %g s; answering 429", address, web.POST_AT_ONCE, self.interval)
        retry = max(1, math.ceil((window + 1) * self.interval - now))
        return HttpResponse(
            f"Too many requests from your address: try again in {retry} s.\n",
            status=429,
            content_type="text/plain",
            headers={"Retry-After": str(retry), "Cache-Control": "no-store"},
        )


class ServiceUnavailableMiddleware(MiddlewareMixin):
    """A service's outage (a restart, a failover) answers 503 (service_unavailable); the next request
    reconnects."""

    def process_exception(self, request, exception):
        errors = {"database": (OperationalError, InterfaceError), "cache": RedisError, "file storage": S3_ERRORS}
        dependency = next((name for name, error in errors.items() if isinstance(exception, error)), None)
        if dependency is None:
            return None
        return service_unavailable(request, dependency, exception)
