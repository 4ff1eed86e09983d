"""Django settings for exampleproject, read from the environment (README.md lists each variable).
Bad configuration stops start-up with one message naming every variable at fault."""

import os
import re
import zoneinfo
from pathlib import Path

from dotenv import load_dotenv

from exampleproject import parse, web
from exampleproject.env import GENERATE_KEY, Env

BASE_DIR = Path(__file__).resolve().parent.parent

# .env fills in variables for development, never overriding the environment; ENV_FILE names another ("": none).
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_dotenv(_env_file, override=False)
env = Env()

# --- Core ----------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", False)  # a forgotten variable must never show tracebacks

# Required when DEBUG is off, for every command (the image build gives collectstatic a throwaway one).
SECRET_KEY = env.str("SECRET_KEY", "django-insecure-for-development-only" if DEBUG else None)
if SECRET_KEY is None:
    env.problem("SECRET_KEY", f"required when DEBUG is off; generate one with: {GENERATE_KEY}")
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS")  # old keys, still valid while a new one rolls out

# Any other Host header is refused, which stops cache poisoning and forged reset links.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
for _host in ALLOWED_HOSTS:  # nginx redirects to these hosts only (manage.py nginxconf)
    if not re.fullmatch(r"\*|\.?[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]", _host.lower()):
        env.problem("ALLOWED_HOSTS", f"{_host!r} is not a host name: write e.g. example.com, .example.com or *")
if not ALLOWED_HOSTS and not DEBUG:
    env.problem(
        "ALLOWED_HOSTS",
        "required when DEBUG is off: the comma-separated host names of the site, e.g. example.com,www.example.com",
    )

# A developer's first manage.py command without .env: say where development's DEBUG=true comes from.
if not DEBUG and not env.str("DEBUG") and env.problems and _env_file and not os.path.exists(_env_file):
    env.hint = "Developing on this machine? bin/dev creates .env from .env.example, which sets DEBUG=true."

# Derived from ALLOWED_HOSTS unless given. Checked here: Django's check (4_0.E001) looks for a
# scheme only, and an origin with a path never matches a browser's Origin header.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS") or [
    f"https://*{host}" if host.startswith(".") else f"https://{host}" for host in ALLOWED_HOSTS if host != "*"
]
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("https://", "http://")) or "/" in _origin.split("://", 1)[1]:
        env.problem("CSRF_TRUSTED_ORIGINS", f"{_origin!r} is not an origin (scheme and host), e.g. https://example.com")

# --- Applications --------------------------------------------------------------------------------

INSTALLED_APPS = [
    "exampleproject",
    "exampleapp",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",  # runserver serves static files as production does
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",  # the queue's table, and its results in the admin
]

MIDDLEWARE = [
    "exampleproject.middleware.HealthCheckMiddleware",  # first: before the Host check and HTTPS redirect
    "django.middleware.security.SecurityMiddleware",
    "exampleproject.middleware.ContentSecurityPolicyMiddleware",
    "exampleproject.middleware.PostLimitMiddleware",  # bin/gunicorn's: before any session, form or password
    "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/ when nothing is in front (gunicorn alone)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "exampleproject.middleware.ServiceUnavailableMiddleware",  # last: it sees the views' exceptions
]

ROOT_URLCONF = "exampleproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

# --- Database ------------------------------------------------------------------------------------

# The app's files when no service holds them: the SQLite database, uploaded images.
DATA_DIR = Path(env.str("DATA_DIR", str(BASE_DIR / "data")))
CONN_MAX_AGE = env.int("CONN_MAX_AGE", 600, minimum=0)  # seconds a worker keeps its connection
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", 2, minimum=1)  # fail fast, under the probes' 3 s
DATABASE_WAIT_TIMEOUT = env.int("DATABASE_WAIT_TIMEOUT", 60, minimum=0)  # bin/boot waits this long for it
# No release phase (Convox gen1, Swarm): bin/boot migrates, under a lock, before serving.
RELEASE_ON_START = env.bool("RELEASE_ON_START", False)

# DATABASE_URL unset: SQLite in DATA_DIR (docs/decisions.md, "Database connections").
_database_url = env.url("DATABASE_URL")
DATABASES = {"default": parse.database(env, _database_url, DATA_DIR, CONN_MAX_AGE, DATABASE_CONNECT_TIMEOUT)}

# A Convox Rack empties two databases at each release: SQLite on the container's disk and a gen1
# `database` link, known by the variables it sets (docs/decisions.md, "Databases a Rack empties").
PLATFORM_VARIABLES = ("RACK", "DATABASE_SCHEME", "DATABASE_HOST")
_rack, _link_scheme, _link_host = (os.environ.get(name, "").strip() for name in PLATFORM_VARIABLES)
_emptied = "which every release starts empty; point it at a managed database: convox env set DATABASE_URL=..."
if _rack and _database_url is None:
    env.problem("DATABASE_URL", f"required on a Convox Rack (RACK={_rack}): SQLite on the container's disk, {_emptied}")
elif _rack and _link_scheme and DATABASES["default"].get("HOST") == _link_host:
    env.problem("DATABASE_URL", f"on a Convox Rack (RACK={_rack}) this is the linked `database` container, {_emptied}")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and sessions --------------------------------------------------------------------------

# Sessions in Redis are written through to the database: a Redis restart logs nobody out.
_redis_url = env.url("REDIS_URL")
CACHE_ON_REDIS = _redis_url is not None
CACHES = {
    "default": parse.redis(env, _redis_url),
    # Rendered rows and signed links, in each process (docs/decisions.md, "Page parts in each process").
    "page_parts": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "page_parts"},
}
if CACHE_ON_REDIS:
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Tasks ---------------------------------------------------------------------------------------

# Work done after the response (the admins' email): queued in the database, in the transaction of what it
# is about, and run by bin/worker (docs/services.md, "Tasks"; docs/decisions.md, "The task queue").
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Email ---------------------------------------------------------------------------------------

# EMAIL_URL sets the EMAIL_* settings; unset, mail is printed.
globals().update(parse.email(env, env.url("EMAIL_URL")))
EMAIL_TIMEOUT = 5  # seconds: a mail server that does not answer must not hold a worker
EMAIL_SUBJECT_PREFIX = "[exampleproject] "
DEFAULT_FROM_EMAIL = SERVER_EMAIL = env.str("DEFAULT_FROM_EMAIL", "webmaster@localhost")
ADMINS = [("", address) for address in env.list("ADMINS")]
for _name, _address in ADMINS:
    if "@" not in _address:
        env.problem("ADMINS", f"{_address!r} is not an email address")

# --- Passwords and internationalisation ----------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

TIME_ZONE = env.str("TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    env.problem("TIME_ZONE", f"unknown time zone {TIME_ZONE!r}; use an IANA name such as UTC or Europe/Paris")

# --- Static files and uploads (media) ------------------------------------------------------------

# Hashed names, cached forever, with .gz and .br copies: nginx serves them, or WhiteNoise.
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

# STORAGE_URL unset: uploads under DATA_DIR. Hosts that share no disk, or lose it on restart, need S3.
MEDIA_URL = "/media/"
_media, MEDIA_ORIGIN = parse.storage(env, env.url("STORAGE_URL"), DATA_DIR / "media")
MEDIA_ON_DISK = _media["BACKEND"] == "django.core.files.storage.FileSystemStorage"
MEDIA_ROOT = Path(_media["OPTIONS"]["location"]) if MEDIA_ON_DISK else DATA_DIR / "media"
STORAGES = {"default": _media, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}

# nginx accepts bodies of twice this, so a photo a little too large gets the form's message, not a 413.
IMAGE_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
# What decoding one may take, one at a time per container: images that would need more are refused.
IMAGE_DECODE_MAX_MB, IMAGE_DECODE_LOCK = web.IMAGE_DECODE_MB, web.IMAGE_DECODE_LOCK

# --- HTTPS and security headers ------------------------------------------------------------------

# TLS ends at a proxy: nginx in the image, which overwrites this header, or a platform's router.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS only; off only to browse a local container over plain HTTP.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
# __Host-: only this host, over HTTPS, may set them, so a subdomain cannot plant a session or token.
if SESSION_COOKIE_SECURE:
    SESSION_COOKIE_NAME, CSRF_COOKIE_NAME = "__Host-sessionid", "__Host-csrftoken"
CSRF_COOKIE_HTTPONLY = True  # forms carry the token: scripts never need the cookie
# Subdomains and preload on, as the HSTS preload list requires (docs/decisions.md, "HTTPS defaults").
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)

# Django 6.0's setting, sent on 5.2 by exampleproject/middleware.py: resources from this site only, no
# inline script or style, no framing. The SECURE_CSP variable replaces the directives it names.
SECURE_CSP = parse.csp(
    env,
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none';" + env.str("SECURE_CSP", ""),
)
if MEDIA_ORIGIN and isinstance(SECURE_CSP["img-src"], list):
    SECURE_CSP["img-src"].append(MEDIA_ORIGIN)
# Under DEBUG the policy is only reported, so Django's debug pages (inline script and style) work:
# the browser's console and runserver's log say what production would block.
SECURE_CSP_REPORT_ONLY = {}
if DEBUG:
    SECURE_CSP, SECURE_CSP_REPORT_ONLY = {}, {**SECURE_CSP, "report-uri": "/__csp-report__"}

# --- Logging -------------------------------------------------------------------------------------

# One line per record on stdout, which the platform collects.
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
DEFAULT_EXCEPTION_REPORTER_FILTER = "exampleproject.log.PrivateExceptionReporterFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "one_line": {"()": "exampleproject.log.WarningWithoutTraceback"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "line"},
        # A 500's report to ADMINS (none without them), without a visitor's data (exampleproject/log.py).
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default prints nothing when DEBUG is off: everything on stdout, and 500s mailed.
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django.request": {"handlers": ["stdout", "mail_admins"], "level": LOG_LEVEL, "propagate": False},
        "django.security.DisallowedHost": {"handlers": ["stdout"], "filters": ["one_line"], "propagate": False},
    },
}

# --- Error tracking ------------------------------------------------------------------------------

SENTRY_DSN = env.url("SENTRY_DSN")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0.0, maximum=1.0)
if SENTRY_DSN and not env.problems:
    import sentry_sdk
    from sentry_sdk.utils import BadDsn

    def _traces_sample_rate(context):
        path = (context.get("wsgi_environ") or {}).get("PATH_INFO", "")
        return 0 if path in web.PROBES or path.startswith(STATIC_URL) else SENTRY_TRACES_SAMPLE_RATE

    try:
        sentry_sdk.init(
            dsn=SENTRY_DSN,
            # No personal data (docs/decisions.md, "Sentry without personal data").
            data_collection=dict(user_info=False, cookies={"mode": "off"}, http_bodies=[], database_query_data=False),
            environment=env.str("SENTRY_ENVIRONMENT", "production"),
            traces_sampler=_traces_sample_rate,  # probes and static files are never traced
        )
    except BadDsn:
        env.problem("SENTRY_DSN", "not a Sentry DSN; expected https://<key>@<host>/<project>")

env.finish()
