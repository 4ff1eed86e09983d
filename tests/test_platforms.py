"""Each platform's files, checked against what the image, bin/web and bin/gunicorn really do:
Heroku-style (Procfile, app.json, .python-version, PORT) and Convox (convox.yml)."""

import json
import re
import subprocess

import pytest

from tests.servers import ROOT, WebProcess, free_port, http_request, raw_request

# --- Heroku-style: the Procfile's web command with PORT ---------------------------------------


@pytest.fixture(scope="module")
def port_web(web_env):
    """The Procfile's `web:` line as a buildpack platform runs it: with PORT set."""
    command = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines())["web"]
    port = free_port()
    process = WebProcess({**web_env, "PORT": str(port)}, port=port, command=command).wait_ready()
    yield port, process
    assert process.stop() == 0, process.log


def test_port_mode_runs_gunicorn_alone(port_web):
    port, web = port_web
    assert web.wait_for_log(f"bin/gunicorn: gunicorn alone on 0.0.0.0:{port}"), web.log
    children = subprocess.run(["pgrep", "-f", f"nginx.*{web.process.pid}"], capture_output=True, text=True)
    assert children.stdout == ""
    # bin/gunicorn has become gunicorn (exec): its process is gunicorn's master.
    cmdline = open(f"/proc/{web.process.pid}/cmdline", "rb").read()
    assert b"gunicorn" in cmdline


def test_port_mode_probes_answer_plain_http_with_any_host(port_web):
    port, _ = port_web
    for path in ("/healthz", "/readyz"):
        status, _, body = raw_request(port, http_request("GET", path, host="10.1.2.3"))
        assert status == 200, body


def test_port_mode_trusts_the_routers_x_forwarded_proto(port_web):
    """The router ends TLS and says so in X-Forwarded-Proto: https is detected from it,
    and a request the router marks as plain HTTP is redirected."""
    port, _ = port_web
    status, headers, _ = raw_request(port, http_request("GET", "/admin/login/", headers=["X-Forwarded-Proto: http"]))
    assert (status, headers["location"]) == (301, ["https://localhost/admin/login/"])
    status, headers, body = raw_request(
        port, http_request("GET", "/admin/login/", headers=["X-Forwarded-Proto: https"])
    )
    assert status == 200 and b'name="csrfmiddlewaretoken"' in body
    assert headers["strict-transport-security"][0].startswith("max-age=31536000")
    assert "Secure" in headers["set-cookie"][0]


def test_port_mode_static_files_from_whitenoise(port_web):
    port, _ = port_web
    https = ["X-Forwarded-Proto: https"]
    _, _, body = raw_request(port, http_request("GET", "/admin/login/", headers=https))
    css = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', body).group(1).decode()
    for encoding in ("gzip", "br"):
        status, headers, _ = raw_request(
            port, http_request("GET", css, headers=[*https, f"Accept-Encoding: {encoding}"])
        )
        assert status == 200
        assert headers["content-encoding"] == [encoding]
        assert "immutable" in headers["cache-control"][0]
        assert "max-age=315360000" in headers["cache-control"][0]


def test_blank_web_concurrency_counts_as_unset(web_env):
    """gunicorn itself fails on WEB_CONCURRENCY="" as it loads; `convox start` passes NAME= (bin/boot)."""
    port = free_port()
    web = WebProcess({**web_env, "PORT": str(port), "WEB_CONCURRENCY": " "}, port=port, command="bin/gunicorn")
    try:
        web.wait_ready()
        assert re.search(r"\] \d+ workers \(\d+ CPU, ", web.log), web.log
    finally:
        web.stop()


# --- Heroku-style: the files a buildpack reads --------------------------------------------------


def test_procfile_and_python_version():
    procfile = (ROOT / "Procfile").read_text().splitlines()
    assert procfile == ["web: bin/gunicorn", "worker: bin/worker", "release: bin/release"]
    # The buildpack installs the same Python as the image has (Debian trixie's python3).
    assert (ROOT / ".python-version").read_text().strip() == "3.13"


def test_app_json():
    app = json.loads((ROOT / "app.json").read_text())
    assert app["env"]["SECRET_KEY"]["generator"] == "secret"  # 64 hex digits: passes our strength check
    assert app["env"]["ALLOWED_HOSTS"]["value"] == ".herokuapp.com"
    assert {"plan": "heroku-postgresql"} in app["addons"]
    assert app["buildpacks"] == [{"url": "heroku/python"}]
    test_script = app["environments"]["test"]["scripts"]["test"]
    assert test_script == "bin/test" and (ROOT / "bin" / "test").exists()


# --- Convox (current): convox.yml against the image and bin/web ------------------------------


@pytest.fixture(scope="module")
def convox():
    import yaml

    return yaml.safe_load((ROOT / "convox.yml").read_text())


def test_convox_runs_gunicorn_alone_on_its_port(convox):
    """Convox's router sends plain HTTP to the service's port and sets PORT to it: the
    same command as the Procfile's (tested above with PORT set), on a port of its own."""
    from tests.servers import HTTP_PORT, PROXY_PORT

    port = convox["services"]["web"]["port"]
    assert isinstance(port, int) and port not in (HTTP_PORT, PROXY_PORT)
    assert convox["services"]["web"]["command"] == "bin/gunicorn"


def test_gunicorn_alone_needs_port(tmp_path):
    """bin/gunicorn without PORT stops at once, naming it, before anything starts."""
    from tests.servers import PRODUCTION_ENV

    env = {"PATH": "/usr/bin:/bin", **PRODUCTION_ENV, "DATA_DIR": str(tmp_path)}
    result = subprocess.run(["bin/gunicorn"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "bin/gunicorn: PORT: required" in result.stderr and "Traceback" not in result.stderr


def test_convox_passes_every_variable_and_requires_two(convox):
    """Current Convox gives a service only the variables convox.yml names: the wildcard
    lets `convox env set STORAGE_URL=...` (or any optional variable) reach the app."""
    assert convox["environment"] == ["SECRET_KEY", "ALLOWED_HOSTS"]  # no default: required
    assert convox["services"]["web"]["environment"] == ["*"]


def test_convox_probe_paths_exist(convox):
    from exampleproject.web import LIVENESS, READINESS

    web = convox["services"]["web"]
    assert web["health"]["path"] == READINESS  # readiness may fail with the database
    assert web["liveness"]["path"] == LIVENESS  # liveness never does
    assert web["health"]["timeout"] < web["health"]["interval"]


def test_convox_commands_exist(convox):
    import os

    from django.core.management import get_commands

    web = convox["services"]["web"]
    for command in (web["command"], web["initContainer"]["command"]):
        assert os.access(ROOT / command, os.X_OK), command
    timer = convox["timers"]["clearsessions"]
    assert timer["service"] == "web"
    assert timer["command"].split()[:2] == ["python3", "manage.py"]
    assert timer["command"].split()[2] in get_commands()
    assert len(timer["schedule"].split()) == 5


def test_convox_timeouts_fit_gunicorn(convox):
    from exampleproject import web

    service = convox["services"]["web"]
    assert service["termination"]["grace"] > web.GRACEFUL_TIMEOUT
    assert service["timeout"] > web.TIMEOUT


def test_convox_database_and_required_variables(convox):
    assert convox["resources"]["database"]["type"] == "postgres"  # -> DATABASE_URL
    assert "database" in convox["services"]["web"]["resources"]
    assert {"SECRET_KEY", "ALLOWED_HOSTS"} <= set(convox["environment"])
