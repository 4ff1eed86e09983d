"""nginx's limit on POSTs per client address (WEB_POSTS_PER_MINUTE, exampleproject/web.py), on
bin/web of its own: the other stack tests post from one address and run without it."""

import time
from concurrent.futures import ThreadPoolExecutor

from exampleproject import web as web_settings
from tests.servers import HTTP_PORT, PROXY_PORT, WebProcess, http_request, login_post, ports_free, raw_request

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
