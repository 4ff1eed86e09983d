"""
Backing services, each switched on by one URL in the environment (settings.py; README,
"Configuration reference"). Each function returns Django's settings for its URL, or records
a problem naming the variable (never echoing a password) and returns the "off" settings.
"""

import re
from urllib.parse import parse_qs, unquote, urlsplit

CANNOT_PARSE = (
    "cannot parse this {}:// URL; check that the port is a number and that special characters "
    "in the user name and password (such as / and +) are %-encoded"
)


def _scheme(url):
    return url.split("://", 1)[0].lower() if "://" in url else None


# A request waits at most this long on Redis: an outage costs a fast 503, not a hang.
REDIS_TIMEOUT_SECONDS = 2
LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def cache_from_url(env, url):
    """CACHES['default'] for REDIS_URL. Nothing to parse: Django's RedisCache hands each server
    in LOCATION (split at , or ;) to redis-py's ConnectionPool.from_url (django/core/cache/
    backends/redis.py). redis-py's parse_url, which that calls, checks each here, so a mistake
    stops start-up instead of failing every request."""
    if url is None:
        return LOCAL_CACHE
    from redis.connection import parse_url

    try:
        for server in re.split("[;,]", url):
            parse_url(server)  # ValueError: not redis://, rediss:// (or unix://), or a port not a number
    except ValueError:
        env.problem("REDIS_URL", "expected redis:// or rediss:// (TLS) with a numeric port, e.g. redis://host:6379/0")
        return LOCAL_CACHE
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS},
    }


# Our parser, not dj-email-url's: there smtps:// turns on STARTTLS (EMAIL_USE_TLS) with no
# default port (dj_email_url.parse), where RFC 8314, and this app, mean TLS from the first
# byte on port 465; the same URL must not change meaning under a user. (scheme: port, TLS, SSL)
SMTP_SCHEMES = {"smtp": (25, False, False), "submission": (587, True, False), "smtps": (465, False, True)}
CONSOLE_EMAIL = {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}


def email_from_url(env, url):
    """Django's EMAIL_* settings for EMAIL_URL; unset or console://: mail is printed to stdout."""
    scheme = _scheme(url or "console://")
    if scheme == "console":
        return CONSOLE_EMAIL
    if scheme not in SMTP_SCHEMES:
        env.problem(
            "EMAIL_URL",
            f"expected smtp://, submission:// (STARTTLS), smtps:// (TLS) or console://, got a {scheme or 'non'}-URL",
        )
        return CONSOLE_EMAIL
    port, use_tls, use_ssl = SMTP_SCHEMES[scheme]
    try:
        parts = urlsplit(url)
        port = parts.port or port
    except ValueError:
        env.problem("EMAIL_URL", CANNOT_PARSE.format(scheme))
        return CONSOLE_EMAIL
    if not parts.hostname:
        env.problem("EMAIL_URL", f"names no host; expected e.g. {scheme}://user:password@mail.example.com")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }


# What a storage backend raises when it cannot store or read a file: botocore's errors
# when S3 is unreachable or refuses (S3_ERRORS), and the filesystem's OSError (a full disk).
try:
    from botocore.exceptions import BotoCoreError, ClientError

    S3_ERRORS = (BotoCoreError, ClientError)
except ImportError:  # S3 support is optional
    S3_ERRORS = ()
STORAGE_ERRORS = (OSError, *S3_ERRORS)

# Storage calls give up quickly when S3 is unreachable (a form post then answers 503 and
# keeps what was typed); a read may take longer, as an upload on a slow link does.
S3_CONNECT_TIMEOUT_SECONDS = 2
S3_READ_TIMEOUT_SECONDS = 10
S3_OPTIONS = {"endpoint", "region", "custom_domain"}
# Pages link to private objects with URLs signed for an hour (exampleproject/storage.py
# reuses each for its first quarter).
SIGNED_URL_SECONDS = 3600


def storage_from_url(env, url, media_root):
    """STORAGES['default'] for STORAGE_URL, and the origin its files are served from (None:
    this site). Unset: the filesystem under `media_root`; file:///path: the filesystem there;
    s3://key:secret@bucket/prefix?region=...&endpoint=...&custom_domain=...: S3 or an
    S3-compatible store, through django-storages' S3Storage and its own OPTIONS. (No library
    parses a storage URL with these meanings: django-storage-url's s3:// names the endpoint
    host, and makes objects public-read with unsigned links by default.)"""
    local = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media_root)}}
    if url is None:
        return local, None
    scheme = _scheme(url)
    if scheme not in ("file", "s3"):
        env.problem(
            "STORAGE_URL", f"expected s3://key:secret@bucket?region=... or file:///path, got a {scheme or 'non'}-URL"
        )
        return local, None
    try:
        parts = urlsplit(url)
        option = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
    except ValueError:
        env.problem("STORAGE_URL", CANNOT_PARSE.format(scheme))
        return local, None
    if scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            env.problem("STORAGE_URL", "a file:// URL needs an absolute path, e.g. file:///srv/media")
            return local, None
        return {**local, "OPTIONS": {"location": unquote(parts.path)}}, None

    if unknown := sorted(set(option) - S3_OPTIONS):
        env.problem(
            "STORAGE_URL", f"unknown option {', '.join(unknown)}; the options are {', '.join(sorted(S3_OPTIONS))}"
        )
    bucket = parts.hostname
    if not bucket:
        env.problem("STORAGE_URL", "names no bucket; expected s3://key:secret@bucket?region=...")
        return local, None
    if bool(parts.username) != bool(parts.password):
        env.problem(
            "STORAGE_URL",
            "give both the access key and the secret (s3://key:secret@bucket), "
            "or neither to use the platform's credentials (an instance role)",
        )
    endpoint, region, custom_domain = option.get("endpoint"), option.get("region"), option.get("custom_domain")
    if custom_domain and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", custom_domain):
        env.problem(
            "STORAGE_URL", f"custom_domain {custom_domain!r} is not a host name; e.g. custom_domain=media.example.com"
        )
        custom_domain = None
    if endpoint and not endpoint.startswith(("https://", "http://")):
        env.problem("STORAGE_URL", f"endpoint {endpoint!r} is not a URL; e.g. endpoint=https://s3.example.com")
        endpoint = None
    from botocore.config import Config

    options = {
        "bucket_name": bucket,
        "location": parts.path.strip("/"),
        "access_key": unquote(parts.username) if parts.username else None,
        "secret_key": unquote(parts.password) if parts.password else None,
        "region_name": region,
        "endpoint_url": endpoint,
        # Objects stay private: pages link to them with URLs signed for an hour, unless a
        # CDN domain serves them publicly.
        "default_acl": None,
        "querystring_auth": not custom_domain,
        "querystring_expire": SIGNED_URL_SECONDS,
        "custom_domain": custom_domain,
        "client_config": Config(
            # Other S3-compatible stores (MinIO, R2, moto) take the bucket in the path.
            s3={"addressing_style": "path" if endpoint else "virtual"},
            signature_version="s3v4",
            connect_timeout=S3_CONNECT_TIMEOUT_SECONDS,
            read_timeout=S3_READ_TIMEOUT_SECONDS,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    }
    # The origin of the links S3Storage.url() makes, worked out without a boto3 client.
    if custom_domain:
        origin = f"https://{custom_domain}"
    elif endpoint:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(endpoint))
    elif region and region != "us-east-1":
        origin = f"https://{bucket}.s3.{region}.amazonaws.com"
    else:
        origin = f"https://{bucket}.s3.amazonaws.com"
    return {"BACKEND": "exampleproject.storage.S3Storage", "OPTIONS": options}, origin


def traces_sampler(rate, skipped_prefixes):
    """Sentry's sampler: probes and static files are never traced, the rest at `rate`."""

    def sample(context):
        path = (context.get("wsgi_environ") or {}).get("PATH_INFO", "")
        return 0 if path in ("/healthz", "/readyz") or path.startswith(skipped_prefixes) else rate

    return sample
