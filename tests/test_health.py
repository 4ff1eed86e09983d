"""Probes: /healthz and /readyz answer load balancers under production settings."""

import json

import pytest
from django.db import connections
from django.test import Client

from tests.servers import gunicorn, readiness_until, request

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
