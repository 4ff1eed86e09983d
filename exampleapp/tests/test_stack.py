"""The guestbook through the whole stack: bin/web (nginx on 4000/4001 in front of gunicorn),
on the suite's database, and behind HAProxy as the load balancer. The stack's own behaviour,
whatever the app, is tested in tests/test_web.py and tests/test_security.py."""

import re

import pytest

from exampleapp.tests.guestbook import image_src, signed_post
from tests.servers import (
    PROXY_LINE,
    PROXY_PORT,
    SESSION_COOKIE,
    csrf_token,
    raw_request,
    via_balancer,
)


def test_the_guestbook_through_4001(web):
    status, _, body = via_balancer("GET", "/")
    assert status == 200 and b"Sign the guestbook" in body


@pytest.mark.engine
def test_sign_the_guestbook_through_4001(web):
    status, headers, body = via_balancer("GET", "/")
    token = csrf_token(body)
    cookie = headers["set-cookie"][0].split(";")[0]
    form = f"csrfmiddlewaretoken={token}&name=Stack&message=Through+nginx+and+gunicorn".encode()
    status, headers, _ = via_balancer(
        "POST",
        "/",
        body=form,
        headers=[
            f"Cookie: {cookie}",
            "Content-Type: application/x-www-form-urlencoded",
            "Origin: https://localhost",
            "Referer: https://localhost/",
        ],
    )
    assert status == 302, headers
    # The thank-you message travels in a cookie, as safe as the session's.
    session = [c for c in headers.get("set-cookie", []) if c.startswith((f"{SESSION_COOKIE}=", "messages="))]
    assert session and all("Secure" in c and "HttpOnly" in c and "SameSite=Lax" in c for c in session)
    sent = [c.split(";")[0] for c in session]
    _, _, page = via_balancer("GET", "/", headers=[f"Cookie: {'; '.join([cookie, *sent])}"])
    assert b"Through nginx and gunicorn" in page
    assert b"Thank you for signing, Stack!" in page


def test_an_image_through_4001_is_served_by_nginx(web):
    from tests.test_media import make_image, opened

    post = signed_post("Pictured", image=make_image(size=(800, 600), gps=True))
    assert raw_request(PROXY_PORT, post, PROXY_LINE)[0] == 302
    _, _, page = via_balancer("GET", "/")
    src = image_src(page)
    assert re.fullmatch(r"/media/entries/[0-9a-f]{32}\.jpg", src)
    assert f'src="{src}" width="800" height="600"'.encode() in page
    status, headers, image = via_balancer("GET", src)
    assert status == 200 and opened(image).size == (800, 600) and not opened(image).getexif()
    assert headers["content-type"] == ["image/jpeg"]
    assert headers["cache-control"] == ["public, max-age=31536000, immutable"]
    assert headers["content-security-policy"] == ["default-src 'none'; sandbox"]
    assert "etag" in headers  # nginx's answer, not Django's


def test_guestbook_input_too_long_empty_or_html(web):
    cases = [
        ("n" * 101, "hello", b"Please keep your name to 100 characters"),
        ("", "hello", b"Please enter your name."),
        ("Eve", "", b"Please write a message."),
    ]
    for name, message, error in cases:
        request = signed_post(name).replace(b"message=in+flight", f"message={message}".encode())
        request = re.sub(
            rb"Content-Length: \d+", b"Content-Length: %d" % len(request.split(b"\r\n\r\n", 1)[1]), request
        )
        status, _, body = raw_request(PROXY_PORT, request, PROXY_LINE)
        assert status == 200 and error in body
    request = signed_post("<script>alert(1)</script>")
    assert raw_request(PROXY_PORT, request, PROXY_LINE)[0] == 302
    _, _, page = via_balancer("GET", "/")
    assert b"<script>alert(1)</script>" not in page
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_sign_the_guestbook_over_https_through_haproxy(haproxy):
    status, response, body = haproxy.https("GET", "/")
    assert status == 200
    assert response.getheader("Strict-Transport-Security").startswith("max-age=31536000")
    token = csrf_token(body)
    cookie = response.getheader("Set-Cookie").split(";")[0]
    assert "Secure" in response.getheader("Set-Cookie")
    form = f"csrfmiddlewaretoken={token}&name=Balanced&message=Over+TLS+and+PROXY".encode()
    origin = f"https://localhost:{haproxy.https_port}"
    status, response, _ = haproxy.https(
        "POST",
        "/",
        body=form,
        headers={
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": origin + "/",
        },
    )
    assert status == 302
    assert response.getheader("Location") == "/"
    session = response.getheader("Set-Cookie").split(";")[0]
    _, _, page = haproxy.https("GET", "/", headers={"Cookie": f"{cookie}; {session}"})
    assert b"Over TLS and PROXY" in page
    assert b"Thank you for signing, Balanced!" in page
