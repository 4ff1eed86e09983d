"""gunicorn's settings (docs.gunicorn.org/en/stable/settings.html) for bin/web, behind nginx, and bin/gunicorn,
alone on the platform's PORT. The values nginx shares come from exampleproject/web.py."""

import gc
import os

from exampleproject import web

wsgi_app = "exampleproject.wsgi:application"
# bin/gunicorn's port; else a unix socket only nginx reaches.
bind = [f"0.0.0.0:{web.GUNICORN_PORT}"] if web.GUNICORN_PORT else [f"unix:{web.SOCKET_PATH}"]
# nginx buffers slow clients: a worker is busy only while Django runs. Sync, not gthread with nginx's
# connections kept: that served more, but requests queued behind busy workers (docs/decisions.md, "nginx to gunicorn").
worker_class = "sync"
workers = web.WORKERS
timeout = web.TIMEOUT
graceful_timeout = web.GRACEFUL_TIMEOUT
# Only X-Forwarded-Proto, which nginx (or the platform's router) sets; gunicorn's default also
# believes X-Forwarded-Ssl and X-Forwarded-Protocol, which nginx does not set and a client can.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
preload_app = True  # Django loaded once: workers share its memory, and a new one starts at once
# A new worker bounds a slow leak but starts cold: rarely, not all at once (docs/decisions.md, "max_requests").
max_requests = 10000
max_requests_jitter = 1000
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # heartbeats off a slow or read-only disk
control_socket_disable = True  # signals do as much, and it would need a writable $HOME
# On stdout for the platform. Behind nginx, nginx's line alone: it carries the client's address, the
# request id, the status, the bytes and gunicorn's time (urt=).
errorlog = "-"
accesslog = "-" if web.GUNICORN_PORT else None
loglevel = os.environ.get("LOG_LEVEL", "").strip().lower() or "info"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms id=%({x-request-id}i)s'


def pre_fork(server, worker):
    # What preload_app imported leaves the collector's view: each worker's collections scan only
    # its own objects, and the shared pages are not written to (docs.python.org/3/library/gc.html#gc.freeze).
    gc.freeze()


def on_starting(server):
    memory = f"{web.MEMORY_MB} MB" if web.MEMORY_MB is not None else "no memory limit"
    reason = "WEB_CONCURRENCY" if os.environ.get("WEB_CONCURRENCY") else f"{web.CPUS} CPU, {memory}"
    server.log.info("%d workers (%s)", workers, reason)
