# The image: one container with nginx in front of gunicorn, booted by bin/web.
#   docker build --target base  our convox/django-style base: Debian, Python, nginx, bin/web
#   docker build .              the app on top: its virtualenv, static files and code
# Layers go from least to most often changed (system, dependencies, static files, code),
# so a code-only change rebuilds in seconds.

# --- base: Debian's Python 3 and nginx, an unprivileged user, the boot scripts ----------
FROM debian:trixie-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 nginx libnginx-mod-http-brotli-static \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY conf/ conf/
COPY bin/ bin/
# 4000: plain HTTP from the balancer's port 80; 4001: PROXY protocol from its port 443.
EXPOSE 4000 4001
# bin/web shuts down gracefully on SIGTERM: nginx drains, then gunicorn.
STOPSIGNAL SIGTERM
# Liveness through nginx and gunicorn, with the system Python (no curl in the image).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:4000/healthz', timeout=2)"]
USER app
CMD ["bin/web"]

# --- build: the virtualenv, from the pinned requirements -------------------------------
FROM base AS build
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
# pip goes once the packages are in (nothing installs at run time); so do the translation
# sources (.po), which Django never reads: it uses the compiled .mo files beside them.
# Bytecode is compiled here, once per requirements change, so that each Python process of
# bin/web starts in 0.4 s instead of 1 s (the image's code is read-only, so nothing could
# cache it at run time); not for what this project never imports, which would only add size.
# botocore describes ~400 AWS services (28 MB): only S3 (and STS, for role credentials)
# is kept. Pillow's AVIF codec and its font renderer (8 MB) go too: the app accepts
# JPEG, PNG and WebP, and draws no text. `trim` fails the build when a pattern matches
# nothing, so an upgrade that renames these files is noticed instead of growing the image.
RUN python3 -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt \
 && /venv/bin/pip uninstall -y -q pip \
 && find /venv -name __pycache__ -prune -exec rm -rf {} + \
 && find /venv -name '*.po' -delete \
 && trim() { [ $# -gt 0 ] || { echo "Dockerfile: nothing to trim" >&2; exit 1; }; for path in "$@"; do [ -e "$path" ] || { echo "Dockerfile: nothing to trim at $path" >&2; exit 1; }; rm -rf "$path"; done; } \
 && site=$(echo /venv/lib/python3*/site-packages) \
 && trim $(find $site/botocore/data -mindepth 1 -maxdepth 1 -type d ! -name s3 ! -name sts) \
 && trim $site/PIL/_avif.* $site/PIL/_imagingft.* $site/PIL/_imagingtk.* $site/pillow.libs/libavif* \
         $site/pillow.libs/libfreetype* $site/pillow.libs/libharfbuzz* $site/pillow.libs/libpng16* \
         $site/pillow.libs/libbrotli* \
 && python3 -m compileall -q -j0 -x "django/contrib/(gis|postgres|admindocs|flatpages|redirects|sitemaps|\
sites|syndication|humanize)|django/test/|django/conf/locale|django/db/backends/oracle|sentry_sdk/integrations/\
(?!django|wsgi|logging|stdlib|threading|dedupe|excepthook|atexit|modules|argv|redis|_wsgi_common|_asgi_common|\
__init__)" /venv/lib/python3*/site-packages

# --- venv: what runs. Brotli only compresses at build time (collectstatic, below); the
# .br files it makes are served without it.
FROM build AS venv
RUN rm -rf /venv/lib/python3*/site-packages/brotli* /venv/lib/python3*/site-packages/_brotli* \
           /venv/lib/python3*/site-packages/Brotli*
# After the trims, what the app runs must still load: fail the build, not the first upload.
RUN /venv/bin/python -c "from PIL import features; \
missing = [name for name in ('jpg', 'zlib', 'webp') if not features.check(name)]; \
assert not missing, f'Pillow lost {missing}'; \
import boto3; [boto3.client(name, region_name='us-east-1') for name in ('s3', 'sts')]; \
import django, gunicorn, psycopg2, pymysql, redis, sentry_sdk, storages.backends.s3, whitenoise; \
import importlib.util; assert importlib.util.find_spec('brotli') is None, 'Brotli is still in the venv'"

# --- static: collectstatic, with no real secret and no database ------------------------
# It signs nothing and opens no connection, but settings want a key and hosts whenever
# DEBUG is off: these throwaway values exist for this one command only, never in the
# image's environment, so a container started without the real ones still refuses to.
FROM build AS static
# The code, whatever apps INSTALLED_APPS names (.dockerignore keeps out all but the code).
COPY . .
RUN SECRET_KEY=collectstatic-signs-nothing ALLOWED_HOSTS=build.invalid python3 manage.py collectstatic --noinput -v1

# --- the app: only what runs ------------------------------------------------------------
FROM base
USER root
# The SQLite default and uploaded images need a writable data directory (real deployments
# set DATABASE_URL and STORAGE_URL); media/ exists so that a volume mounted there is the app's.
RUN install -d -o app -g app /app/data /app/data/media
COPY --from=venv /venv /venv
COPY --from=static /app/staticfiles /app/staticfiles
# The code is owned by root: the app user can read it, not change it.
COPY . .
USER app
