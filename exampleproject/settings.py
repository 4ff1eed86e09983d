"""
Django settings for exampleproject, read from the environment (twelve-factor).

Every value a deployment changes comes from an environment variable; README.md lists
each one with its default. With nothing set, the app runs for development on SQLite.
Bad configuration stops start-up with one message that names every variable at fault.
"""

import os
import zoneinfo
from pathlib import Path

import dj_database_url
from dotenv import load_dotenv

from exampleproject import security, services
from exampleproject.env import GENERATE_KEY, Env

BASE_DIR = Path(__file__).resolve().parent.parent

# A .env file fills in variables for local development. It never overrides the real
# environment, so a platform's settings always win. ENV_FILE names another file, and an
# empty ENV_FILE reads none (the test suite does that, to run the same everywhere).
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_dotenv(_env_file, override=False)

env = Env()


# --- Core ----------------------------------------------------------------------------

# Off unless set: a forgotten variable must never expose tracebacks and settings.
DEBUG = env.bool("DEBUG", False)

# Signs sessions, CSRF tokens and password-reset links. Required when DEBUG is off, for
# every command (the image build gives collectstatic a throwaway one: Dockerfile); the
# development key is only used when DEBUG is on. A weak key stops start-up too: Django's
# own criteria, as a system check (exampleproject/apps.py).
_DEVELOPMENT_KEY = "django-insecure-development-only-never-use-this-key-in-production"
SECRET_KEY = env.str("SECRET_KEY", _DEVELOPMENT_KEY if DEBUG else None)
if SECRET_KEY is None:
    env.problem("SECRET_KEY", f"required when DEBUG is off; generate one with: {GENERATE_KEY}")
# Old keys still accepted for existing sessions and links while a new key rolls out.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS")

# The host names this site answers to: Django rejects any other Host header, which
# stops cache poisoning and forged password-reset links. Required in production (with
# DEBUG on, Django allows localhost by itself). A leading dot allows subdomains.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS and not DEBUG:
    env.problem(
        "ALLOWED_HOSTS",
        "required when DEBUG is off: the comma-separated host names of the site, e.g. example.com,www.example.com",
    )

# Origins whose form posts pass the CSRF check. Derived from ALLOWED_HOSTS (https only,
# `.example.com` gives `https://*.example.com`), unless given; needed when a proxy in front
# changes the Host header. Checked here, not left to Django's check (4_0.E001), which looks
# for a scheme only: an origin with a path never matches a browser's Origin header.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS") or [
    f"https://*{host}" if host.startswith(".") else f"https://{host}" for host in ALLOWED_HOSTS if host != "*"
]
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("https://", "http://")) or "/" in _origin.split("://", 1)[1]:
        env.problem(
            "CSRF_TRUSTED_ORIGINS", f"{_origin!r} is not an origin; write scheme and host, e.g. https://example.com"
        )


# --- Applications --------------------------------------------------------------------

INSTALLED_APPS = [
    # The project's own commands: waitfordb, nginxconf, and a migrate that takes a lock.
    "exampleproject",
    "exampleapp",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # WhiteNoise also serves static files under runserver, as it does in production.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    # First: probes use an IP as Host and plain HTTP, so they are answered before the
    # HTTPS redirect and the ALLOWED_HOSTS check below could turn them away.
    "exampleproject.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "exampleproject.security.ContentSecurityPolicyMiddleware",
    # Serves /static/ when nothing in front does (gunicorn alone on a PORT platform).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees the views' exceptions: an outage of the database, Redis or S3
    # answers 503 with Retry-After, not 500.
    "exampleproject.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "exampleproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "exampleproject.wsgi.application"


# --- Database ------------------------------------------------------------------------

# Where the app keeps files of its own: the SQLite database when DATABASE_URL is unset,
# and uploaded images when STORAGE_URL is unset.
DATA_DIR = Path(env.str("DATA_DIR", str(BASE_DIR / "data")))

# Keep each worker's connection open for this many seconds instead of reconnecting on
# every request (a PostgreSQL connection costs a few milliseconds); 0 closes it per request.
CONN_MAX_AGE = env.int("CONN_MAX_AGE", 600, minimum=0)

# Give up on an unreachable database after this many seconds, so a request or a
# readiness probe fails fast instead of hanging until the proxy's timeout.
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)

# At boot (bin/boot, bin/release), wait this many seconds for the database to come up
# before failing: a fresh database container takes a few seconds to initialise.
DATABASE_WAIT_TIMEOUT = env.int("DATABASE_WAIT_TIMEOUT", 60, minimum=0)

# For platforms with no release phase (Convox gen1, Docker Swarm): the web process applies
# the migrations itself (bin/release) before it serves, under a database lock, so instances
# starting together apply each migration once. bin/boot reads it; this validates it.
RELEASE_ON_START = env.bool("RELEASE_ON_START", False)


def _database_from_url(url):
    """DATABASES['default'] for a URL, or None after naming the problem (never the URL itself)."""
    scheme = url.split("://", 1)[0] if "://" in url else None
    if not scheme:
        env.problem("DATABASE_URL", "not a URL; expected e.g. postgres://user:password@host:5432/name")
        return None
    try:
        # Health checks test a reused connection before each request, so a database
        # restart costs one reconnect instead of one failed request per worker.
        return dj_database_url.parse(url, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
    except dj_database_url.UnknownSchemeError:
        env.problem("DATABASE_URL", f"unknown scheme {scheme!r}; use postgres://, mysql:// or sqlite://")
    except (ValueError, dj_database_url.ParseError):
        env.problem(
            "DATABASE_URL",
            f"cannot parse this {scheme}:// URL; check that the port is a number and that "
            "special characters in the user name or password are %-encoded",
        )
    return None


_database_url = env.str("DATABASE_URL")
PLATFORM_VARIABLES = ("RACK", "DATABASE_SCHEME", "DATABASE_HOST")
if _database_url is None:
    # The embedded default: a SQLite file, so a newcomer needs nothing but Python.
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
        "CONN_MAX_AGE": CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
    }
    try:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        env.problem("DATA_DIR", f"cannot create {str(DATA_DIR)!r} for the SQLite database ({exc.strerror})")
else:
    _database = _database_from_url(_database_url) or {"ENGINE": "django.db.backends.dummy"}

# On a Convox Rack, which sets RACK in every process's environment (convox/rack
# provider/aws/formation/g1/app.json.tmpl; convox/convox provider/k8s/helpers.go), the
# app refuses the two databases a release would empty: SQLite on the container's own disk,
# and a gen1 `database` container reached through its link, whose volume Convox drops
# (only absolute host paths are mounted: pkg/manifest1 service.go, MountableVolumes). The
# link is recognised by the variables it sets beside DATABASE_URL (provider/aws
# releases.go: DATABASE_SCHEME, DATABASE_HOST, ...); `convox env set DATABASE_URL=...`
# replaces its URL. (Set by the platform, not by users: read from os.environ.)
_platform = {name: os.environ.get(name, "").strip() for name in PLATFORM_VARIABLES}
_rack = _platform["RACK"]
if _rack and _database_url is None:
    env.problem(
        "DATABASE_URL",
        f"required on a Convox Rack (RACK={_rack}): SQLite on the container's disk loses its "
        "data with every release; point it at a managed database: convox env set DATABASE_URL=...",
    )
elif _rack and _platform["DATABASE_SCHEME"] and _database.get("HOST") == _platform["DATABASE_HOST"]:
    env.problem(
        "DATABASE_URL",
        f"on a Convox Rack (RACK={_rack}) this is the linked `database` container, which every "
        "release starts empty; point it at a managed database: convox env set DATABASE_URL=...",
    )

_engine = _database["ENGINE"].rsplit(".", 1)[-1]
_options = _database.setdefault("OPTIONS", {})
if _engine in ("postgresql", "mysql"):
    _options.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
if _engine == "mysql":
    try:
        import MySQLdb  # noqa: F401  (mysqlclient, Django's reference driver, when installed)
    except ImportError:
        import pymysql

        pymysql.install_as_MySQLdb()
    _options.setdefault("charset", "utf8mb4")  # full Unicode, emoji included
    # Strict mode: an over-long or invalid value is an error, not silently truncated.
    _options.setdefault("init_command", "SET sql_mode='STRICT_TRANS_TABLES'")
elif _engine == "sqlite3":
    # WAL lets readers run while one worker writes; IMMEDIATE transactions and a busy
    # timeout make concurrent writers wait their turn instead of failing with "locked".
    _options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    _options.setdefault("transaction_mode", "IMMEDIATE")
    _options.setdefault("timeout", 20)

DATABASES = {"default": _database}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Cache and sessions --------------------------------------------------------------

# REDIS_URL (what Redis add-ons set), redis:// or rediss:// (TLS): Django's Redis cache, also
# holding sessions, which are written through to the database, so a Redis restart logs nobody
# out. Unset: each process has its own in-memory cache, and sessions live in the database.
CACHES = {"default": services.cache_from_url(env, env.str("REDIS_URL"))}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# What the guestbook page renders from its rows (entries, the blank form, signed image links)
# stays in each process's memory, even with Redis: keys derive from the rows (exampleapp/
# views.py), so every process sees a change at its next request untold, nothing outlives the
# code that rendered it (a deploy starts new processes), and a hit costs no round trip.
# Django's default limit of 300 entries (about 3 MB a process) is kept, least recently used out.
CACHES["render"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "render"}


# --- Email ----------------------------------------------------------------------------

# EMAIL_URL: smtp:// (plain, port 25), submission:// (STARTTLS, 587), smtps:// (TLS from
# the first byte, 465) or console://; it sets EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS and EMAIL_USE_SSL. Unset: mail is
# printed to stdout. ADMINS receive error reports and a note for each signature.
globals().update(services.email_from_url(env, env.str("EMAIL_URL")))
EMAIL_TIMEOUT = 5  # seconds: a mail server that does not answer must not hold a worker
EMAIL_SUBJECT_PREFIX = "[exampleproject] "
DEFAULT_FROM_EMAIL = SERVER_EMAIL = env.str("DEFAULT_FROM_EMAIL", "webmaster@localhost")
ADMINS = [("", address) for address in env.list("ADMINS")]
for _name, _address in ADMINS:
    if "@" not in _address:
        env.problem("ADMINS", f"{_address!r} is not an email address")


# --- Passwords and internationalisation ----------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    env.problem("TIME_ZONE", f"unknown time zone {TIME_ZONE!r}; use an IANA name such as UTC or Europe/Paris")
USE_I18N = True
USE_TZ = True


# --- Static files --------------------------------------------------------------------

# `collectstatic` gathers every app's files into STATIC_ROOT with content-hashed names and
# gzip/Brotli copies beside them, so they can be cached forever. nginx serves them in the
# image; WhiteNoise serves the same files when the app runs without nginx.
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))


# --- Uploaded files (media) ----------------------------------------------------------

# Images attached to guestbook entries go through Django's storage API. STORAGE_URL
# unset: files under $DATA_DIR/media (file:///path: elsewhere), served at /media/ by nginx
# in the image (by Django when nothing is in front). Containers on several hosts, or
# platforms whose disk does not survive a restart, need S3: s3://key:secret@bucket?region=...
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
_media_storage, MEDIA_ORIGIN = services.storage_from_url(env, env.str("STORAGE_URL"), MEDIA_ROOT)
if _media_storage["BACKEND"].endswith("FileSystemStorage"):
    MEDIA_ROOT = Path(_media_storage["OPTIONS"]["location"])

STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ON_DISK = STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")

# An attached image may have up to this many bytes. nginx accepts request bodies of twice
# that, so a photo somewhat too large gets the form's message rather than nginx's 413 page.
IMAGE_UPLOAD_MAX_BYTES = 5 * 1024 * 1024


# --- HTTPS and security headers ------------------------------------------------------

# The app runs behind a proxy that ends TLS (nginx in the image, which overwrites this
# header on every request; or a platform's router), so the scheme comes from it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Production serves HTTPS only: plain-HTTP requests are redirected, and cookies are
# never sent over plain HTTP. Turn it off only to browse a local container over http.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT

# HSTS: browsers use HTTPS for this site for a year without trying HTTP first. Django
# sends it on HTTPS responses only. Subdomains and preload are on, as the HSTS preload
# list requires; turn them off if a subdomain still serves plain HTTP.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)

# Content-Security-Policy: resources load from this site only and no inline script or style
# runs, so injected markup can neither run code nor send data elsewhere; no page is framed.
# SECURE_CSP is Django 6.0's setting, a dict of directives (security.py sends it on 5.2). With
# STORAGE_URL on S3, img-src also allows the bucket's (or its CDN's) origin. The SECURE_CSP
# variable replaces the directives it names, written as in the header: "script-src 'self' https://plausible.io".
SECURE_CSP = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "manifest-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
    **security.directives(env, "SECURE_CSP", env.str("SECURE_CSP", "")),
}
if MEDIA_ORIGIN and isinstance(SECURE_CSP["img-src"], list):
    SECURE_CSP["img-src"] = [*SECURE_CSP["img-src"], MEDIA_ORIGIN]

# Scripts never need the CSRF cookie (forms carry the token), so hide it from them.
CSRF_COOKIE_HTTPONLY = True


# --- Logging -------------------------------------------------------------------------

# Everything goes to stdout, one line per record: the platform collects and ships it.
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"without_traceback": {"()": "exampleproject.log.WithoutTraceback"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "line"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    # Replaces Django's default, which prints nothing when DEBUG is off and mails admins.
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # A request with a Host outside ALLOWED_HOSTS gets a 400: one line, no traceback.
        "django.security.DisallowedHost": {
            "handlers": ["stdout"],
            "filters": ["without_traceback"],
            "propagate": False,
        },
    },
}


# --- Error tracking -------------------------------------------------------------------

# SENTRY_DSN: errors (and, at SENTRY_TRACES_SAMPLE_RATE, performance traces) go to Sentry.
# Probes and static files are never traced.
SENTRY_DSN = env.str("SENTRY_DSN")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0.0, maximum=1.0)
if SENTRY_DSN and not env.problems:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.utils import BadDsn

    try:
        sentry_sdk.init(
            dsn=SENTRY_DSN,
            integrations=[DjangoIntegration()],
            # No personal data: no IP addresses or user details, no cookies, no request bodies
            # (form posts carry visitors' names and messages), and no SQL parameters (a session
            # query's is the session key; sentry_sdk/tracing_utils.py, record_sql_queries).
            data_collection={
                "user_info": False,
                "cookies": {"mode": "off"},
                "http_bodies": [],
                "database_query_data": False,
            },
            environment=env.str("SENTRY_ENVIRONMENT", "production"),
            traces_sampler=services.traces_sampler(SENTRY_TRACES_SAMPLE_RATE, ("/" + STATIC_URL.lstrip("/"),)),
        )
    except BadDsn:
        env.problem("SENTRY_DSN", "not a Sentry DSN; expected https://<key>@<host>/<project>")


# Last: report every problem found above at once, or go on.
env.finish()
