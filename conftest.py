"""Fixtures shared by both test trees: the project's (tests/) and the example app's
(exampleapp/tests/). At the root, so that deleting the app leaves them in place."""

import pytest
from django.core.management import call_command
from django.test import Client, override_settings


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """Run collectstatic once, as a deployment does, so pages render with the real
    manifest storage (hashed names) instead of a test-only substitute."""
    static_root = tmp_path_factory.mktemp("staticfiles")
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield static_root


@pytest.fixture(scope="session", autouse=True)
def no_container_left():
    """At the end of the run, remove any container a test started and could not remove."""
    yield
    from tests.servers import remove_containers

    remove_containers()


@pytest.fixture(scope="session")
def web_env(tmp_path_factory):
    """What bin/web needs, once per run: a fresh database migrated by bin/release, and
    collected static files."""
    from tests.servers import prepare_web_env, require

    require("nginx", "bin/web runs nginx in front of gunicorn (Debian package nginx)")
    return prepare_web_env("exampleproject_web", tmp_path_factory.mktemp("web"))


@pytest.fixture
def load_settings(monkeypatch, tmp_path):
    """Evaluate settings.py afresh under exactly the given variables; returns its namespace.
    (Every variable settings.py reads is cleared first: see test_settings.settings_variables.)"""
    import os
    import runpy

    from tests.test_settings import PLATFORM_VARIABLES, SETTINGS_FILE, settings_variables

    saved = dict(os.environ)

    def load(**environ):
        for name in settings_variables() + list(PLATFORM_VARIABLES):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ENV_FILE", "")
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))

    yield load
    # load_dotenv writes to os.environ behind monkeypatch's back.
    os.environ.clear()
    os.environ.update(saved)


def migrated_site(tmp, environ, *commands):
    """Collect static files and migrate a SQLite database under `tmp` with `environ`, then run
    each further management command; returns the variables gunicorn needs to find them."""
    import os
    import subprocess
    import sys

    from tests.servers import ROOT

    env = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "",
        "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
        "STATIC_ROOT": str(tmp / "static"),
        **environ,
    }
    for args in (["collectstatic", "--noinput", "-v0"], ["migrate", "--noinput", "-v0"], *commands):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return {k: env[k] for k in ("DATABASE_URL", "STATIC_ROOT", "DATA_DIR") if k in env}


@pytest.fixture(scope="session")
def media_env(tmp_path_factory):
    """A migrated SQLite database and collected static files, for gunicorn (the media tests:
    tests/test_media.py, exampleapp/tests/test_uploads.py)."""
    from tests.test_settings import PRODUCTION

    tmp = tmp_path_factory.mktemp("media")
    return migrated_site(tmp, {"DATA_DIR": str(tmp / "data"), **PRODUCTION})


@pytest.fixture(scope="session")
def service_env(tmp_path_factory):
    """A migrated SQLite database with an admin user, and collected static files (the services'
    tests: tests/test_services.py, exampleapp/tests/test_notifications.py, exampleapp/tests/test_worker.py)."""
    environ = {
        "DEBUG": "false",
        "SECRET_KEY": "test-suite-only-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SUPERUSER_PASSWORD": "a-long-password-for-the-cache-test",
    }
    superuser = ["createsuperuser", "--noinput", "--username", "cacheadmin", "--email", "a@example.com"]
    return migrated_site(tmp_path_factory.mktemp("services"), environ, superuser)


@pytest.fixture(scope="module")
def web(web_env):
    """bin/web on ports 4000/4001, for a module's tests; it must stop cleanly after them."""
    from tests.servers import WebProcess, ports_free

    ports_free()
    process = WebProcess(web_env).wait_ready()
    yield process
    assert process.stop() == 0, process.log


@pytest.fixture(scope="module")
def haproxy(web, tmp_path_factory):
    """HAProxy in front of `web`, as the load balancer: TLS on its port, PROXY protocol to 4001."""
    from tests.servers import Balancer, require

    require("haproxy", "the load-balancer test runs HAProxy (Debian package haproxy)")
    require("openssl", "the load-balancer test makes a self-signed certificate")
    balancer = Balancer(tmp_path_factory.mktemp("haproxy"))
    yield balancer
    balancer.stop()


@pytest.fixture
def admin_password(db):
    """A superuser, "admin", in the test database; returns its password."""
    from django.contrib.auth import get_user_model

    from tests.servers import ADMIN_PASSWORD, ADMIN_USERNAME

    get_user_model().objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)
    return ADMIN_PASSWORD


@pytest.fixture
def client():
    """A client whose requests arrive as nginx forwards them: over HTTPS, with nginx's
    X-Forwarded-Proto. Tests of plain HTTP build their own Client()."""
    return Client(headers={"X-Forwarded-Proto": "https"})


def pytest_report_header(config):
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        return "database: SQLite, a test database of its own (DATABASE_URL is unset)"
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    return f"database: {engine} at {database['HOST']}:{database['PORT']}, test database test_{database['NAME']}"


# A test that uses one of these starts real servers or containers: it is `slow` (pytest.ini).
SERVER_FIXTURES = {"web_env", "media_env", "service_env", "docker_daemon"}


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="leave out the slow tests (marker slow): under a minute")


def pytest_collection_modifyitems(config, items):
    """Mark tests on Django's test database `engine` and tests on real servers `slow` (pytest.ini);
    with --quick, leave the slow ones out."""
    for item in items:
        if item.get_closest_marker("django_db") or {"db", "transactional_db"} & set(item.fixturenames):
            item.add_marker(pytest.mark.engine)
        if SERVER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    if config.getoption("quick"):
        slow = [item for item in items if item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
