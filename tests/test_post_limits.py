"""The limit on POSTs per client address (WEB_POSTS_PER_MINUTE, exampleproject/web.py): nginx's, on
bin/web of its own, and Django's under bin/gunicorn. The other stack tests post from one address
and run without it."""

import contextlib
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from exampleproject import web as web_settings
from tests.servers import (
    HTTP_PORT,
    PROXY_PORT,
    WebProcess,
    csrf_token,
    free_port,
    http_request,
    login_post,
    ports_free,
    raw_request,
    require,
)
from tests.test_services import RedisServer

ATTACKER = b"PROXY TCP4 198.51.100.66 192.0.2.1 40000 443\r\n"
VISITOR = b"PROXY TCP4 198.51.100.77 192.0.2.1 40001 443\r\n"


def probe_seconds(count=20):
    """How long each of `count` /healthz requests over 4000 took, each asserted 200."""
    times = []
    for _ in range(count):
        started = time.monotonic()
        assert raw_request(HTTP_PORT, http_request("GET", "/healthz", host="10.0.0.1"))[0] == 200
        times.append(time.monotonic() - started)
    return times


def test_password_guessing_is_limited_per_client_address(web_env):
    """40 guesses at once from one address: a few pass at once, a burst more is held back to the
    rate, the rest get 429 from nginx, before Python. A visitor from another address signs in at
    once, the guesser's GETs still work, and /healthz answers within a second throughout."""
    ports_free()
    web = WebProcess({**web_env, "WEB_POSTS_PER_MINUTE": "30"}).wait_ready()
    try:
        guesses = [login_post(PROXY_PORT, ATTACKER, password=f"guess-{n}") for n in range(40)]
        with ThreadPoolExecutor(len(guesses) + 1) as pool:
            probes = pool.submit(probe_seconds)
            started = time.monotonic()
            statuses = list(pool.map(lambda guess: raw_request(PROXY_PORT, guess, ATTACKER, timeout=60)[0], guesses))
            seconds = time.monotonic() - started
            assert max(probes.result()) < 1
        passed = 1 + web_settings.POST_BURST  # the rate's one, and the burst held back to the rate
        assert set(statuses) <= {200, 429} and passed <= statuses.count(200) <= passed + 1, statuses
        assert seconds >= (passed - web_settings.POST_AT_ONCE - 1) * 60 / 30 - 1  # held back, not hashed at once
        assert raw_request(PROXY_PORT, login_post(PROXY_PORT, VISITOR), VISITOR)[0] == 302
        assert raw_request(PROXY_PORT, http_request("GET", "/admin/login/"), ATTACKER)[0] == 200
        assert web.wait_for_log("limiting requests"), web.log
        assert web.wait_for_log("sign-in failed for 'admin' from 198.51.100.66"), web.log
    finally:
        assert web.stop() == 0, web.log


# --- bin/gunicorn: no nginx; the router names the client, and Django limits POSTs -----------------

HTTPS = "X-Forwarded-Proto: https"  # the router's, as Heroku's and Convox's set it


def forwarded(address, spoofed=""):
    """X-Forwarded-For as the router passes it on: what the client sent, then the address it saw."""
    return f"X-Forwarded-For: {spoofed + ', ' if spoofed else ''}{address}"


@contextlib.contextmanager
def gunicorn_alone(web_env, tmp_path, **environ):
    """bin/gunicorn on a free PORT (two workers), counting POSTs in a Redis of its own."""
    require(
        "redis-server", "the POST counts of bin/gunicorn's workers are shared in Redis (Debian package redis-server)"
    )
    redis = RedisServer(tmp_path)
    port = free_port()
    environ = {**web_env, "PORT": str(port), "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", **environ}
    web = WebProcess(environ, port=port, command="bin/gunicorn")
    try:
        yield web.wait_ready()
    finally:
        web.stop()
        redis.stop()


def guestbook_post(port, address, spoofed=""):
    """A guestbook signature with the page's CSRF token and cookie, from `address`."""
    _, headers, page = raw_request(port, http_request("GET", "/", headers=[HTTPS, forwarded(address)]), b"")
    fields = {"csrfmiddlewaretoken": csrf_token(page), "name": "Spam", "message": "Cheap pills"}
    return http_request(
        "POST",
        "/",
        body=urlencode(fields).encode(),
        headers=[
            f"Cookie: {headers['set-cookie'][0].split(';')[0]}",
            "Content-Type: application/x-www-form-urlencoded",
            "Referer: https://localhost/",
            HTTPS,
            forwarded(address, spoofed),
        ],
    )


def router_probe_seconds(port, count=20):
    times = []
    for _ in range(count):
        started = time.monotonic()
        assert raw_request(port, http_request("GET", "/healthz", host="10.0.0.1"), b"")[0] == 200
        times.append(time.monotonic() - started)
    return times


SPOOFED = ["", "127.0.0.1", "10.0.0.1, 192.0.2.{n}", "198.51.100.99", "not-an-address", "192.0.2.{n}"]


def test_gunicorn_alone_limits_guessing_and_spam_per_client_address(web_env, tmp_path):
    """Straight to bin/gunicorn, as the router sends: 40 password guesses from one address and 40
    guestbook signatures from another, at once, each with earlier X-Forwarded-For entries of its
    own choosing. Each address gets POST_AT_ONCE per interval, the rest a 429 with Retry-After;
    a third signs in at once; /healthz answers within a second; failed sign-ins are logged with
    the address the router saw, never a spoofed one."""
    interval = 60 / 30
    guesser, spammer, visitor = "198.51.100.66", "198.51.100.77", "198.51.100.88"
    with gunicorn_alone(web_env, tmp_path, WEB_POSTS_PER_MINUTE="30") as web:
        attacks = {
            guesser: [
                login_post(
                    web.port,
                    b"",
                    password=f"guess-{n}",
                    headers=[HTTPS, forwarded(guesser, SPOOFED[n % len(SPOOFED)].format(n=n))],
                    page_headers=[HTTPS, forwarded(guesser)],
                )
                for n in range(40)
            ],
            spammer: [guestbook_post(web.port, spammer, SPOOFED[n % len(SPOOFED)].format(n=n)) for n in range(40)],
        }
        sent = [(address, data) for address, requests in attacks.items() for data in requests]
        with ThreadPoolExecutor(len(sent) + 1) as pool:
            probes = pool.submit(router_probe_seconds, web.port)
            started = time.monotonic()
            answers = list(pool.map(lambda item: raw_request(web.port, item[1], b"", timeout=60), sent))
            seconds = time.monotonic() - started
            assert max(probes.result()) < 1
        allowed = web_settings.POST_AT_ONCE * (int(seconds / interval) + 2)  # the windows the run touched
        for address in attacks:
            statuses = [status for (sender, _), (status, _, _) in zip(sent, answers, strict=True) if sender == address]
            passed = [status for status in statuses if status != 429]
            assert 1 <= len(passed) <= allowed and set(passed) <= {200, 302}, (address, statuses, seconds)
        for status, headers, _ in answers:
            if status == 429:
                assert 1 <= int(headers["retry-after"][0]) <= math.ceil(interval), headers
        visit = login_post(web.port, b"", headers=[HTTPS, forwarded(visitor)], page_headers=[HTTPS, forwarded(visitor)])
        assert raw_request(web.port, visit, b"")[0] == 302
        assert (
            raw_request(web.port, http_request("GET", "/admin/login/", headers=[HTTPS, forwarded(guesser)]), b"")[0]
            == 200
        )
        for address in (guesser, spammer):
            assert web.wait_for_log(f"POST limit: {address} over"), web.log
        assert web.wait_for_log(f"sign-in failed for 'admin' from {guesser}"), web.log
        assert not re.search(r"sign-in failed for 'admin' from (?!198\.51\.100\.66\b)", web.log), web.log
        # A rate, not a ban: after Retry-After the guesser is heard again.
        time.sleep(interval)
        again = login_post(web.port, b"", password="late", headers=[HTTPS, forwarded(guesser)], page_headers=[HTTPS])
        assert raw_request(web.port, again, b"")[0] == 200


def test_gunicorn_alone_takes_the_address_the_router_appended(web_env, tmp_path):
    """REMOTE_ADDR is X-Forwarded-For's last entry, whatever came before it; without the header,
    or with a last entry that is no address (no router wrote it), the peer's."""
    cases = {
        None: "127.0.0.1",
        "203.0.113.5": "203.0.113.5",
        "6.6.6.6, 203.0.113.6": "203.0.113.6",
        "127.0.0.1,203.0.113.7": "203.0.113.7",
        "2001:db8::8": "2001:db8::8",
        "203.0.113.9, not-an-address": "127.0.0.1",
    }
    with gunicorn_alone(web_env, tmp_path, WEB_POSTS_PER_MINUTE="0") as web:
        for header, expected in cases.items():
            sent = [HTTPS] + ([f"X-Forwarded-For: {header}"] if header else [])
            before = len(web.log)
            assert (
                raw_request(web.port, login_post(web.port, b"", password="x", headers=sent, page_headers=[HTTPS]), b"")[
                    0
                ]
                == 200
            )
            line = f"sign-in failed for 'admin' from {expected}\n"
            assert web.wait_for_log(line), web.log
            assert line in web.log[before:] and web.log[before:].count("sign-in failed") == 1, (
                header,
                web.log[before:],
            )
            assert web.wait_for_log(f'{expected} "POST /admin/login/'), web.log  # gunicorn's access log too
