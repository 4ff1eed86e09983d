"""Probes: /healthz and /readyz answer load balancers under production settings."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client

from tests.servers import gunicorn, hung_server, readiness_until, request

PROBE_HOSTS = ["10.0.3.7", "10.0.3.7:4000", "web.internal", "[fd00::1]"]


@pytest.fixture
def plain_http():
    """A probe: plain HTTP, no X-Forwarded-Proto, and (per test) an IP or unknown Host."""
    return Client()


def test_production_settings_in_force(settings):
    assert settings.DEBUG is False
    assert settings.SECURE_SSL_REDIRECT is True
    assert "10.0.3.7" not in settings.ALLOWED_HOSTS


@pytest.mark.parametrize("host", PROBE_HOSTS)
def test_liveness_with_any_host_over_http(plain_http, host):
    response = plain_http.get("/healthz", headers={"Host": host})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("host", PROBE_HOSTS)
def test_readiness_with_any_host_over_http(plain_http, host):
    response = plain_http.get("/readyz", headers={"Host": host})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_head_requests(plain_http):
    assert plain_http.head("/healthz").status_code == 200
    assert plain_http.head("/readyz").status_code == 200


def test_other_pages_still_guarded(plain_http):
    """Only the probe paths are exempt: elsewhere an unknown Host is refused and HTTP redirected."""
    assert plain_http.get("/", headers={"Host": "10.0.3.7"}).status_code == 400
    redirect = plain_http.get("/", headers={"Host": "localhost"})
    assert redirect.status_code == 301
    assert redirect["Location"] == "https://localhost/"
    assert plain_http.post("/healthz").status_code == 301  # probes only GET and HEAD


def test_unknown_host_logged_in_one_line(plain_http, caplog):
    with caplog.at_level("WARNING", logger="django.security.DisallowedHost"):
        assert plain_http.get("/", headers={"Host": "evil.example"}).status_code == 400
    records = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert records and records[0].levelname == "WARNING" and records[0].exc_info is None


def unreachable_database_url():
    """A URL for this suite's database engine at which nothing answers."""
    engine = connections["default"].vendor
    if engine == "postgresql":
        return "postgres://postgres@127.0.0.1:1/none"  # nothing listens on port 1
    if engine == "mysql":
        return "mysql://root@127.0.0.1:1/none"
    return "sqlite:////nonexistent-directory/db.sqlite3"


@pytest.mark.engine
def test_readiness_503_names_the_database_when_unreachable():
    """The real server, started against a database that is not there."""
    with gunicorn({"DATABASE_URL": unreachable_database_url(), "DATABASE_CONNECT_TIMEOUT": "2"}) as port:
        status, headers, body = request(port, "/readyz", headers={"Host": "10.0.3.7"})
        assert status == 503
        assert headers["content-type"] == "application/json"
        body = json.loads(body)
        assert body["status"] == "unavailable"
        assert body["failed"] == ["database"]
        assert body["checks"]["database"]["status"] == "error"
        assert body["checks"]["database"]["error"] == "OperationalError"
        # Liveness does not touch the database, so the platform does not restart the app.
        assert request(port, "/healthz", headers={"Host": "10.0.3.7"})[0] == 200


def test_readiness_recovers_without_a_restart(tmp_path):
    """SQLite in a directory that appears later: 503 until it exists, then 200, same process."""
    data = tmp_path / "later"
    with gunicorn({"DATABASE_URL": f"sqlite:///{data}/db.sqlite3"}) as port:
        assert request(port, "/readyz")[0] == 503
        data.mkdir()
        status, _, body = readiness_until(port, 200)
        assert status == 200, body


# --- readiness under load and with S3 hung: bin/gunicorn, its log read ----------------------------


def gunicorn_alone(web_env, storage_endpoint, database_url=None):
    """bin/gunicorn (two workers) on S3 at `storage_endpoint`, on web_env's database or another URL."""
    from tests.servers import WebProcess, free_port

    port = free_port()
    environ = {
        **web_env,
        "PORT": str(port),
        "STORAGE_URL": f"s3://testing:testing@guestbook?endpoint={storage_endpoint}&region=us-east-1",
        **({"DATABASE_URL": database_url} if database_url else {}),
    }
    return WebProcess(environ, port=port, command="bin/gunicorn").wait_ready()


def probe_timeout():
    """The shortest readiness timeout the manifests give a probe (convox.yml's)."""
    import yaml

    from tests.servers import ROOT

    return yaml.safe_load((ROOT / "convox.yml").read_text())["services"]["web"]["health"]["timeout"]


def test_readiness_checks_each_service_once_per_interval_per_worker(web_env):
    """16 callers asking /readyz without pause for two and a half intervals: S3 sees at most one
    HeadBucket per interval per worker, and the database (on PostgreSQL, counted on the wire) one
    round of its check."""
    from exampleproject.middleware import READINESS_SECONDS
    from tests.servers import CountingProxy, MotoServer

    moto = MotoServer().start()
    moto.client().create_bucket(Bucket="guestbook")
    heads = CountingProxy(moto.port, b"HEAD /")
    url = web_env["DATABASE_URL"]
    queries = CountingProxy(5432, b"SELECT 1") if url.startswith("postgres://postgres@127.0.0.1:5432/") else None
    if queries:
        url = url.replace("127.0.0.1:5432", f"127.0.0.1:{queries.port}")
    web = gunicorn_alone(web_env, f"http://127.0.0.1:{heads.port}", url)
    try:
        assert readiness_until(web.port, 200)[0] == 200
        time.sleep(READINESS_SECONDS)
        counted = heads.count, queries.count if queries else 0
        seconds = 2.5 * READINESS_SECONDS
        deadline = time.monotonic() + seconds

        def ask():
            answers = 0
            while time.monotonic() < deadline:
                assert request(web.port, "/readyz", headers={"X-Forwarded-For": "203.0.113.9"})[0] == 200
                answers += 1
                time.sleep(0.02)  # at most ~6,000 answers: a worker recycled (max_requests) starts uncached
            return answers

        with ThreadPoolExecutor(16) as pool:
            answers = sum(pool.map(lambda _: ask(), range(16)))
        most = 2 * (int(seconds / READINESS_SECONDS) + 1)  # two workers, a check each per interval
        assert 1 <= heads.count - counted[0] <= most < answers / 10, (heads.count - counted[0], answers)
        if queries:  # a round's query, and Django's check of a reused connection (CONN_HEALTH_CHECKS)
            assert 1 <= queries.count - counted[1] <= 2 * most, queries.count - counted[1]
    finally:
        web.stop()
        heads.stop()
        if queries:
            queries.stop()
        moto.stop()


def test_readiness_with_s3_hung_answers_503_within_the_probes_timeout(web_env):
    """S3 accepts connections and never answers: /readyz says 503 within the probe's timeout; a
    stranger learns only that (the router's X-Forwarded-For names one), this machine which service;
    the log names it once per worker, not once per probe."""
    hung = hung_server()
    web = gunicorn_alone(web_env, f"http://127.0.0.1:{hung.getsockname()[1]}")
    try:
        for _ in range(10):
            started = time.monotonic()
            status, _, body = request(web.port, "/readyz", headers={"X-Forwarded-For": "203.0.113.9"})
            assert status == 503 and json.loads(body) == {"status": "unavailable"}, body
            assert time.monotonic() - started < probe_timeout()
        status, _, body = request(web.port, "/readyz")
        assert status == 503 and json.loads(body)["failed"] == ["storage"]
        assert json.loads(body)["checks"]["storage"]["error"] == "ReadTimeoutError"
        assert 1 <= web.log.count("readiness: storage failed: ReadTimeoutError") <= 2, web.log
        assert request(web.port, "/healthz")[0] == 200
    finally:
        web.stop()
        hung.close()
