"""Hardened by default: headers, hostile input and the MDN HTTP Observatory's grade,
against the real stack (bin/web: nginx -> gunicorn -> Django -> the suite's database)."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.servers import (
    HTTP_PORT,
    PROXY_LINE,
    PROXY_PORT,
    ROOT,
    SESSION_COOKIE,
    Balancer,
    http_request,
    raw_request,
    require,
    require_ports,
    unavailable,
    via_balancer,
)

OBSERVATORY = "@mdn/mdn-http-observatory@1.4.8"


def still_serving():
    status, _, body = via_balancer("GET", "/admin/login/")
    return status == 200 and b'name="csrfmiddlewaretoken"' in body


# --- headers ---------------------------------------------------------------------------------


def test_security_headers_on_4001(web):
    status, headers, _ = via_balancer("GET", "/admin/login/")
    assert status == 200
    one = {name: values[0] for name, values in headers.items()}
    assert one["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    csp = one["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert one["x-content-type-options"] == "nosniff"
    assert one["referrer-policy"] == "same-origin"
    assert one["x-frame-options"] == "DENY"
    assert one["cross-origin-opener-policy"] == "same-origin"
    assert one["server"] == "nginx"


def test_cookies_are_secure_httponly_and_samesite(web, web_env):
    _, headers, _ = via_balancer("GET", "/admin/login/")
    (csrf,) = headers["set-cookie"]
    assert all(flag in csrf for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"))
    # __Host-: the browser takes it only from this host over HTTPS, at /, with no Domain.
    assert csrf.startswith("__Host-csrftoken=") and "domain=" not in csrf.lower()
    # The session cookie, from logging into the admin.
    from tests.servers import login_post

    status, headers, _ = raw_request(PROXY_PORT, login_post(), PROXY_LINE)
    assert status == 302
    session = [c for c in headers["set-cookie"] if c.startswith((f"{SESSION_COOKIE}=", "messages="))]
    assert session and all("Secure" in c and "HttpOnly" in c and "SameSite=Lax" in c for c in session)
    assert session[0].startswith("__Host-sessionid=") and "domain=" not in session[0].lower()


# --- the policy: SECURE_CSP, Django 6.0's setting, sent by our middleware on 5.2 ---------------

DEFAULT_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def test_default_policy(load_settings):
    from exampleproject.middleware import build_policy
    from tests.test_settings import PRODUCTION

    assert build_policy(load_settings(**PRODUCTION)["SECURE_CSP"]) == DEFAULT_POLICY


def test_secure_csp_sent_as_django_6_sends_it(settings):
    """The header Django 6.0's django.utils.csp.build_policy writes for the same dict; a header
    the view set is kept, and an empty SECURE_CSP sends none."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from exampleproject.middleware import ContentSecurityPolicyMiddleware

    settings.SECURE_CSP = {
        "default-src": ["'self'"],
        "img-src": {"https://media.example.com", "'self'"},  # a set: sorted
        "report-uri": "/csp-report/",  # a string: one value
        "upgrade-insecure-requests": True,  # no value
        "frame-src": None,  # left out, as are False and empty lists
        "sandbox": False,
        "media-src": [],
    }
    request = RequestFactory().get("/")
    response = ContentSecurityPolicyMiddleware(lambda request: HttpResponse())(request)
    assert response["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' https://media.example.com; report-uri /csp-report/; "
        "upgrade-insecure-requests"
    )
    own = HttpResponse(headers={"Content-Security-Policy": "default-src 'none'; sandbox"})
    assert ContentSecurityPolicyMiddleware(lambda request: own)(request)["Content-Security-Policy"] == (
        "default-src 'none'; sandbox"
    )
    settings.SECURE_CSP = {}
    assert "Content-Security-Policy" not in ContentSecurityPolicyMiddleware(lambda request: HttpResponse())(request)


def test_debug_reports_the_policy_instead_of_enforcing_it(load_settings, settings, caplog):
    """Under DEBUG the policy goes out report-only, with runserver's endpoint for the reports, so
    Django's own debug pages work; in production it is enforced and there is no endpoint.
    tests/test_recipes.py sees the same from bin/dev."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from exampleproject.middleware import ContentSecurityPolicyMiddleware, build_policy
    from tests.test_settings import PRODUCTION

    debug = load_settings(DEBUG="true")
    assert debug["SECURE_CSP"] == {}
    assert build_policy(debug["SECURE_CSP_REPORT_ONLY"]) == DEFAULT_POLICY + "; report-uri /__csp-report__"
    production = load_settings(**PRODUCTION)
    assert production["SECURE_CSP_REPORT_ONLY"] == {} and build_policy(production["SECURE_CSP"]) == DEFAULT_POLICY

    settings.DEBUG, settings.SECURE_CSP_REPORT_ONLY = False, {"default-src": ["'self'"], "report-uri": "/r"}
    post = RequestFactory().post("/r", b'{"csp-report": {}}', content_type="application/csp-report")
    response = ContentSecurityPolicyMiddleware(lambda request: HttpResponse("the view"))(post)
    assert response.content == b"the view"  # without DEBUG, no endpoint: the request goes on to the URLs
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'self'; report-uri /r"

    settings.DEBUG = True
    for body, status in ((b'{"csp-report": {"blocked-uri": "inline"}}', 204), (b"[1]", 400), (b"{", 400)):
        post = RequestFactory().post("/r", body, content_type="application/csp-report")
        assert ContentSecurityPolicyMiddleware(lambda request: HttpResponse())(post).status_code == status
    assert [record.getMessage().count("production would block") for record in caplog.records] == [1]


def test_secure_csp_variable_replaces_the_directives_it_names(load_settings):
    from tests.test_settings import PRODUCTION

    s = load_settings(
        SECURE_CSP="script-src 'self' https://p.example;img-src 'self' https://a.example; upgrade-insecure-requests;",
        STORAGE_URL="s3://key:secret@media?region=eu-west-1",
        **PRODUCTION,
    )
    csp = s["SECURE_CSP"]
    assert csp["script-src"] == ["'self'", "https://p.example"]
    assert csp["upgrade-insecure-requests"] is True
    assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]  # the rest kept
    # The bucket's origin is allowed even where the variable replaced img-src.
    assert csp["img-src"] == ["'self'", "https://a.example", "https://media.s3.eu-west-1.amazonaws.com"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("script-src self", "SECURE_CSP: write self in single quotes"),
        ("Content-Security-Policy: img-src 'self'", "SECURE_CSP: 'Content-Security-Policy:' is not a CSP directive"),
    ],
)
def test_bad_secure_csp_named(load_settings, value, expected):
    from tests.test_settings import PRODUCTION, configuration_error

    assert expected in configuration_error(load_settings, **{**PRODUCTION, "SECURE_CSP": value})


def test_check_deploy_is_clean_with_production_settings():
    from tests.servers import PRODUCTION_ENV
    from tests.test_settings import run_manage

    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", environ={**PRODUCTION_ENV, "ALLOWED_HOSTS": "example.com"}
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the MDN HTTP Observatory ------------------------------------------------------------------


@pytest.fixture(scope="module")
def observatory():
    """MDN's own grader, from the npm registry, in the user's cache (not in each clone). Tests
    reach no network by themselves: OBSERVATORY_INSTALL=1 lets this one install it, once per
    version (CI sets it). Installed without its scripts, which download lists: it gets our
    empty HSTS preload list instead."""
    require("node", "the Observatory grader runs on Node.js")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    prefix = cache / "exampleproject-tests" / OBSERVATORY.replace("/", "-")
    package = prefix / "node_modules" / "@mdn" / "mdn-http-observatory"
    if not (package / "src" / "scan.js").exists():
        if os.environ.get("OBSERVATORY_INSTALL") != "1":
            unavailable(
                f"MDN's grader {OBSERVATORY} is not installed; OBSERVATORY_INSTALL=1 bin/test "
                "tests/test_security.py installs it from the npm registry"
            )
        require("npm", "the Observatory grader is an npm package")
        npm = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(prefix)]
        subprocess.run([*npm, OBSERVATORY], check=True, capture_output=True, timeout=300)
    shutil.copy(ROOT / "tests" / "hsts-preload.json", package / "conf" / "hsts-preload.json")
    return package / "src" / "scan.js"


@pytest.fixture(scope="module")
def balancer_on_443(web, tmp_path_factory):
    """HAProxy on 443 (TLS, PROXY protocol to 4001) and 80 (to 4000): the grader scans
    https://localhost and checks that http://localhost redirects there."""
    require("haproxy", "the grader scans through HAProxy (Debian package haproxy)")
    require_ports(80, 443, why="the grader scans https://localhost and http://localhost through HAProxy")
    status, _, _ = raw_request(PROXY_PORT, http_request("GET", "/"), PROXY_LINE)
    if status == 404:
        pytest.skip("the site has no home page (/ answers 404), and the Observatory grades a site's home page")
    balancer = Balancer(tmp_path_factory.mktemp("balancer443"), https_port=443, http_port=80)
    yield balancer
    balancer.stop()


def test_observatory_grades_a_plus(observatory, balancer_on_443):
    # The grader grades the home page, https://localhost/, which the site's app serves (the
    # example app's guestbook here): it refuses a site whose / answers 404.
    # The grader checks certificates itself: our self-signed one is made trusted, rather
    # than turning verification off, which it would grade as an invalid certificate.
    scan = subprocess.run(
        ["node", str(observatory), "localhost"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(balancer_on_443.cafile)},
    )
    assert scan.returncode == 0, scan.stderr
    report = json.loads(scan.stdout)
    failed = {name: test["result"] for name, test in report["tests"].items() if not test["pass"]}
    assert report["scan"]["grade"] == "A+", (report["scan"], failed)
    assert failed == {}


# --- hostile input: each a clean 4xx or a closed connection, and the server keeps serving ----


def test_unknown_host_gets_400_not_500(web):
    for host in ("evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "a" * 300):
        status, _, body = via_balancer("GET", "/admin/login/", host=host)
        assert status == 400, host
        assert b"Traceback" not in body
    assert raw_request(HTTP_PORT, http_request("GET", "/healthz", host="evil.example"))[0] == 200
    assert still_serving()


def test_body_over_the_limit_gets_413(web):
    status, _, _ = via_balancer(
        "POST",
        "/admin/login/",
        body=b"x" * (10 * 1024 * 1024 + 1),
        headers=["Content-Type: application/x-www-form-urlencoded"],
    )
    assert status == 413
    assert still_serving()


def test_oversized_header_gets_4xx(web):
    status, _, _ = via_balancer("GET", "/admin/login/", headers=["X-Big: " + "b" * 20000])
    assert 400 <= status < 500
    status, _, _ = via_balancer("GET", "/" + "a" * 20000)
    assert 400 <= status < 500
    assert still_serving()


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 not-an-address 192.0.2.1 1 443\r\n",
        b"PROXY UNKNOWN-GARBAGE\r\n",
        b"GET / HTTP/1.1\r\n",  # no PROXY line at all
    ],
)
def test_malformed_or_missing_proxy_header_is_dropped(web, line):
    with socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=10) as sock:
        sock.sendall(line + b"Host: localhost\r\n\r\n")
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
    assert not data.startswith(b"HTTP/1.1 200") and b" 5" not in data[:13]
    assert still_serving()


@pytest.mark.parametrize("port, proxy_line", [(HTTP_PORT, None), (PROXY_PORT, PROXY_LINE)])
def test_spoofed_forwarding_headers_change_nothing(web, port, proxy_line):
    spoof = [
        "X-Forwarded-Proto: https",
        "X-Forwarded-For: 6.6.6.6",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Port: 443",
        "Forwarded: for=6.6.6.6;proto=https;host=evil.example",
    ]
    status, headers, body = raw_request(port, http_request("GET", "/admin/login/?spoof", headers=spoof), proxy_line)
    if port == HTTP_PORT:
        assert (status, headers["location"]) == (301, ["https://localhost/admin/login/?spoof"])
    else:
        assert status == 200 and b"evil.example" not in body
    time.sleep(0.2)
    assert "6.6.6.6" not in web.log


@pytest.mark.parametrize(
    "path",
    [
        "/static/../manage.py",
        "/static/..%2fmanage.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/admin/../../exampleproject/settings.py",
        "/media/../manage.py",
        "/media/%2e%2e/exampleproject/settings.py",
        "/static//etc/passwd",
    ],
)
def test_path_traversal_finds_nothing(web, path):
    status, _, body = via_balancer("GET", path)
    assert status in (400, 404)
    assert b"SECRET_KEY" not in body and b"root:" not in body and b"django" not in body.lower()


# --- slow clients ----------------------------------------------------------------------------


def trickle(data, every, results, key):
    """Send `data` one byte at a time, `every` seconds apart; record how the server ended it."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=30) as sock:
            sock.sendall(PROXY_LINE)
            for byte in data:
                sock.sendall(bytes([byte]))
                time.sleep(every)
            results[key] = ("completed", time.monotonic() - started)
    except OSError:
        results[key] = ("cut off", time.monotonic() - started)


def test_slow_loris_headers_are_cut_off(web):
    """Headers a byte every 0.5 s: nginx gives up after its 10 s header timeout, and the
    gunicorn workers never see these clients."""
    results = {}
    threads = [
        threading.Thread(
            target=trickle,
            args=(b"GET /admin/login/ HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 60, 0.5, results, i),
        )
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)
    started = time.monotonic()
    assert still_serving()  # others are served meanwhile, at once
    assert time.monotonic() - started < 2
    for thread in threads:
        thread.join(timeout=40)
    assert all(outcome == "cut off" and 9 <= seconds <= 16 for outcome, seconds in results.values()), results


def test_stalled_body_is_cut_off(web):
    """A body that stops arriving: nginx ends it after 10 s without a byte (408)."""
    body = b"username=slow&password=" + b"p" * 100
    form = ["Content-Type: application/x-www-form-urlencoded"]
    request = http_request("POST", "/admin/login/", headers=form, body=body)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=30) as sock:
        sock.sendall(PROXY_LINE + request[:-50])  # then nothing
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
    waited = time.monotonic() - started
    assert 9 <= waited <= 16
    assert data == b"" or data.startswith(b"HTTP/1.1 408")
    assert still_serving()
