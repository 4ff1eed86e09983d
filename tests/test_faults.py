"""Faults and load, with bin/web on this machine. The database faults use a PostgreSQL the
test can stop and start: a postgres:17 container on a free port of 127.0.0.1 (skipped
without a Docker daemon; REQUIRE_DOCKER=1 makes that a failure). Every load is bounded in
count and time and goes to 127.0.0.1 only."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.servers import (
    HTTP_PORT,
    PRODUCTION_ENV,
    PROXY_LINE,
    PROXY_PORT,
    ROOT,
    Balancer,
    WebProcess,
    container_name,
    create_admin,
    free_port,
    login_post,
    ports_free,
    raw_request,
    readiness_until,
    request,
    require,
    require_docker,
    session_key,
    signed_in,
    via_balancer,
)


def docker(*args, check=True, timeout=120):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=timeout)


class Postgres:
    """A postgres:17 container published on 127.0.0.1:<port>, to stop and start at will."""

    def __init__(self):
        self.name = container_name("faults")
        self.port = free_port()
        docker(
            "run",
            "-d",
            "--name",
            self.name,
            "-e",
            "POSTGRES_HOST_AUTH_METHOD=trust",
            "-e",
            "POSTGRES_DB=app",
            "-p",
            f"127.0.0.1:{self.port}:5432",
            "postgres:17",
        )
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/app"
        try:
            self.wait_up()
        except BaseException:  # the fixture never gets it to remove: no container is left behind
            self.remove()
            raise

    def accepts(self):
        import psycopg2

        try:
            psycopg2.connect(self.url, connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def wait_up(self, seconds=60):
        deadline = time.monotonic() + seconds
        while not self.accepts():
            assert time.monotonic() < deadline, docker("logs", self.name, check=False).stderr[-2000:]
            time.sleep(0.3)

    def stop(self):
        docker("stop", "--time", "10", self.name)

    def start(self):
        docker("start", self.name)

    def remove(self):
        docker("rm", "-f", self.name, check=False)

    def count(self, sql, params=()):
        import psycopg2

        with psycopg2.connect(self.url) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]


@pytest.fixture(scope="module")
def postgres():
    require_docker("the database fault tests stop and start a postgres:17 container")
    require("nginx", "bin/web runs nginx in front of gunicorn (Debian package nginx)")
    database = Postgres()
    try:
        env = {
            "PATH": f"{sys.executable.rsplit('/', 1)[0]}:/usr/bin:/bin",
            **PRODUCTION_ENV,
            "DATABASE_URL": database.url,
        }
        subprocess.run(["bin/release"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
        create_admin(env)
        yield database
    finally:
        database.remove()


@pytest.fixture
def fault_env(postgres, web_env):
    """bin/web on the controllable database, with the suite's collected static files."""
    return {**web_env, "DATABASE_URL": postgres.url, "DATABASE_CONNECT_TIMEOUT": "2"}


@pytest.fixture
def web(fault_env, postgres):
    postgres.wait_up()
    ports_free()
    process = WebProcess(fault_env).wait_ready()
    yield process
    if process.process.poll() is None:
        process.stop()


# --- the database -----------------------------------------------------------------------------


def test_database_down_at_boot_then_back_in_time(fault_env, postgres):
    postgres.stop()
    ports_free()
    web = WebProcess({**fault_env, "DATABASE_WAIT_TIMEOUT": "60"})
    try:
        deadline = time.monotonic() + 20
        while "waitfordb: waiting for the database" not in web.log:
            assert time.monotonic() < deadline and web.process.poll() is None, web.log
            time.sleep(0.2)
        assert web.wait_for_log(f"postgresql at 127.0.0.1:{postgres.port}/app"), web.log
        postgres.start()
        web.wait_ready(seconds=60)
        assert web.wait_for_log("is up after"), web.log
        assert request(HTTP_PORT, "/readyz")[0] == 200
    finally:
        postgres.wait_up()
        web.stop()


def test_database_restart_while_serving(web, postgres):
    """A page that reads the database (the admin's index, signed in: the session and the
    user are read on every request)."""
    pid = web.process.pid
    admin = [signed_in()]
    assert via_balancer("GET", "/admin/", headers=admin)[0] == 200
    postgres.stop()
    try:
        status, _, body = readiness_until(HTTP_PORT, 503, headers={"Host": "10.0.0.1"})
        assert status == 503 and b'"failed": ["database"]' in body
        started = time.monotonic()
        status, headers, body = via_balancer("GET", "/admin/", headers=admin)
        assert time.monotonic() - started < 5  # fails fast, does not hang
        assert status == 503
        assert headers["retry-after"] == ["5"]
        assert b"cannot reach its database" in body
        assert web.wait_for_log("database unavailable for GET '/admin/'"), web.log
        # A path is logged quoted and escaped: no forged line, no terminal escapes. (A %0a matches
        # no route, so its 404 is Django's own line, which Django escapes too.)
        escaped = {
            "%0d": "\\r",
            "%1b[2J": "\\x1b[2J",
            "%e2%80%a8": "\\u2028",
            "%c2%85": "\\x85",
        }
        for forged, shown in escaped.items():
            assert via_balancer("GET", f"/admin/x{forged}FORGED", headers=admin)[0] == 503
            assert web.wait_for_log(f"database unavailable for GET '/admin/x{shown}FORGED'"), web.log
        for forged in ("%0aFORGED", "%0d%0aFORGED"):
            assert via_balancer("GET", f"/admin/x{forged}", headers=admin)[0] in (404, 503)
        time.sleep(0.5)
        # splitlines() ends a line at \r, U+2028 and U+0085 too, as some log viewers do.
        assert not [line for line in web.log.splitlines() if line.startswith("FORGED")], web.log
        assert "\x1b" not in web.log
    finally:
        postgres.start()
        postgres.wait_up()
    # Back: every request succeeds, on the same processes (no restart of the app).
    statuses = [via_balancer("GET", "/admin/", headers=admin)[0] for _ in range(30)]
    assert statuses == [200] * 30
    assert readiness_until(HTTP_PORT, 200)[0] == 200
    assert web.process.pid == pid and web.process.poll() is None


# --- processes ----------------------------------------------------------------------------------


def load(seconds, threads, make_request, results):
    """`threads` clients sending `make_request()` for `seconds`; each status (or the
    exception's name) is appended to `results`."""
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline:
            try:
                results.append(make_request())
            except Exception as exc:  # any failure counts (http.client's are not OSErrors)
                results.append(type(exc).__name__)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def gunicorn_workers(web, count, without=None, seconds=15):
    """The pids of gunicorn's workers, once there are `count` of them (and `without`
    is not among them): /healthz answers as soon as the first worker is up."""
    master = subprocess.run(
        ["pgrep", "-P", str(web.process.pid), "-f", "gunicorn"], capture_output=True, text=True
    ).stdout.split()[0]
    deadline = time.monotonic() + seconds
    while True:
        pids = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
        if len(pids) == count and without not in pids:
            return pids
        assert time.monotonic() < deadline, f"workers: {pids}, wanted {count} without {without}"
        time.sleep(0.1)


def test_a_killed_worker_is_replaced_and_costs_at_most_its_requests(web):
    count = int(web.environ["WEB_CONCURRENCY"])
    before = gunicorn_workers(web, count)
    results = []
    admin = [signed_in()]  # a page that reads the database
    workers = load(4, 6, lambda: via_balancer("GET", "/admin/", headers=admin)[0], results)
    time.sleep(1.5)
    os.kill(int(before[0]), signal.SIGKILL)
    for worker in workers:
        worker.join()
    failures = [r for r in results if r != 200]
    assert len(results) > 50
    assert len(failures) <= 1, failures  # the one request the killed worker held, at most
    gunicorn_workers(web, count, without=before[0])  # replaced
    assert via_balancer("GET", "/admin/", headers=admin)[0] == 200


def test_graceful_stop_under_load_keeps_every_acknowledged_write(web, postgres):
    """Admin logins keep coming while bin/web gets SIGTERM, each writing a session: every
    login it accepted is answered, and every one answered with a redirect is in the
    database; no other session is.

    A connection the kernel completed but nginx never accepted is reset when nginx closes
    its listening sockets (a platform deregisters an instance before stopping it, so this
    needs clients that keep connecting): like a refused one, the client is told, and the
    login must not have been stored."""
    acknowledged, failures, reset = [], [], []
    sessions_before = postgres.count("SELECT count(*) FROM django_session")
    stop_at = time.monotonic() + 30

    def client(thread):
        while time.monotonic() < stop_at:
            try:
                prepared = login_post()
            except OSError:
                return  # the server has stopped accepting: not a failed request
            except Exception as exc:  # the form came back wrong (a 5xx page, say): a failure
                failures.append(f"form: {type(exc).__name__}")
                continue
            try:
                status, headers, _ = raw_request(PROXY_PORT, prepared, PROXY_LINE)
            except ConnectionRefusedError:
                return
            except ConnectionResetError:
                reset.append(thread)
                return
            except Exception as exc:  # any other failure counts (http.client's are not OSErrors)
                failures.append(type(exc).__name__)
                continue
            if status == 302:
                acknowledged.append(session_key(headers))
            else:
                failures.append(status)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    # Under load until a dozen logins are in (each hashes the password: about 0.3 s of a CPU).
    deadline = time.monotonic() + 20
    while len(acknowledged) < 12 and time.monotonic() < deadline:
        time.sleep(0.1)
    web.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=40)
    assert web.process.wait(timeout=30) == 0, web.log
    assert failures == []
    assert len(acknowledged) > 10 and None not in acknowledged
    stored = postgres.count("SELECT count(*) FROM django_session WHERE session_key = ANY(%s)", (acknowledged,))
    assert stored == len(acknowledged)
    # Nothing else was stored: no login that was reset, or refused, or never answered.
    assert postgres.count("SELECT count(*) FROM django_session") == sessions_before + len(acknowledged)


# --- load -------------------------------------------------------------------------------------


def run_wrk(url, connections, seconds, *options):
    return subprocess.Popen(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s", *options, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_64_connections_for_60_seconds_without_an_error(web_env, tmp_path):
    """48 connections on a page that reads the database (the admin's index, signed in: the
    session and the user), through a balancer that adds the PROXY line, and 16 on the
    health path, for 60 s, on the suite's database: zero errors."""
    require("wrk", "the load test uses wrk (Debian package wrk)")
    require("haproxy", "the load test sends PROXY protocol through HAProxy")
    ports_free()
    web = WebProcess(web_env).wait_ready()
    balancer = Balancer(tmp_path, proxied=True)
    try:
        admin = signed_in()
        page = run_wrk(f"http://127.0.0.1:{balancer.proxied_port}/admin/", 48, 60, "-H", admin)
        health = run_wrk(f"http://127.0.0.1:{HTTP_PORT}/healthz", 16, 60)
        outputs = [page.communicate(timeout=120)[0], health.communicate(timeout=120)[0]]
    finally:
        balancer.stop()
        assert web.stop() == 0
    for output in outputs:
        print(output)
        requests = int(re.search(r"(\d+) requests in", output).group(1))
        assert requests > 1000, output
        assert "Socket errors" not in output, output
        assert "Non-2xx or 3xx responses" not in output, output
