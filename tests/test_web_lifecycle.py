"""bin/web's supervision: a clean stop that finishes requests in flight, and a non-zero
exit when nginx or gunicorn dies, so the platform restarts the container."""

import os
import signal
import socket
import subprocess
import time

import pytest

from tests.servers import PROXY_PORT, InFlight, WebProcess, login_post, ports_free


@pytest.fixture
def web(web_env, tmp_path):
    ports_free()
    process = WebProcess(web_env).wait_ready()
    yield process
    if process.process.poll() is None:
        process.stop()


def test_sigterm_finishes_requests_in_flight_then_exits_0(web):
    requests = InFlight({f"login{n}": login_post() for n in range(4)})
    stopped_at = time.monotonic()
    web.process.send_signal(signal.SIGTERM)  # mid-request: the bodies are not complete yet
    results = requests.finish()
    assert web.process.wait(timeout=30) == 0, web.log
    assert time.monotonic() - stopped_at < 25  # within gunicorn's graceful timeout
    assert results == {name: 302 for name in requests.names}, web.log
    assert "bin/web: stopped" in web.log
    # Stopped means stopped: nothing listens any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=2)


def master_pid(web, program):
    """The master process of nginx or gunicorn under this bin/web."""
    out = subprocess.run(
        ["pgrep", "-P", str(web.process.pid), "-f", program], capture_output=True, text=True
    ).stdout.split()
    assert out, f"no {program} under bin/web"
    return int(out[0])


@pytest.mark.parametrize(
    "program, signal_", [("nginx", signal.SIGTERM), ("gunicorn", signal.SIGKILL), ("gunicorn", signal.SIGTERM)]
)
def test_exits_non_zero_when_nginx_or_gunicorn_dies(web, program, signal_):
    os.kill(master_pid(web, program), signal_)
    assert web.process.wait(timeout=40) == 1
    assert f"bin/web: {program} exited" in web.log
    time.sleep(0.5)
    # Nothing left behind: neither nginx nor gunicorn.
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


def test_weak_secret_key_stops_bin_web_before_anything_starts(web_env, tmp_path):
    """The system check (exampleproject/apps.py) runs in bin/boot's waitfordb."""
    ports_free()
    key = "django-insecure-" + "m4n5b6v7c8" * 5
    web = WebProcess({**web_env, "SECRET_KEY": key})
    assert web.process.wait(timeout=30) == 1
    assert "SECRET_KEY is too weak for production" in web.log
    assert "Traceback" not in web.log and key not in web.log


@pytest.mark.parametrize("value", ["10.0.0.1/16", "balancer.example", "10.0.0.0/33", "10.0.0.0/16; deny", " , "])
def test_a_wrong_balancer_address_stops_bin_web(web_env, value):
    """WEB_BALANCER_IPS, written into nginx's configuration, is read as IP networks first."""
    ports_free()
    web = WebProcess({**web_env, "WEB_BALANCER_IPS": value})
    assert web.process.wait(timeout=30) == 1
    assert "WEB_BALANCER_IPS: " in web.log and "Traceback" not in web.log
    assert "Configuration error" in web.log


@pytest.mark.engine
def test_release_on_start_migrates_before_serving(web_env, tmp_path):
    """Convox gen1 and Swarm have no release phase: bin/web migrates a fresh database under
    the lock, every installed app's migrations, then serves a page that needs the new tables."""
    from tests.servers import PROXY_LINE, apps_with_migrations, fresh_database_url, raw_request

    ports_free()
    environ = {
        **web_env,
        "RELEASE_ON_START": " True ",
        "DATABASE_URL": fresh_database_url("exampleproject_release_on_start", tmp_path),
    }
    web = WebProcess(environ).wait_ready()
    try:
        assert "RELEASE_ON_START: applying migrations before serving" in web.log
        for app in apps_with_migrations():
            assert f"Applying {app}.0001_initial... OK" in web.log, app
        assert web.log.rindex("Applying ") < web.log.index("Listening at")
        # A login with an unknown password: the admin looked the user up in its new table.
        status, _, body = raw_request(PROXY_PORT, login_post(password="not-the-password"), PROXY_LINE)
        assert status == 200 and b"Please enter the correct username and password" in body, body[:300]
    finally:
        web.stop()


def test_release_on_start_refuses_a_value_that_is_not_a_boolean(web_env):
    ports_free()
    web = WebProcess({**web_env, "RELEASE_ON_START": "always"})
    assert web.process.wait(timeout=30) == 1
    assert "RELEASE_ON_START: expected true or false" in web.log
    assert "Traceback" not in web.log and "Applying" not in web.log
