"""The guestbook's note to the site's ADMINS for each signature (exampleapp/notifications.py),
against a real SMTP server (aiosmtpd) and mail servers that fail: signing never waits for it."""

import socket
import time

from tests.servers import csrf_token, free_port, gunicorn, request
from tests.test_services import smtp_server  # noqa: F401  (fixture)


def sign(port, name="Ada"):
    """Sign the guestbook over HTTP; returns (status, seconds taken)."""
    status, headers, body = request(port, "/", headers={"X-Forwarded-Proto": "https"})
    token = csrf_token(body)
    cookie = headers["set-cookie"].split(";")[0]
    form = f"csrfmiddlewaretoken={token}&name={name}&message=Hello+by+mail".encode()
    started = time.monotonic()
    status, _, _ = request(
        port,
        "/",
        method="POST",
        body=form,
        headers={
            "X-Forwarded-Proto": "https",
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"https://127.0.0.1:{port}/",
        },
    )
    return status, time.monotonic() - started


def test_signing_emails_the_admins(service_env, smtp_server):
    smtp_port, messages = smtp_server
    with gunicorn(
        {
            **service_env,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "ADMINS": "ops@example.com",
            "DEFAULT_FROM_EMAIL": "guestbook@example.com",
        }
    ) as port:
        assert sign(port, name="Mail Tester")[0] == 302
        deadline = time.monotonic() + 10
        while not messages and time.monotonic() < deadline:
            time.sleep(0.1)
    ((recipients, content),) = messages
    assert recipients == ["ops@example.com"]
    assert "Subject: [exampleproject] New guestbook entry from Mail Tester" in content
    assert "From: guestbook@example.com" in content
    assert "Hello by mail" in content


def test_mail_down_neither_blocks_nor_fails_signing(service_env):
    closed = free_port()  # nothing listens there
    with gunicorn({**service_env, "EMAIL_URL": f"smtp://127.0.0.1:{closed}", "ADMINS": "ops@example.com"}) as port:
        status, seconds = sign(port)
        assert status == 302 and seconds < 2


def test_a_hung_mail_server_does_not_block_signing(service_env):
    """A server that accepts the connection and never answers: the request returns at
    once; the background send gives up after EMAIL_TIMEOUT."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        with gunicorn(
            {**service_env, "EMAIL_URL": f"smtp://127.0.0.1:{listener.getsockname()[1]}", "ADMINS": "ops@example.com"}
        ) as port:
            status, seconds = sign(port)
            assert status == 302 and seconds < 2
    finally:
        listener.close()
