"""bin/web on this machine: nginx on 4000/4001 in front of gunicorn, on the suite's database.

Debian's nginx, as in the image. Requests go to 127.0.0.1 only; those for port 4001
start with a PROXY protocol line, as the load balancer's port 443 sends them.
"""

import http.client
import json
import re
import socket

import pytest

from tests.servers import (
    CSRF_COOKIE,
    HTTP_PORT,
    PROXY_LINE,
    PROXY_PORT,
    SESSION_COOKIE,
    http_request,
    login_post,
    raw_request,
    session_key,
    via_balancer,
)


def body_json(body):
    return json.loads(body)


# --- port 4000: plain HTTP from the balancer's port 80 ------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_on_4000_with_an_ip_host(web, path):
    status, headers, body = raw_request(HTTP_PORT, http_request("GET", path, host="10.0.3.7"))
    assert status == 200
    assert body_json(body)["status"] == "ok"


def test_readiness_tells_a_client_only_up_or_down(web):
    """Through the balancer (a client's address) the answer is the status alone; from this
    machine (an operator, the image's checks) it names each service."""
    assert body_json(via_balancer("GET", "/readyz", host="10.0.3.7")[2]) == {"status": "ok"}
    status, _, body = raw_request(HTTP_PORT, http_request("GET", "/readyz", host="10.0.3.7"))
    assert status == 200 and body_json(body)["checks"]["database"]["status"] == "ok"


@pytest.mark.parametrize(
    "method, path", [("GET", "/"), ("GET", "/admin/"), ("POST", "/admin/login/"), ("GET", "/static/admin/css/base.css")]
)
def test_4000_redirects_everything_else_to_https(web, method, path):
    status, headers, _ = raw_request(HTTP_PORT, http_request(method, path + "?a=1", host="localhost"))
    assert status == 301
    assert headers["location"] == [f"https://localhost{path}?a=1"]


@pytest.mark.parametrize(
    "path, host, headers",
    [
        ("/admin/", "evil.example", []),
        ("/admin/", "evil.example:4000", []),
        ("/admin/", "localhost.evil.example", []),
        ("/admin/", "evillocalhost", []),
        ("/admin/", "127.0.0.1.evil.example", []),
        ("/", "evil.example", []),
        ("http://evil.example/admin/", "localhost", []),  # absolute form: nginx's $host is evil.example
        ("http://localhost/admin/", "evil.example", []),
        ("//evil.example/admin/", "localhost", []),
        ("/admin/", "localhost", ["X-Forwarded-Host: evil.example"]),
        ("/admin/", "LOCALHOST", []),
    ],
)
def test_4000_redirects_only_to_allowed_hosts(web, path, host, headers):
    """A redirect never names a host outside ALLOWED_HOSTS (localhost, 127.0.0.1 here): any other
    Host gets Django's 400, whatever the form of the request line."""
    status, response, _ = raw_request(HTTP_PORT, http_request("GET", path, host=host, headers=headers))
    locations = response.get("location", [])
    assert status in (301, 400), status
    assert all(location.startswith(("https://localhost/", "https://127.0.0.1/")) for location in locations), locations
    if host.split(":")[0].lower() not in ("localhost", "127.0.0.1") and not path.startswith("http://localhost"):
        assert status == 400


def test_spoofed_proto_on_4000_still_redirects(web):
    spoof = ["X-Forwarded-Proto: https", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Ssl: on"]
    status, headers, _ = raw_request(HTTP_PORT, http_request("GET", "/", headers=spoof))
    assert status == 301


# --- port 4001: PROXY protocol, TLS ended at the balancer ---------------------------------


def test_4001_serves_the_app_as_https(web):
    status, headers, body = via_balancer("GET", "/admin/login/")
    assert status == 200
    assert b'name="csrfmiddlewaretoken"' in body
    assert headers["strict-transport-security"] == ["max-age=31536000; includeSubDomains; preload"]
    (cookie,) = headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and "; Secure" in cookie and "HttpOnly" in cookie
    assert headers["server"] == ["nginx"]  # no version: server_tokens off


def test_client_address_comes_from_the_proxy_line(web):
    spoof = ["X-Forwarded-For: 6.6.6.6", "X-Real-IP: 6.6.6.7", "Forwarded: for=6.6.6.8"]
    status, _, _ = via_balancer("GET", "/admin/login/?whoami", headers=spoof)
    assert status == 200
    assert web.wait_for_log("/admin/login/?whoami"), web.log
    # One line, nginx's, with all gunicorn's carried: the client, status, bytes, gunicorn's time, the id.
    (line,) = [line for line in web.log.splitlines() if "/admin/login/?whoami" in line]
    assert re.fullmatch(
        r'203\.0\.113\.9 "GET \S+ HTTP/1\.1" 200 [1-9]\d* .* rt=[\d.]+ urt=[\d.]+ id=[0-9a-f]{32}', line
    )
    assert "6.6.6." not in web.log


def proxy_v2(client, port=51234):
    """A binary PROXY protocol v2 header: a TCP over IPv4 connection from `client`."""
    addresses = socket.inet_aton(client) + socket.inet_aton("192.0.2.1") + port.to_bytes(2) + (443).to_bytes(2)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + len(addresses).to_bytes(2) + addresses


# What a balancer sends first, and the client address nginx then logs (UNKNOWN: the balancer's own).
PROXY_HEADERS = {
    "v1-tcp4": (b"PROXY TCP4 203.0.113.21 192.0.2.1 51234 443\r\n", "203.0.113.21"),
    "v1-tcp6": (b"PROXY TCP6 2001:db8::21 2001:db8::1 51234 443\r\n", "2001:db8::21"),
    "v1-unknown": (b"PROXY UNKNOWN\r\n", "127.0.0.1"),
    "v2-tcp4": (proxy_v2("203.0.113.22"), "203.0.113.22"),
}


@pytest.mark.parametrize("kind", PROXY_HEADERS)
def test_the_balancers_proxy_header_is_believed(web, kind):
    """From WEB_BALANCER_IPS (the default: this machine, 127.0.0.1), every form of PROXY header
    gives the client's address, and 4001 is HTTPS."""
    header, client = PROXY_HEADERS[kind]
    status, headers, _ = raw_request(PROXY_PORT, http_request("GET", f"/admin/login/?from-{kind}"), header)
    assert status == 200 and "strict-transport-security" in headers
    assert web.wait_for_log(f'{client} "GET /admin/login/?from-{kind} HTTP/1.1" 200 '), web.log


@pytest.mark.parametrize("kind", PROXY_HEADERS)
@pytest.mark.parametrize(
    "spoof", [[], ["X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.99", "X-Real-IP: 203.0.113.99"]]
)
def test_a_proxy_header_from_anyone_else_is_refused(web, kind, spoof):
    """From 127.0.0.2, outside WEB_BALANCER_IPS, a connection to 4001 could choose its address and
    pass plain HTTP for HTTPS: nginx closes it unanswered (444), logs it with the peer's own
    address, and Django never sees it. 4000 still answers that peer."""
    header, client = PROXY_HEADERS[kind]
    path = f"/admin/login/?untrusted-{kind}-{len(spoof)}"
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        raw_request(PROXY_PORT, http_request("GET", path, headers=spoof), header, source="127.0.0.2")
    assert web.wait_for_log(f'127.0.0.2 "GET {path} HTTP/1.1" 444 0 '), web.log
    (logged,) = [line for line in web.log.splitlines() if path in line]  # nginx's, none from gunicorn
    assert logged.startswith("127.0.0.2 ")
    assert "203.0.113.99" not in web.log
    status, _, _ = raw_request(HTTP_PORT, http_request("GET", "/healthz", host="10.0.0.1"), source="127.0.0.2")
    assert status == 200


@pytest.mark.parametrize(
    "spoof",
    [
        [],
        ["X-Forwarded-For: 6.6.6.6"],
        ["X-Real-IP: 6.6.6.7"],
        ["X-Real-Ip: 6.6.6.7", "X_Real_IP: 6.6.6.7"],
        ["Forwarded: for=6.6.6.8", "True-Client-IP: 6.6.6.9", "CF-Connecting-IP: 6.6.6.9"],
    ],
)
def test_django_sees_the_clients_address(web, spoof):
    """REMOTE_ADDR is the address the balancer saw (the PROXY line's), never one a client sends:
    a failed sign-in is logged with it, for an operator or a tool such as fail2ban."""
    from tests.servers import login_post

    status, _, _ = raw_request(PROXY_PORT, login_post(password="wrong", headers=spoof), PROXY_LINE)
    assert status == 200
    assert web.wait_for_log("sign-in failed for 'admin' from 203.0.113.9"), web.log
    assert "6.6.6." not in web.log


def test_spoofed_proto_on_4001_changes_nothing(web):
    spoof = [
        "X-Forwarded-Proto: http",
        "X_Forwarded_Proto: http",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Port: 80",
    ]
    status, headers, body = via_balancer("GET", "/admin/login/", headers=spoof)
    assert status == 200  # no redirect to http, no 400 for a bad host
    assert "strict-transport-security" in headers
    assert b"evil.example" not in body


@pytest.mark.parametrize(
    "spoof",
    [
        ["X-Forwarded-Ssl: on"],
        ["X-Forwarded-Ssl: off"],
        ["X-Forwarded-Protocol: ssl"],
        ["X-Forwarded-Protocol: http"],
        ["x-forwarded-ssl: on", "X-FORWARDED-PROTOCOL: ssl"],
        ["X_Forwarded_Ssl: on"],
        ["Front-End-Https: on", "X-Url-Scheme: https"],
    ],
)
def test_other_scheme_headers_are_not_believed(web, spoof):
    """Only nginx's X-Forwarded-Proto says the scheme: a client's X-Forwarded-Ssl or
    X-Forwarded-Protocol neither upgrades plain HTTP nor makes gunicorn answer 400
    ("Contradictory scheme headers"), on a probe over 4000 or a page over 4001."""
    status, _, body = raw_request(HTTP_PORT, http_request("GET", "/healthz", host="10.0.0.1", headers=spoof))
    assert status == 200, body
    status, headers, _ = raw_request(HTTP_PORT, http_request("GET", "/admin/login/", headers=spoof))
    assert status == 301 and headers["location"] == ["https://localhost/admin/login/"]
    status, headers, _ = via_balancer("GET", "/admin/login/", headers=spoof)
    assert status == 200 and "strict-transport-security" in headers


def test_unknown_host_is_refused_without_an_error(web):
    status, _, body = via_balancer("GET", "/admin/login/", host="evil.example")
    assert status == 400
    assert b"Traceback" not in body


def test_missing_proxy_line_is_refused(web):
    with pytest.raises((ConnectionError, IndexError, ValueError, socket.timeout)):
        raw_request(PROXY_PORT, http_request("GET", "/admin/login/"), timeout=5)


# --- static files: from nginx, precompressed, cached ---------------------------------------


def hashed_css(web):
    _, _, body = via_balancer("GET", "/admin/login/")
    return re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', body).group(1).decode()


def upload_on_disk(web_env, name, size=(8, 8)):
    """An image in MEDIA_ROOT ($DATA_DIR/media), as a FileSystemStorage stores it, readable by nginx's
    unprivileged workers; returns its path."""
    import pathlib

    from tests.test_media import make_image

    folder = pathlib.Path(web_env["DATA_DIR"]) / "media" / "entries"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = folder / name
    path.write_bytes(make_image(size=size))
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_static_files_from_nginx_precompressed_and_immutable(web, encoding):
    status, headers, body = via_balancer("GET", hashed_css(web), headers=[f"Accept-Encoding: {encoding}"])
    assert status == 200
    assert headers["content-encoding"] == [encoding]
    assert headers["cache-control"] == ["public, max-age=31536000, immutable"]
    assert "Accept-Encoding" in headers["vary"]
    assert headers["content-type"][0].startswith("text/css")
    assert "referrer-policy" not in headers  # a Django header: the file never reached Django
    if encoding == "gzip":
        import gzip

        assert b":root" in gzip.decompress(body)


def test_unhashed_static_names_are_cached_briefly(web):
    status, headers, _ = via_balancer("GET", "/static/admin/css/base.css")
    assert status == 200
    assert headers["cache-control"] == ["public, max-age=60"]


@pytest.mark.parametrize("path", ["/static/nope.css", "/static/../manage.py", "/static/%2e%2e/manage.py"])
def test_static_misses_are_plain_404s(web, path):
    status, headers, body = via_balancer("GET", path)
    assert status in (400, 404)
    assert b"manage.py" not in body and b"django" not in body.lower()


def test_nginx_logs_a_static_file_only_when_it_is_not_served(web, web_env):
    """A file served, fresh or revalidated, writes no access line; a miss or a refusal does, with
    `id=-`: nothing reached Django, so there is no other line to join it to. An upload from disk,
    the user's content, keeps its line."""
    css = hashed_css(web)
    status, headers, _ = via_balancer("GET", css)
    assert status == 200
    assert via_balancer("GET", css, headers=[f"If-None-Match: {headers['etag'][0]}"])[0] == 304
    upload_on_disk(web_env, "logged.jpg")
    misses = ["/static/missing-logged.css", "/static/../../logged-escape.css"]
    assert [via_balancer("GET", path)[0] for path in misses] == [404, 400]
    assert via_balancer("GET", "/media/entries/logged.jpg")[0] == 200
    logged = [("/static/missing-logged.css", 404), ("logged-escape.css", 400), ("/media/entries/logged.jpg", 200)]
    for path, status in logged:
        assert web.wait_for_log(f'{path} HTTP/1.1" {status} '), web.log  # the access line, not the error log's
    assert css not in web.log
    for path, status in logged:
        (line,) = [line for line in web.log.splitlines() if path in line and " rt=" in line]  # not the error log's
        assert re.search(rf'" {status} \d+ .* rt=[\d.]+ urt=- id=-$', line), line


def test_a_deleted_upload_is_not_served_again(web, web_env):
    """/static/ keeps its files open (the image's never change); /media/ does not: an upload
    deleted is gone on the next request."""
    image = upload_on_disk(web_env, "deleted.jpg")
    assert [via_balancer("GET", "/media/entries/deleted.jpg")[0] for _ in range(3)] == [200, 200, 200]
    image.unlink()
    assert via_balancer("GET", "/media/entries/deleted.jpg")[0] == 404


# --- a form, and uploaded files, through the whole stack ------------------------------------


def test_log_into_the_admin_through_4001(web):
    """A form post through nginx and gunicorn: CSRF token and cookie, a session written,
    and the next page read with it."""
    status, headers, _ = raw_request(PROXY_PORT, login_post(), PROXY_LINE)
    assert status == 302, headers
    assert headers["location"] == ["/admin/"]
    session = session_key(headers)
    _, _, page = via_balancer("GET", "/admin/", headers=[f"Cookie: {SESSION_COOKIE}={session}"])
    assert b"Site administration" in page


def test_uploads_are_served_by_nginx(web, web_env):
    """A file in MEDIA_ROOT ($DATA_DIR/media), as a FileSystemStorage stores it: nginx serves
    it with the project's media headers, and Django never sees /media/."""
    from tests.test_media import opened

    upload_on_disk(web_env, "0123abcd.jpg", size=(800, 600))
    status, headers, image = via_balancer("GET", "/media/entries/0123abcd.jpg")
    assert status == 200 and opened(image).size == (800, 600)
    assert headers["content-type"] == ["image/jpeg"]
    assert headers["cache-control"] == ["public, max-age=31536000, immutable"]
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["content-security-policy"] == ["default-src 'none'; sandbox"]
    # nginx's own answer (Django's fallback view sends no ETag and no Accept-Ranges).
    assert "etag" in headers and headers["accept-ranges"] == ["bytes"]
    assert via_balancer("GET", "/media/entries/missing.jpg")[0] == 404


def test_oversized_body_gets_413_from_nginx(web):
    status, _, _ = via_balancer(
        "POST",
        "/admin/login/",
        body=b"x" * (11 * 1024 * 1024),
        headers=["Content-Type: application/x-www-form-urlencoded"],
    )
    assert status == 413


# --- behind a real load balancer ------------------------------------------------------------


def test_log_into_the_admin_over_https_through_haproxy(haproxy):
    from urllib.parse import urlencode

    from tests.servers import ADMIN_PASSWORD, ADMIN_USERNAME, csrf_token

    status, response, body = haproxy.https("GET", "/admin/login/")
    assert status == 200
    assert response.getheader("Strict-Transport-Security").startswith("max-age=31536000")
    token = csrf_token(body)
    cookie = response.getheader("Set-Cookie").split(";")[0]
    assert "Secure" in response.getheader("Set-Cookie")
    form = urlencode({"csrfmiddlewaretoken": token, "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    origin = f"https://localhost:{haproxy.https_port}"
    status, response, _ = haproxy.https(
        "POST",
        "/admin/login/?next=/admin/",
        body=form.encode(),
        headers={
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": origin + "/admin/login/",
        },
    )
    assert status == 302
    assert response.getheader("Location") == "/admin/"
    session = [c for c in response.headers.get_all("Set-Cookie") if c.startswith(f"{SESSION_COOKIE}=")][0].split(";")[0]
    _, _, page = haproxy.https("GET", "/admin/", headers={"Cookie": session})
    assert b"Site administration" in page
