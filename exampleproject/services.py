"""
Backing services, each switched on by one URL-form environment variable (settings.py).

Each parser returns the Django setting for its URL, or records a problem that names the
variable (never echoing a password) and returns the "off" setting.
"""

from urllib.parse import unquote, urlsplit

# A request waits at most this long on Redis: an outage costs a fast 503, not a hang.
REDIS_TIMEOUT_SECONDS = 2


def _scheme(url):
    return url.split("://", 1)[0].lower() if "://" in url else None


def cache_from_url(env, name, url):
    """CACHES['default'] for REDIS_URL / CACHE_URL: redis:// or rediss:// (TLS)."""
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
    off = {"EMAIL_BACKEND": EMAIL_BACKENDS["console"], "EMAIL_HOST": "localhost", "EMAIL_PORT": 25,
           "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": "", "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False}
    settings = dict(off)
    if url is None:
        return settings
    scheme = _scheme(url)
    if scheme not in EMAIL_BACKENDS:
        env.problem("EMAIL_URL", "expected smtp://, submission:// (STARTTLS), smtps:// (TLS) or console://, "
                                 f"got a {scheme or 'non'}-URL")
        return settings
    settings["EMAIL_BACKEND"] = EMAIL_BACKENDS[scheme]
    if scheme == "console":
        return settings
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        env.problem("EMAIL_URL", f"cannot parse this {scheme}:// URL; check that the port is a number and that "
                                 "special characters in the user name or password are %-encoded")
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


def traces_sampler(rate, skipped_prefixes):
    """Sentry's sampler: probes and static files are never traced, the rest at `rate`."""

    def sample(context):
        path = (context.get("wsgi_environ") or {}).get("PATH_INFO", "")
        if path in ("/healthz", "/readyz") or path.startswith(skipped_prefixes):
            return 0
        return rate

    return sample
