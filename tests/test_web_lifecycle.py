"""bin/web's supervision: a clean stop that finishes requests in flight, and a non-zero
exit when nginx or gunicorn dies, so the platform restarts the container."""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests.servers import (
    PROXY_LINE,
    PROXY_PORT,
    WebProcess,
    prepare_web_env,
    http_request,
    read_response,
    ports_free,
    require,
    via_balancer,
)


@pytest.fixture(scope="module")
def web_env(tmp_path_factory):
    require("nginx", "bin/web runs nginx in front of gunicorn (Debian package nginx)")
    return prepare_web_env("exampleproject_lifecycle", tmp_path_factory.mktemp("lifecycle"))


@pytest.fixture
def web(web_env, tmp_path):
    ports_free()
    process = WebProcess(web_env).wait_ready()
    yield process
    if process.process.poll() is None:
        process.stop()


def csrf_pair():
    """A CSRF token and its cookie, as a browser gets them with the form."""
    _, headers, body = via_balancer("GET", "/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    return token, headers["set-cookie"][0].split(";")[0]


def slow_post(name, token, cookie, sent_first_part, results):
    """Sign the guestbook with a body that arrives in two parts, 2 s apart."""
    body = f"csrfmiddlewaretoken={token}&name={name}&message=in+flight".encode()
    request = http_request("POST", "/", body=body, headers=[
        f"Cookie: {cookie}", "Content-Type: application/x-www-form-urlencoded", "Referer: https://localhost/"])
    try:
        with socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=30) as sock:
            sock.sendall(PROXY_LINE + request[:-10])
            sent_first_part.release()
            time.sleep(2)
            sock.sendall(request[-10:])
            results[name] = read_response(sock)[0]
    except Exception as exc:  # recorded, then asserted on
        results[name] = exc


def test_sigterm_finishes_requests_in_flight_then_exits_0(web):
    token, cookie = csrf_pair()
    results, sent = {}, threading.Semaphore(0)
    names = [f"inflight{i}" for i in range(4)]
    threads = [threading.Thread(target=slow_post, args=(n, token, cookie, sent, results)) for n in names]
    for thread in threads:
        thread.start()
    for _ in names:
        sent.acquire(timeout=10)
    time.sleep(0.2)
    stopped_at = time.monotonic()
    web.process.send_signal(signal.SIGTERM)  # mid-request: the bodies are not complete yet
    for thread in threads:
        thread.join(timeout=30)
    assert web.process.wait(timeout=30) == 0, web.log
    assert time.monotonic() - stopped_at < 25  # within gunicorn's graceful timeout
    assert results == {name: 302 for name in names}, web.log
    assert "bin/web: stopped" in web.log
    # Stopped means stopped: nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=2)


def master_pid(web, program):
    """The master process of nginx or gunicorn under this bin/web."""
    out = subprocess.run(["pgrep", "-P", str(web.process.pid), "-f", program],
                         capture_output=True, text=True).stdout.split()
    assert out, f"no {program} under bin/web"
    return int(out[0])


@pytest.mark.parametrize("program, signal_", [("nginx", signal.SIGTERM), ("gunicorn", signal.SIGKILL),
                                              ("gunicorn", signal.SIGTERM)])
def test_exits_non_zero_when_nginx_or_gunicorn_dies(web, program, signal_):
    os.kill(master_pid(web, program), signal_)
    assert web.process.wait(timeout=40) == 1
    assert f"bin/web: {program} exited" in web.log
    time.sleep(0.5)
    for other in ("nginx", "gunicorn"):  # nothing left behind
        assert subprocess.run(["pgrep", "-P", str(web.process.pid)], capture_output=True).stdout == b""


def test_waits_for_the_database_then_fails_clearly(web_env, tmp_path):
    ports_free()
    environ = {**web_env, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "DATABASE_WAIT_TIMEOUT": "2"}
    started = time.monotonic()
    web = WebProcess(environ)
    assert web.process.wait(timeout=30) == 1
    assert time.monotonic() - started < 15
    assert "waiting for the database (postgresql at 127.0.0.1:1/none)" in web.log
    assert "did not answer within 2 s" in web.log
    assert "Traceback" not in web.log


def test_bad_configuration_stops_bin_web_before_anything_starts(web_env, tmp_path):
    ports_free()
    web = WebProcess({**web_env, "DEBUG": "sometimes"})
    assert web.process.wait(timeout=30) == 1
    assert "Configuration error" in web.log and "DEBUG:" in web.log
    assert "Traceback" not in web.log
