"""What settings.py makes of the backing services' URLs and of the CSP. A mistake is recorded with
env.problem, naming the variable, never its password."""

import re
from functools import partial
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url

CANNOT_PARSE = (
    "cannot parse this {}:// URL; check that the port is a number and that special characters "
    "in the user name and password (such as / and +) are %-encoded"
)


def _scheme(url):
    return url.split("://", 1)[0].lower() if "://" in url else None


def database(env, url, data_dir, conn_max_age, connect_timeout):
    """DATABASES["default"] for DATABASE_URL; unset, a SQLite file in `data_dir`."""
    database, problem = {"ENGINE": "django.db.backends.dummy"}, partial(env.problem, "DATABASE_URL")
    if url is None:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": data_dir / "db.sqlite3"}
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            env.problem("DATA_DIR", f"cannot create {str(data_dir)!r} for the SQLite database ({exc.strerror})")
    elif not _scheme(url):
        problem("not a URL; expected e.g. postgres://user:password@host:5432/name")
    else:
        try:
            database = dj_database_url.parse(url)
        except dj_database_url.UnknownSchemeError:
            problem(f"unknown scheme {_scheme(url)!r}; use postgres://, mysql:// or sqlite://")
        except ValueError:
            problem(CANNOT_PARSE.format(_scheme(url)))
    # A reused connection is tested before each request: a database restart costs one reconnect.
    database.update(CONN_MAX_AGE=conn_max_age, CONN_HEALTH_CHECKS=True)
    options = database.setdefault("OPTIONS", {})
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine in ("postgresql", "mysql"):
        options.setdefault("connect_timeout", connect_timeout)
    if engine == "mysql":
        try:
            import MySQLdb  # noqa: F401  (mysqlclient, Django's reference driver, when installed)
        except ImportError:
            import pymysql

            pymysql.install_as_MySQLdb()
        # Full Unicode (emoji too), and strict mode: an over-long value is an error, not truncated.
        options.setdefault("charset", "utf8mb4")
        options.setdefault("init_command", "SET sql_mode='STRICT_TRANS_TABLES'")
    elif engine == "sqlite3":
        # Readers run while one worker writes; writers wait their turn instead of failing with "locked".
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
    return database


def redis(env, url):
    """CACHES["default"]: Django's RedisCache for REDIS_URL, each server checked by redis-py's parser
    (docs/decisions.md, "REDIS_URL"); unset, each process's memory."""
    from redis.connection import parse_url

    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url is None:
        return local
    try:
        for server in re.split("[;,]", url):
            parse_url(server)
    except ValueError:
        env.problem("REDIS_URL", "expected redis:// or rediss:// (TLS) with a numeric port, e.g. redis://host:6379/0")
        return local
    # Two seconds at most: an outage costs a fast 503, not a hang.
    timeouts = {"socket_connect_timeout": 2, "socket_timeout": 2}
    return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "OPTIONS": timeouts}


# scheme: (port, STARTTLS, TLS), as RFC 8314 means them (docs/decisions.md, "EMAIL_URL").
SMTP_SCHEMES = {"smtp": (25, False, False), "submission": (587, True, False), "smtps": (465, False, True)}


def email(env, url):
    """Django's EMAIL_* settings for EMAIL_URL; unset or console://, mail is printed to stdout."""
    console, scheme = {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, _scheme(url or "console://")
    problem = partial(env.problem, "EMAIL_URL")
    if scheme not in SMTP_SCHEMES:
        if scheme != "console":
            problem(
                f"expected smtp://, submission:// (STARTTLS), smtps:// (TLS) or console://, got a {scheme or 'non'}-URL"
            )
        return console
    port, use_tls, use_ssl = SMTP_SCHEMES[scheme]
    try:
        parts = urlsplit(url)
        port = parts.port or port
    except ValueError:
        problem(CANNOT_PARSE.format(scheme))
        return console
    if not parts.hostname:
        problem(f"names no host; expected e.g. {scheme}://user:password@mail.example.com")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }


S3_OPTIONS = {"endpoint", "region", "custom_domain"}
SIGNED_URL_SECONDS = 3600  # how long a page's link to a private object works


def storage(env, url, media_root):
    """STORAGES["default"] for STORAGE_URL, and the origin of its files (None: this site). Unset: files
    in `media_root`; file:///path: there; s3://key:secret@bucket/prefix?region=&endpoint=&custom_domain=:
    S3 or a compatible store (docs/decisions.md, "STORAGE_URL")."""
    local = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media_root)}}
    problem, scheme = partial(env.problem, "STORAGE_URL"), url and _scheme(url)
    if scheme not in ("file", "s3"):
        if url is not None:
            problem(f"expected s3://key:secret@bucket?region=... or file:///path, got a {scheme or 'non'}-URL")
        return local, None
    try:
        parts = urlsplit(url)
        option = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
    except ValueError:
        problem(CANNOT_PARSE.format(scheme))
        return local, None
    if scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            problem("a file:// URL needs an absolute path, e.g. file:///srv/media")
        return {**local, "OPTIONS": {"location": unquote(parts.path)}}, None
    if unknown := sorted(set(option) - S3_OPTIONS):
        problem(f"unknown option {', '.join(unknown)}; the options are {', '.join(sorted(S3_OPTIONS))}")
    if not (bucket := parts.hostname):
        problem("names no bucket; expected s3://key:secret@bucket?region=...")
    elif not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):  # S3's bucket naming rules
        problem("the bucket name is not one S3 allows (3 to 63 of a-z 0-9 . -); percent-encode the secret")
    if bool(parts.username) != bool(parts.password):
        problem(
            "give both the access key and the secret (s3://key:secret@bucket), "
            "or neither to use the platform's credentials (an instance role)"
        )
    endpoint, region, custom_domain = option.get("endpoint"), option.get("region"), option.get("custom_domain")
    if custom_domain and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", custom_domain):
        problem(f"custom_domain {custom_domain!r} is not a host name; e.g. custom_domain=media.example.com")
    if endpoint and not endpoint.startswith(("https://", "http://")):
        problem("endpoint is not a URL; e.g. endpoint=https://s3.example.com")
    elif endpoint and "@" in urlsplit(endpoint).netloc:  # its origin goes into the CSP header
        problem("endpoint must not hold credentials: give them as s3://key:secret@bucket")
    from botocore.config import Config

    options = {
        "bucket_name": bucket,
        "location": parts.path.strip("/"),
        "access_key": unquote(parts.username) if parts.username else None,
        "secret_key": unquote(parts.password) if parts.password else None,
        "region_name": region,
        "endpoint_url": endpoint,
        # Private objects, linked with signed URLs, unless a CDN domain serves them publicly.
        "default_acl": None,
        "querystring_auth": not custom_domain,
        "querystring_expire": SIGNED_URL_SECONDS,
        "custom_domain": custom_domain,
        "client_config": Config(
            s3={"addressing_style": "path" if endpoint else "virtual"},  # MinIO, R2, moto: the bucket in the path
            signature_version="s3v4",
            connect_timeout=2,
            read_timeout=10,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    }
    # The origin of the links S3Storage.url() makes, worked out without a boto3 client.
    if custom_domain:
        origin = f"https://{custom_domain}"
    elif endpoint:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(endpoint))
    else:
        origin = f"https://{bucket}.s3{f'.{region}' if region and region != 'us-east-1' else ''}.amazonaws.com"
    return {"BACKEND": "exampleproject.storage.S3Storage", "OPTIONS": options}, origin


# Keywords that mean something only in single quotes: unquoted, `self` is a host named self.
CSP_KEYWORDS = {"self", "none", "unsafe-inline", "unsafe-eval", "unsafe-hashes", "strict-dynamic", "report-sample"}


def csp(env, text):
    """SECURE_CSP's {directive: [sources]} from a policy written as the header is: "img-src 'self' data:; ..."
    (a directive without sources, such as upgrade-insecure-requests, becomes True)."""
    policy, problem = {}, partial(env.problem, "SECURE_CSP")
    for directive, *sources in (part.split() for part in text.split(";") if part.strip()):
        if not re.fullmatch(r"[a-z]+(-[a-z]+)*", directive):
            problem(f"{directive!r} is not a CSP directive; write e.g. img-src 'self' https://cdn.example.com")
        elif bare := [source for source in sources if source.lower() in CSP_KEYWORDS]:
            problem(f"write {', '.join(bare)} in single quotes ({directive} '{bare[0]}'); unquoted, it names a host")
        else:
            policy[directive] = sources or True
    return policy
