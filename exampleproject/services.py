"""
Backing services, each switched on by one URL-form environment variable (settings.py).

Each parser returns the Django setting for its URL, or records a problem that names the
variable (never echoing a password) and returns the "off" setting.
"""

import re
from urllib.parse import parse_qs, unquote, urlsplit

# A request waits at most this long on Redis: an outage costs a fast 503, not a hang.
REDIS_TIMEOUT_SECONDS = 2


def _scheme(url):
    return url.split("://", 1)[0].lower() if "://" in url else None


def cache_from_url(env, name, url):
    """CACHES['default'] for REDIS_URL: redis:// or rediss:// (TLS)."""
    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url is None:
        return local
    scheme = _scheme(url)
    if scheme in ("redis", "rediss"):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS},
        }
    env.problem(name, f"expected redis:// or rediss:// (e.g. redis://127.0.0.1:6379/0), got a {scheme or 'non'}-URL")
    return local


EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "submission": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
DEFAULT_PORTS = {"smtp": 25, "submission": 587, "smtps": 465}


def email_from_url(env, url):
    """Django's EMAIL_* settings for EMAIL_URL:
    smtp://user:password@host:25 (plain), submission://...:587 (STARTTLS),
    smtps://...:465 (TLS from the start), console:// (print to stdout)."""
    off = {
        "EMAIL_BACKEND": EMAIL_BACKENDS["console"],
        "EMAIL_HOST": "localhost",
        "EMAIL_PORT": 25,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }
    settings = dict(off)
    if url is None:
        return settings
    scheme = _scheme(url)
    if scheme not in EMAIL_BACKENDS:
        env.problem(
            "EMAIL_URL",
            f"expected smtp://, submission:// (STARTTLS), smtps:// (TLS) or console://, got a {scheme or 'non'}-URL",
        )
        return settings
    settings["EMAIL_BACKEND"] = EMAIL_BACKENDS[scheme]
    if scheme == "console":
        return settings
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        env.problem(
            "EMAIL_URL",
            f"cannot parse this {scheme}:// URL; check that the port is a number and that "
            "special characters in the user name or password are %-encoded",
        )
        return off
    if not parts.hostname:
        env.problem("EMAIL_URL", f"names no host; expected e.g. {scheme}://user:password@mail.example.com")
    settings.update(
        EMAIL_HOST=parts.hostname or "localhost",
        EMAIL_PORT=port,
        EMAIL_HOST_USER=unquote(parts.username or ""),
        EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
        EMAIL_USE_TLS=scheme == "submission",
        EMAIL_USE_SSL=scheme == "smtps",
    )
    return settings


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
    """STORAGES['default'] and the origin its files are served from (None: this site) for
    STORAGE_URL. Unset: the local filesystem under `media_root`. file:///path: the local
    filesystem there. s3://key:secret@bucket/prefix?region=...&endpoint=...&custom_domain=...:
    S3 or an S3-compatible store through django-storages."""
    local = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media_root)}}
    if url is None:
        return local, None
    scheme = _scheme(url)
    if scheme == "file":
        path = unquote(urlsplit(url).path)
        if not path.startswith("/") or urlsplit(url).netloc:
            env.problem("STORAGE_URL", "a file:// URL needs an absolute path, e.g. file:///srv/media")
            return local, None
        return {**local, "OPTIONS": {"location": path}}, None
    if scheme != "s3":
        env.problem(
            "STORAGE_URL", f"expected s3://key:secret@bucket?region=... or file:///path, got a {scheme or 'non'}-URL"
        )
        return local, None
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
    except ValueError:
        env.problem(
            "STORAGE_URL",
            "cannot parse this s3:// URL; check that special characters in the key "
            "and secret (such as / and +) are %-encoded",
        )
        return local, None
    unknown = sorted(set(query) - S3_OPTIONS)
    if unknown:
        env.problem(
            "STORAGE_URL", f"unknown option {', '.join(unknown)}; the options are {', '.join(sorted(S3_OPTIONS))}"
        )
    if not parts.hostname:
        env.problem("STORAGE_URL", "names no bucket; expected s3://key:secret@bucket?region=...")
        return local, None
    if bool(parts.username) != bool(parts.password):
        env.problem(
            "STORAGE_URL",
            "give both the access key and the secret (s3://key:secret@bucket), "
            "or neither to use the platform's credentials (an instance role)",
        )
    option = {name: values[-1] for name, values in query.items()}
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

    bucket = parts.hostname
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
    if custom_domain:
        origin = f"https://{custom_domain}"
    elif endpoint:
        endpoint_parts = urlsplit(endpoint)
        origin = f"{endpoint_parts.scheme}://{endpoint_parts.netloc}"
    elif region and region != "us-east-1":
        origin = f"https://{bucket}.s3.{region}.amazonaws.com"
    else:
        origin = f"https://{bucket}.s3.amazonaws.com"
    return {"BACKEND": "exampleproject.storage.S3Storage", "OPTIONS": options}, origin


def traces_sampler(rate, skipped_prefixes):
    """Sentry's sampler: probes and static files are never traced, the rest at `rate`."""

    def sample(context):
        path = (context.get("wsgi_environ") or {}).get("PATH_INFO", "")
        if path in ("/healthz", "/readyz") or path.startswith(skipped_prefixes):
            return 0
        return rate

    return sample
