"""exampleproject/settings.py: each variable parsed as documented, each bad value reported."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "exampleproject" / "settings.py"
STRONG_KEY = "k3y-for-tests-only_" + "abcdefghijklmnopqrstuvwxyz0123456789"
PRODUCTION = {"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "example.com"}
# Set by Convox, not by users (settings.py reads them from os.environ).
PLATFORM_VARIABLES = ("RACK", "DATABASE_SCHEME", "DATABASE_HOST")


def settings_variables():
    """Every environment variable settings.py reads, found in its source, with the
    <NAME>_FILE variant of each secret (exampleproject/env.py)."""
    from exampleproject.env import SECRETS

    source = SETTINGS_FILE.read_text()
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source)) | {"ENV_FILE"}
    return sorted(names | {f"{name}_FILE" for name in SECRETS})


def deployment_variables():
    """Every variable the web process's parts (exampleproject/web.py, conf/gunicorn.conf.py) and
    the web commands (bin/web, bin/gunicorn, bin/boot) read."""
    python = "".join((ROOT / name).read_text() for name in ("exampleproject/web.py", "conf/gunicorn.conf.py"))
    scripts = "".join((ROOT / "bin" / name).read_text() for name in ("web", "gunicorn", "boot"))
    names = set(re.findall(r'(?:env\.\w+|os\.environ\.get)\(\s*"([A-Z_]+)"', python))
    names |= set(re.findall(r"\$\{([A-Z_]+):-", scripts))
    # Set by the web commands for gunicorn, not by users.
    return sorted(names - {"WEB_GUNICORN_PORT", "PYTHON"})


def configuration_error(load, **environ):
    with pytest.raises(SystemExit) as exc_info:
        load(**environ)
    message = str(exc_info.value.code)
    assert message.startswith("Configuration error")
    return message


def run_manage(*args, environ, cwd=ROOT):
    """manage.py in a fresh process with only `environ` (plus PATH) set."""
    env = {"PATH": os.environ["PATH"], "ENV_FILE": "", **environ}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


# --- development and production defaults ---------------------------------------------


def test_development_defaults(load_settings, tmp_path):
    s = load_settings(DEBUG="true")
    assert s["DEBUG"] is True
    assert s["SECRET_KEY"].startswith("django-insecure-")
    assert s["ALLOWED_HOSTS"] == []
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SESSION_COOKIE_SECURE"] is False
    assert s["SECURE_HSTS_SECONDS"] == 0
    database = s["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == tmp_path / "data" / "db.sqlite3"
    assert (tmp_path / "data").is_dir()
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]


def test_production_defaults(load_settings):
    s = load_settings(**PRODUCTION)
    assert s["DEBUG"] is False
    assert s["SECRET_KEY"] == STRONG_KEY
    assert s["ALLOWED_HOSTS"] == ["example.com"]
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://example.com"]
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert s["SECURE_HSTS_SECONDS"] == 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SECURE_HSTS_PRELOAD"] is True
    assert s["LOG_LEVEL"] == "INFO"
    assert s["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
        ("  ", False),
    ],
)
def test_debug_words(load_settings, raw, expected):
    assert load_settings(DEBUG=raw, **PRODUCTION)["DEBUG"] is expected


def test_allowed_hosts_and_derived_origins(load_settings):
    s = load_settings(SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS=" example.com, .example.org ,,*")
    assert s["ALLOWED_HOSTS"] == ["example.com", ".example.org", "*"]
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://example.com", "https://*.example.org"]


def test_csrf_trusted_origins_given(load_settings):
    s = load_settings(CSRF_TRUSTED_ORIGINS="https://a.example.com,http://localhost:8000", **PRODUCTION)
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://a.example.com", "http://localhost:8000"]


def test_secret_key_fallbacks(load_settings):
    s = load_settings(SECRET_KEY_FALLBACKS="old-key-1, old-key-2", **PRODUCTION)
    assert s["SECRET_KEY_FALLBACKS"] == ["old-key-1", "old-key-2"]


def test_https_switches(load_settings):
    s = load_settings(
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="no",
        SECURE_HSTS_PRELOAD="0",
        **PRODUCTION,
    )
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SESSION_COOKIE_SECURE"] is False and s["CSRF_COOKIE_SECURE"] is False
    assert s["SECURE_HSTS_SECONDS"] == 600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert s["SECURE_HSTS_PRELOAD"] is False


def test_postgres_url(load_settings):
    s = load_settings(DATABASE_URL="postgres://app:pw@db.internal:6543/shop?sslmode=require", **PRODUCTION)
    database = s["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["USER"], database["PASSWORD"]) == ("app", "pw")
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.internal", 6543, "shop")
    assert database["CONN_MAX_AGE"] == 600
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["OPTIONS"] == {"sslmode": "require", "connect_timeout": 2}


# What a gen1 Rack gives a process linked to the `database` container (convox/rack
# provider/aws/releases.go, the LinkVars): the URL of the container's internal balancer.
RACK_LINK = {
    "RACK": "production",
    "DATABASE_SCHEME": "postgres",
    "DATABASE_HOST": "internal-exampleproject-database-1.eu-west-1.elb.amazonaws.com",
    "DATABASE_URL": "postgres://postgres:password@internal-exampleproject-database-1.eu-west-1.elb.amazonaws.com:5432/app",
}


def test_settings_and_tests_agree_on_platform_variables(load_settings):
    assert load_settings(**PRODUCTION)["PLATFORM_VARIABLES"] == PLATFORM_VARIABLES


def test_rack_refuses_the_linked_database_container(load_settings):
    message = configuration_error(load_settings, **RACK_LINK, **PRODUCTION)
    assert "DATABASE_URL: on a Convox Rack (RACK=production) this is the linked `database` container" in message
    assert "convox env set DATABASE_URL=" in message
    assert "password" not in message  # never the URL itself


def test_rack_refuses_sqlite_in_the_container(load_settings):
    message = configuration_error(load_settings, RACK="production", **PRODUCTION)
    assert "DATABASE_URL: required on a Convox Rack (RACK=production)" in message


def test_rack_accepts_a_managed_database_over_the_link(load_settings):
    """`convox env set DATABASE_URL=...` replaces the link's URL; its other variables stay."""
    managed = "postgres://app:secret@exampleproject-db.abc123.eu-west-1.rds.amazonaws.com:5432/app"
    s = load_settings(**{**RACK_LINK, "DATABASE_URL": managed}, **PRODUCTION)
    assert s["DATABASES"]["default"]["HOST"] == "exampleproject-db.abc123.eu-west-1.rds.amazonaws.com"


def test_the_link_is_fine_off_a_rack(load_settings):
    """`convox start` and docker-compose: the same link, locally, with no RACK."""
    local = {
        k: v.replace("internal-exampleproject-database-1.eu-west-1.elb.amazonaws.com", "172.17.0.2")
        for k, v in RACK_LINK.items()
        if k != "RACK"
    }
    assert load_settings(**local, **PRODUCTION)["DATABASES"]["default"]["HOST"] == "172.17.0.2"
    assert load_settings(**PRODUCTION)["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_connection_tuning(load_settings):
    s = load_settings(
        DATABASE_URL="postgres://app@db/shop", CONN_MAX_AGE="0", DATABASE_CONNECT_TIMEOUT="2", **PRODUCTION
    )
    database = s["DATABASES"]["default"]
    assert database["CONN_MAX_AGE"] == 0
    assert database["OPTIONS"]["connect_timeout"] == 2


def test_mysql_url(load_settings):
    s = load_settings(DATABASE_URL="mysql://root@127.0.0.1:3306/shop", **PRODUCTION)
    database = s["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.mysql"
    assert database["OPTIONS"]["charset"] == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in database["OPTIONS"]["init_command"]
    import MySQLdb  # provided by mysqlclient, or by PyMySQL standing in for it

    assert MySQLdb.version_info >= (2, 2, 1)


def test_sqlite_url(load_settings, tmp_path):
    s = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/other.db", **PRODUCTION)
    assert s["DATABASES"]["default"]["NAME"] == f"{tmp_path}/other.db"


def test_log_level_and_time_zone(load_settings):
    s = load_settings(LOG_LEVEL="warning", TIME_ZONE="Europe/Paris", **PRODUCTION)
    assert s["LOG_LEVEL"] == "WARNING"
    assert s["LOGGING"]["root"]["level"] == "WARNING"
    assert s["TIME_ZONE"] == "Europe/Paris"


def test_static_root(load_settings, tmp_path):
    assert load_settings(STATIC_ROOT=str(tmp_path / "s"), **PRODUCTION)["STATIC_ROOT"] == tmp_path / "s"


def test_env_file_fills_in_but_never_overrides(load_settings, tmp_path):
    env_file = tmp_path / "dev.env"
    env_file.write_text("DEBUG=true\nSECRET_KEY=from-the-file\nLOG_LEVEL=ERROR\n")
    s = load_settings(ENV_FILE=str(env_file), SECRET_KEY="from-the-environment", LOG_LEVEL="DEBUG")
    assert s["DEBUG"] is True
    assert s["SECRET_KEY"] == "from-the-environment"
    assert s["LOG_LEVEL"] == "DEBUG"


# --- bad configuration ---------------------------------------------------------------


def test_secret_key_required_in_production(load_settings):
    message = configuration_error(load_settings, ALLOWED_HOSTS="example.com")
    assert "SECRET_KEY: required when DEBUG is off" in message
    assert "secrets.token_urlsafe" in message


WEAK_KEYS = ["short", "a" * 60, "django-insecure-" + "x1y2z3" * 10]


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_weak_secret_key_refused_in_production(key):
    """Django's criteria (security.W009), as an error: the system check stops every command that
    runs the checks, bin/boot's included. DEBUG on allows any key, the development one too."""
    from django.test import override_settings

    from exampleproject.apps import secret_key_is_strong

    with override_settings(SECRET_KEY=key, DEBUG=False):
        [error] = secret_key_is_strong(None)
    assert error.is_serious() and error.id == "exampleproject.E001"
    assert error.msg.startswith("SECRET_KEY is too weak for production")
    assert "secrets.token_urlsafe" in error.hint
    assert key not in error.msg + error.hint
    with override_settings(SECRET_KEY=key, DEBUG=True):
        assert secret_key_is_strong(None) == []
    with override_settings(SECRET_KEY=STRONG_KEY, DEBUG=False):
        assert secret_key_is_strong(None) == []


def test_weak_secret_key_stops_start_up_without_the_key():
    """The real entry point: bin/boot's first command, exit status 1, no traceback."""
    key = "django-insecure-" + "q7w8e9r0t1" * 5
    result = run_manage("waitfordb", environ={"SECRET_KEY": key, "ALLOWED_HOSTS": "example.com"})
    assert result.returncode == 1
    assert "(exampleproject.E001) SECRET_KEY is too weak for production" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert key not in result.stderr + result.stdout


def test_allowed_hosts_required_in_production(load_settings):
    message = configuration_error(load_settings, SECRET_KEY=STRONG_KEY)
    assert "ALLOWED_HOSTS: required when DEBUG is off" in message


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("DEBUG", "maybe", "DEBUG: expected true or false"),
        ("CONN_MAX_AGE", "ten", "CONN_MAX_AGE: expected a whole number, got 'ten'"),
        ("CONN_MAX_AGE", "-1", "CONN_MAX_AGE: must be 0 or more"),
        ("DATABASE_CONNECT_TIMEOUT", "0", "DATABASE_CONNECT_TIMEOUT: must be 1 or more"),
        ("SECURE_HSTS_SECONDS", "1y", "SECURE_HSTS_SECONDS: expected a whole number"),
        ("SECURE_SSL_REDIRECT", "sometimes", "SECURE_SSL_REDIRECT: expected true or false"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE: unknown time zone"),
        ("CSRF_TRUSTED_ORIGINS", "example.com", "CSRF_TRUSTED_ORIGINS: 'example.com' is not an origin"),
        ("DATABASE_URL", "db.internal:5432", "DATABASE_URL: not a URL"),
        ("DATABASE_URL", "postgress://app:hunter2@db/shop", "DATABASE_URL: unknown scheme 'postgress'"),
        ("DATABASE_URL", "postgres://app:hunter2@db:port/shop", "DATABASE_URL: cannot parse this postgres:// URL"),
    ],
)
def test_bad_value_named(load_settings, name, value, expected):
    message = configuration_error(load_settings, **{**PRODUCTION, name: value})
    assert expected in message
    assert "hunter2" not in message


def test_every_problem_reported_at_once(load_settings):
    message = configuration_error(
        load_settings, DEBUG="perhaps", DATABASE_URL="mysq://root:hunter2@db/x", LOG_LEVEL="LOUD"
    )
    for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "LOG_LEVEL"):
        assert f"  - {name}: " in message
    assert "hunter2" not in message


def test_unusable_data_dir(load_settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    message = configuration_error(load_settings, DATA_DIR=str(blocker / "data"), **PRODUCTION)
    assert "DATA_DIR: cannot create" in message


def test_start_up_fails_with_one_clean_message():
    """The real entry point: exit status 1, the list on stderr, no traceback, no password."""
    result = run_manage("check", environ={"DEBUG": "nope", "DATABASE_URL": "postgres://u:hunter2@h:x/db"})
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error")
    assert "DEBUG:" in result.stderr and "SECRET_KEY:" in result.stderr and "DATABASE_URL:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "hunter2" not in result.stderr + result.stdout


def build_only_variables():
    """The throwaway variables the Dockerfile sets for collectstatic, on its RUN line alone."""
    [line] = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if "manage.py collectstatic" in line]
    assert line.startswith("RUN ")
    return dict(re.findall(r"\b([A-Z_]+)=(\S+)", line.split("manage.py")[0]))


@pytest.mark.slow  # collectstatic in a subprocess, as the image build runs it
def test_collectstatic_needs_no_secret_and_no_database(tmp_path):
    """As in an image build: throwaway SECRET_KEY and ALLOWED_HOSTS, an unreachable database."""
    build_only = build_only_variables()
    assert set(build_only) == {"SECRET_KEY", "ALLOWED_HOSTS"}
    result = run_manage(
        "collectstatic",
        "--noinput",
        environ={
            **build_only,
            "STATIC_ROOT": str(tmp_path / "static"),
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        },
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert re.fullmatch(r"admin/css/base\.[0-9a-f]{12}\.css", hashed)
    assert (tmp_path / "static" / (hashed + ".gz")).is_file()


def test_no_command_runs_without_the_configuration(tmp_path):
    """collectstatic too: settings read the same for every command (the build passes its values)."""
    result = run_manage("collectstatic", "--noinput", environ={"STATIC_ROOT": str(tmp_path / "static")})
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error")
    assert "SECRET_KEY: required" in result.stderr and "ALLOWED_HOSTS: required" in result.stderr


def test_deployment_variables_found():
    assert {"WEB_CONCURRENCY", "WEB_TIMEOUT", "WEB_GRACEFUL_TIMEOUT", "WEB_RUN_DIR", "PORT"} <= set(
        deployment_variables()
    )


# --- secrets from files (<NAME>_FILE) ---------------------------------------------------


def secret_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_secrets_from_files(load_settings, tmp_path):
    """Docker secrets are files in /run/secrets; the trailing newline is not the value's."""
    s = load_settings(
        ALLOWED_HOSTS="example.com",
        SECRET_KEY_FILE=secret_file(tmp_path, "secret_key", STRONG_KEY + "\n"),
        DATABASE_URL_FILE=secret_file(tmp_path, "database_url", "postgres://app:hunter2@db:5432/shop\r\n"),
        REDIS_URL_FILE=secret_file(tmp_path, "redis_url", "redis://cache:6379/1\n"),
        EMAIL_URL_FILE=secret_file(tmp_path, "email_url", "smtps://mailer:pw@mail.example.com\n"),
        STORAGE_URL_FILE=secret_file(tmp_path, "storage_url", "s3://AKID:s3cr3t@media?region=eu-west-1\n"),
        SECRET_KEY_FALLBACKS_FILE=secret_file(tmp_path, "fallbacks", "old-1,old-2\n"),
    )
    assert s["SECRET_KEY"] == STRONG_KEY
    assert s["SECRET_KEY_FALLBACKS"] == ["old-1", "old-2"]
    assert s["DATABASES"]["default"]["PASSWORD"] == "hunter2"
    assert s["CACHES"]["default"]["LOCATION"] == "redis://cache:6379/1"
    assert (s["EMAIL_HOST"], s["EMAIL_HOST_PASSWORD"], s["EMAIL_USE_SSL"]) == ("mail.example.com", "pw", True)
    assert s["STORAGES"]["default"]["OPTIONS"]["secret_key"] == "s3cr3t"


def test_every_secret_is_read_by_settings():
    from exampleproject.env import SECRETS

    assert {f"{name}_FILE" for name in SECRETS} <= set(settings_variables())
    assert set(SECRETS) <= set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', SETTINGS_FILE.read_text()))


def test_sentry_dsn_from_a_file(load_settings, tmp_path):
    message = configuration_error(
        load_settings, SENTRY_DSN_FILE=secret_file(tmp_path, "dsn", "not-a-dsn\n"), **PRODUCTION
    )
    assert "SENTRY_DSN: not a Sentry DSN" in message


def test_secret_both_set_is_refused(load_settings, tmp_path):
    path = secret_file(tmp_path, "secret_key", "from-the-file-" + STRONG_KEY)
    message = configuration_error(
        load_settings, SECRET_KEY_FILE=path, SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="example.com"
    )
    assert "SECRET_KEY_FILE: both SECRET_KEY and SECRET_KEY_FILE are set; set only one of them" in message
    assert "SECRET_KEY: required" not in message  # one problem, named once
    assert STRONG_KEY not in message


@pytest.mark.parametrize("case", ["missing", "empty", "blank", "directory", "under_a_file", "binary"])
def test_unusable_secret_file_named_with_its_path(load_settings, tmp_path, case):
    path = tmp_path / "database_url"
    expected = {
        "missing": "cannot read {path!r} (No such file or directory)",
        "empty": "{path!r} is empty",
        "blank": "{path!r} is empty",
        "directory": "cannot read {path!r} (Is a directory)",
        "under_a_file": "cannot read {path!r} (Not a directory)",
        "binary": "{path!r} is not UTF-8 text",
    }
    if case == "under_a_file":  # a mount gone wrong; as root, the OS refuses nothing else
        (tmp_path / "secrets").write_text("")
        path = tmp_path / "secrets" / "database_url"
    elif case == "empty":
        path.write_text("")
    elif case == "blank":
        path.write_text(" \n\n")
    elif case == "directory":
        path.mkdir()
    elif case == "binary":
        path.write_bytes(b"postgres://app:hunter2\xff@db/shop")
    message = configuration_error(load_settings, DATABASE_URL_FILE=str(path), **PRODUCTION)
    assert f"  - DATABASE_URL_FILE: {expected[case].format(path=str(path))}" in message
    assert "hunter2" not in message
    # One problem: not a second one about DATABASE_URL itself.
    assert "  - DATABASE_URL:" not in message


def test_secret_file_problem_stops_start_up_without_the_value(tmp_path):
    """The real entry point: a missing key file and an empty URL file, both named; the app
    does not fall back to SQLite or to anything else."""
    empty = secret_file(tmp_path, "database_url", "\n")
    result = run_manage(
        "check",
        environ={"ALLOWED_HOSTS": "example.com", "SECRET_KEY_FILE": "/run/secrets/nope", "DATABASE_URL_FILE": empty},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error")
    assert "SECRET_KEY_FILE: cannot read '/run/secrets/nope' (No such file or directory)" in result.stderr
    assert f"DATABASE_URL_FILE: {empty!r} is empty" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_every_variable_is_documented():
    """README's configuration table and .env.example name every variable the app reads."""
    readme = (ROOT / "README.md").read_text()
    env_example = (ROOT / ".env.example").read_text()
    for name in settings_variables() + deployment_variables():
        assert f"`{name}`" in readme, f"{name} is missing from README.md"
        if not name.endswith("_FILE") or name == "ENV_FILE":  # .env.example shows one <NAME>_FILE
            assert re.search(rf"^#? ?{name}=", env_example, re.M), f"{name} is missing from .env.example"
    assert re.search(r"^# SECRET_KEY_FILE=/run/secrets/", env_example, re.M)


# --- URL-shaped secrets with reserved characters -------------------------------------------------

URL_SECRETS = {
    "DATABASE_URL": "postgres://{user}:{password}@db.internal:5432/app",
    "REDIS_URL": "redis://{user}:{password}@cache.internal:6379/0",
    "EMAIL_URL": "submission://{user}:{password}@mail.internal:587",
    "STORAGE_URL": "s3://{user}:{password}@media-bucket/uploads?region=eu-west-1",
    "SENTRY_DSN": "https://{user}:{password}@o0.ingest.sentry.io/0",
}


def parsed_credentials(settings, name):
    """(user, password) as the settings will use them."""
    if name == "DATABASE_URL":
        return settings["DATABASES"]["default"]["USER"], settings["DATABASES"]["default"]["PASSWORD"]
    if name == "EMAIL_URL":
        return settings["EMAIL_HOST_USER"], settings["EMAIL_HOST_PASSWORD"]
    if name == "STORAGE_URL":
        options = settings["STORAGES"]["default"]["OPTIONS"]
        return options["access_key"], options["secret_key"]
    from urllib.parse import unquote, urlsplit

    url = settings["CACHES"]["default"]["LOCATION"] if name == "REDIS_URL" else settings["SENTRY_DSN"]
    parts = urlsplit(url)
    return unquote(parts.username), unquote(parts.password)


@pytest.mark.parametrize("name", sorted(URL_SECRETS))
@pytest.mark.parametrize("char", ["/", "?", "#", "@", ":", "%", "+", " "])
@pytest.mark.parametrize("where", ["user", "password"])
def test_a_url_secret_parses_to_what_was_meant_or_stops_start_up(load_settings, name, char, where):
    """About half of AWS secret keys hold a "/". Written raw, a reserved character either parses to
    exactly the credentials meant, or start-up stops naming the variable, never the secret; written
    percent-encoded, it always parses to what was meant."""
    from urllib.parse import quote

    secret = {"user": "AKIAEXAMPLE", "password": "wJalrXUtnFEMI/K7MDENG"}
    secret[where] = f"se{char}cr{char}et"
    raw = URL_SECRETS[name].format(**secret)
    try:
        settings = load_settings(**PRODUCTION, **{name: raw})
    except SystemExit as stopped:
        message = str(stopped.code)
        assert f"  - {name}: " in message
        assert secret[where] not in message and "cr" + char not in message and "wJalr" not in message
    else:
        assert parsed_credentials(settings, name) == (secret["user"], secret["password"]), raw
        if name == "STORAGE_URL":
            assert "AKIA" not in (settings["MEDIA_ORIGIN"] or "") and "se" not in settings["MEDIA_ORIGIN"][8:11]

    encoded = URL_SECRETS[name].format(**{key: quote(value, safe="") for key, value in secret.items()})
    settings = load_settings(**PRODUCTION, **{name: encoded})
    assert parsed_credentials(settings, name) == (secret["user"], secret["password"])
