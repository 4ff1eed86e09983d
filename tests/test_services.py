"""Backing services, each one URL away: cache and sessions (Redis), email (SMTP), error
tracking (Sentry). Each is tested switched on against a real server on 127.0.0.1: the
machine's Redis, a redis-server the test starts (to stop it), aiosmtpd, and a local
HTTP endpoint that receives Sentry's envelopes."""

import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.servers import (
    CSRF_COOKIE,
    ROOT,
    SESSION_COOKIE,
    csrf_token,
    free_port,
    gunicorn,
    readiness_until,
    request,
    require,
    unavailable,
    wait_until_listening,
)
from tests.test_settings import PRODUCTION, configuration_error

# --- settings ----------------------------------------------------------------------------------


def test_services_off_by_default(load_settings):
    s = load_settings(**PRODUCTION)
    assert s["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert "SESSION_ENGINE" not in s
    assert s["EMAIL_BACKEND"].endswith("console.EmailBackend")
    assert s["ADMINS"] == []
    assert s["SENTRY_DSN"] is None


def test_redis_url_gives_the_cache_and_sessions(load_settings):
    s = load_settings(REDIS_URL="redis://127.0.0.1:6379/3", **PRODUCTION)
    cache = s["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/3"
    assert cache["OPTIONS"] == {"socket_connect_timeout": 2, "socket_timeout": 2}
    assert s["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"
    tls = load_settings(REDIS_URL="rediss://b:6380/2", **PRODUCTION)["CACHES"]["default"]
    assert tls["LOCATION"] == "rediss://b:6380/2"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("smtp://mailer:p%40ss@mail.example.com", ("mail.example.com", 25, "mailer", "p@ss", False, False)),
        ("submission://u:p@mail.example.com", ("mail.example.com", 587, "u", "p", True, False)),
        ("smtps://u:p@mail.example.com:2465", ("mail.example.com", 2465, "u", "p", False, True)),
    ],
)
def test_email_url(load_settings, url, expected):
    s = load_settings(EMAIL_URL=url, ADMINS="ops@example.com, dev@example.com", **PRODUCTION)
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (
        s["EMAIL_HOST"],
        s["EMAIL_PORT"],
        s["EMAIL_HOST_USER"],
        s["EMAIL_HOST_PASSWORD"],
        s["EMAIL_USE_TLS"],
        s["EMAIL_USE_SSL"],
    ) == expected
    assert s["ADMINS"] == [("", "ops@example.com"), ("", "dev@example.com")]
    assert s["EMAIL_TIMEOUT"] == 5


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("REDIS_URL", "memcached://127.0.0.1:11211", "REDIS_URL: expected redis:// or rediss://"),
        ("REDIS_URL", "127.0.0.1:6379", "REDIS_URL: expected redis:// or rediss://"),
        (
            "REDIS_URL",
            "redis://:hunter2@cache:port/0",
            "REDIS_URL: expected redis:// or rediss:// (TLS) with a numeric port",
        ),
        ("REDIS_URL", "redis://cache:6379/0,memcached://cache", "REDIS_URL: expected redis:// or rediss://"),
        ("EMAIL_URL", "mail://u:hunter2@host", "EMAIL_URL: expected smtp://"),
        ("EMAIL_URL", "smtp://u:hunter2@host:port", "EMAIL_URL: cannot parse this smtp:// URL"),
        ("ADMINS", "ops.example.com", "ADMINS: 'ops.example.com' is not an email address"),
        ("SENTRY_DSN", "not-a-dsn", "SENTRY_DSN: not a Sentry DSN"),
        ("SENTRY_TRACES_SAMPLE_RATE", "2", "SENTRY_TRACES_SAMPLE_RATE: expected a number from 0 to 1"),
    ],
)
def test_bad_service_urls_named(load_settings, name, value, expected):
    message = configuration_error(load_settings, **{**PRODUCTION, name: value})
    assert expected in message
    assert "hunter2" not in message


# --- Redis: cache and sessions ------------------------------------------------------------------


def signed_in_admin(port):
    """Log into the admin through the real server: a session, kept in the cache. Cookies
    are carried by hand: they are Secure, and this is plain HTTP marked as https."""
    https = {"X-Forwarded-Proto": "https"}
    _, headers, body = request(port, "/admin/login/", headers=https)
    token = csrf_token(body)
    csrf = headers["set-cookie"].split(";")[0]
    form = (
        f"username=cacheadmin&password=a-long-password-for-the-cache-test&csrfmiddlewaretoken={token}&next=/admin/"
    ).encode()
    status, headers, _ = request(
        port,
        "/admin/login/",
        method="POST",
        body=form,
        headers={
            **https,
            "Cookie": csrf,
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"https://127.0.0.1:{port}/admin/login/",
        },
    )
    assert status == 302, status
    session = re.search(rf"{SESSION_COOKIE}=([^;]+)", headers["set-cookie"]).group(1)
    return {SESSION_COOKIE: session, CSRF_COOKIE: csrf.split("=", 1)[1]}


def redis_keys(port, pattern):
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "-n", "9", "--scan", "--pattern", pattern],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_sessions_live_in_the_machines_redis(service_env):
    require("redis-cli", "the cache test reads Redis with redis-cli")
    if subprocess.run(["redis-cli", "ping"], capture_output=True, text=True, timeout=10).stdout.strip() != "PONG":
        unavailable("no Redis answers on 127.0.0.1:6379 (the sessions test uses this machine's)")
    subprocess.run(["redis-cli", "-n", "9", "flushdb"], check=True, capture_output=True)
    with gunicorn({**service_env, "REDIS_URL": "redis://127.0.0.1:6379/9"}) as port:
        status, _, body = request(port, "/readyz")
        assert status == 200 and json.loads(body)["checks"]["cache"]["status"] == "ok"
        cookies = signed_in_admin(port)
        assert any(cookies[SESSION_COOKIE] in key for key in redis_keys(6379, "*django.contrib.sessions*"))


class RedisServer:
    """A redis-server of the test's own, on a free port, to stop and start."""

    def __init__(self, tmp_path):
        self.port, self.dir = free_port(), tmp_path
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port, self.process)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def test_redis_stopping_and_returning(service_env, tmp_path):
    """Redis down: readiness answers 503 naming the cache, liveness stays 200 (no restart
    loop), pages that need no session still work, and a page that needs one answers 503
    within Redis's 2 s timeout. Redis back: everything works again, same processes."""
    require("redis-server", "the outage test starts its own Redis (Debian package redis-server)")
    redis = RedisServer(tmp_path)
    try:
        with gunicorn({**service_env, "REDIS_URL": f"redis://127.0.0.1:{redis.port}/9"}) as port:
            cookies = signed_in_admin(port)
            session = [f"Cookie: {'; '.join(f'{name}={value}' for name, value in cookies.items())}"]
            https = {"X-Forwarded-Proto": "https"}
            redis.stop()
            status, _, body = readiness_until(port, 503)
            body = json.loads(body)
            assert status == 503 and body["failed"] == ["cache"]
            assert body["checks"]["cache"]["error"] == "ConnectionError"
            assert body["checks"]["database"]["status"] == "ok"
            assert request(port, "/healthz")[0] == 200
            assert request(port, "/admin/login/", headers=https)[0] == 200  # a page that needs no session
            started = time.monotonic()
            status, headers, body = request(port, "/admin/", headers={**https, "Cookie": session[0][8:]})
            assert status == 503 and b"cannot reach its cache" in body
            assert time.monotonic() - started < 5
            redis.start()  # empty: the session comes back from the database (cached_db)
            assert readiness_until(port, 200)[0] == 200
            status, _, body = request(port, "/admin/", headers={**https, "Cookie": session[0][8:]})
            assert status == 200 and b"Site administration" in body  # still logged in
    finally:
        if redis.process.poll() is None:
            redis.stop()


# --- email ---------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    """aiosmtpd on a free port, collecting what it receives."""
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    handler, port = Collect(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler.messages
    controller.stop()


def test_email_url_delivers_to_the_admins(service_env, smtp_server):
    """EMAIL_URL and ADMINS, end to end: Django's sendtestemail, through a real SMTP server."""
    smtp_port, messages = smtp_server
    env = {
        **service_env,
        "PATH": os.environ["PATH"],
        "ENV_FILE": "",
        "SECRET_KEY": "test-suite-only-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "ADMINS": "ops@example.com",
        "DEFAULT_FROM_EMAIL": "site@example.com",
    }
    sent = subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "--admins"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert sent.returncode == 0, sent.stderr
    ((recipients, content),) = messages
    assert recipients == ["ops@example.com"]
    assert "Subject: [exampleproject] Test email from" in content
    assert "From: site@example.com" in content


def test_a_500_reaches_the_admins_without_the_visitors_data(service_env, smtp_server):
    """Django's error report, through gunicorn and a real SMTP server, names the fields and cookies
    a visitor sent, never their values; the visitor gets the plain 500 page."""
    smtp_port, messages = smtp_server
    env = {
        **service_env,
        "ALLOWED_HOSTS": "127.0.0.1",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "ADMINS": "ops@example.com",
        "DJANGO_SETTINGS_MODULE": "tests.error_settings",
    }
    with gunicorn(env) as port:
        status, _, body = request(
            port,
            "/boom-post/",
            method="POST",
            body=b"name=Ada&message=VISITOR-PRIVATE-MESSAGE&password=hunter2-VISITOR",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": "sessionid=VISITOR-SESSION-COOKIE; csrftoken=VISITOR-CSRF",
                "X-Forwarded-Proto": "https",
            },
        )
        assert status == 500 and b"ZeroDivisionError" not in body
        deadline = time.monotonic() + 10
        while not messages and time.monotonic() < deadline:
            time.sleep(0.1)
    ((recipients, content),) = messages
    assert recipients == ["ops@example.com"]
    assert "ZeroDivisionError" in content and "/boom-post/" in content
    assert "message" in content and "sessionid" in content  # the names, for the reader
    assert "VISITOR" not in content and "hunter2" not in content


# --- Sentry ---------------------------------------------------------------------------------------


class Envelopes(BaseHTTPRequestHandler):
    """Stands in for Sentry: records each envelope POSTed to /api/<project>/envelope/."""

    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":  # sentry-sdk prefers Brotli when it is installed (it is: static files)
            import brotli

            body = brotli.decompress(body)
        items = [json.loads(line) for line in body.splitlines() if line.strip().startswith(b"{")]
        Envelopes.received.append((self.path, items))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


# Requests go through the real WSGI application, where sentry-sdk starts its transactions
# (Django's test client would bypass it), with a URLconf that adds a failing view.
SENTRY_SCRIPT = """
import sentry_sdk
from wsgiref.util import setup_testing_defaults
from django.core.wsgi import get_wsgi_application
from django.test import override_settings

application = get_wsgi_application()

def get(path, **headers):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, HTTP_HOST="testserver", HTTP_X_FORWARDED_PROTO="https",
                   REMOTE_ADDR="203.0.113.77", HTTP_COOKIE="sessionid=a-secret-session-cookie", **headers)
    status = []
    b"".join(application(environ, lambda s, h, exc_info=None: status.append(s)))
    return int(status[0].split()[0])

with override_settings(ROOT_URLCONF="tests.sentry_urls"):
    assert get("/boom/") == 500
    assert get("/admin/login/") == 200
    assert get("/healthz") == 200
    assert get("/readyz") == 200
sentry_sdk.flush(10)
"""


def test_errors_reach_sentry_without_personal_data(service_env):
    Envelopes.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "PATH": os.environ["PATH"],
            "ENV_FILE": "",
            "DJANGO_SETTINGS_MODULE": "exampleproject.settings",
            "SECRET_KEY": "test-suite-only-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "testserver",
            **service_env,
            "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_address[1]}/42",
            "SENTRY_TRACES_SAMPLE_RATE": "1.0",
            "SENTRY_ENVIRONMENT": "test",
        }
        result = subprocess.run(
            [sys.executable, "-c", SENTRY_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr[-3000:]
    finally:
        server.shutdown()
    items = [item for path, envelope in Envelopes.received if path == "/api/42/envelope/" for item in envelope]
    events = [i for i in items if i.get("exception")]
    assert len(events) == 1, result.stderr[-2000:]
    event = events[0]
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert event["environment"] == "test"
    text = json.dumps(items)
    assert "a-secret-session-cookie" not in text and "203.0.113.77" not in text
    transactions = [i["transaction"] for i in items if i.get("type") == "transaction" and "transaction" in i]
    assert "/admin/login/" in transactions or any(t.endswith("login") for t in transactions)
    assert not any("health" in t or "readiness" in t or "liveness" in t or "readyz" in t for t in transactions)
