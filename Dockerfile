# The image: nginx in front of gunicorn, started by bin/web, on a base that `--target base` builds alone.
# Layers go from least to most often changed, so a code-only change rebuilds in seconds.

# --- base: Debian's Python 3 and nginx, an unprivileged user, the boot scripts --------------------
FROM debian:trixie-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 nginx libnginx-mod-http-brotli-static \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app \
 && find / -xdev -perm /6000 -type f -exec chmod a-s {} +  # no su, mount or passwd to gain a user with
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY conf/ conf/
COPY bin/ bin/
# 4000: plain HTTP from the balancer's port 80; 4001: PROXY protocol from its port 443.
EXPOSE 4000 4001
# bin/web drains nginx, then gunicorn, on SIGTERM.
STOPSIGNAL SIGTERM
# Liveness through nginx and gunicorn; python3 is the virtualenv's (the image has no curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["python3", "-c", \
  "from urllib.request import urlopen; from exampleproject.web import LIVENESS; \
   urlopen('http://127.0.0.1:4000' + LIVENESS, timeout=2)"]
USER app
CMD ["bin/web"]

# --- build: the virtualenv, from the pinned requirements ------------------------------------------
FROM base AS build
USER root
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv
COPY requirements.txt .
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt

# --- static: collectstatic, whose throwaway key and host stay out of the image's environment ----
FROM build AS static
COPY . .
RUN SECRET_KEY=collectstatic-signs-nothing ALLOWED_HOSTS=build.invalid python3 manage.py collectstatic --noinput -v1

# --- venv: the virtualenv without what the app never runs, compiled --------------------------------
FROM build AS venv
RUN bin/trim-venv

# --- the app: only what runs ----------------------------------------------------------------------
FROM base
USER root
# Where the SQLite default and uploads are written; media/ exists so that a volume mounted there is the app's.
RUN install -d -o app -g app /app/data /app/data/media
COPY --from=venv /venv /venv
COPY --from=static /app/staticfiles /app/staticfiles
# The code is owned by root: the app user can read it, not change it.
COPY . .
USER app
