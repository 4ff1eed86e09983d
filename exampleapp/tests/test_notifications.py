"""The guestbook's note to the site's ADMINS for each signature (exampleapp/notifications.py):
signing never waits for the mail server, closed or hung. Its delivery by the worker, through
a real SMTP server, is tested in exampleapp/tests/test_worker.py."""

import socket
import time

from tests.servers import csrf_token, free_port, gunicorn, request


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


def test_mail_down_neither_blocks_nor_fails_signing(service_env):
    closed = free_port()  # nothing listens there
    with gunicorn({**service_env, "EMAIL_URL": f"smtp://127.0.0.1:{closed}", "ADMINS": "ops@example.com"}) as port:
        status, seconds = sign(port)
        assert status == 302 and seconds < 2


def test_a_hung_mail_server_does_not_block_signing(service_env):
    """A server that accepts the connection and never answers: the request returns at
    once (the worker, not the web, talks to it)."""
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
