"""gunicorn's settings (docs.gunicorn.org/en/stable/settings.html), for bin/web (behind nginx, on a unix
socket) and bin/gunicorn (alone on the platform's PORT). What nginx shares comes from exampleproject/web.py."""

import os

from exampleproject import web

wsgi_app = "exampleproject.wsgi:application"
# A unix socket only nginx reaches; on a PORT platform the router connects to that port.
port = os.environ.get("WEB_GUNICORN_PORT")
bind = [f"0.0.0.0:{port}"] if port else [f"unix:{web.SOCKET_PATH}"]

# Sync workers: nginx buffers slow clients, so a worker is busy only while Django runs.
worker_class = "sync"
workers = web.WORKERS
timeout = web.TIMEOUT
graceful_timeout = web.GRACEFUL_TIMEOUT
# Django imported once, before the fork: workers share its memory, and a new one starts at once.
preload_app = True
# A new worker bounds a slow memory leak but starts cold, so rarely (docs/decisions.md, "max_requests").
max_requests = 10000
max_requests_jitter = 1000  # so that the workers do not all restart at once
# Heartbeats in memory, not on a slow or read-only disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Signals do what the control socket would, and it would need a writable $HOME.
control_socket_disable = True

# Logs on stdout for the platform; nginx's client address and request id join the two logs.
accesslog = errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "").strip().lower() or "info"
access_log_format = '%({x-real-ip}i)s "%(r)s" %(s)s %(b)s %(M)sms id=%({x-request-id}i)s'


def on_starting(server):
    memory = f"{web.MEMORY_MB} MB" if web.MEMORY_MB is not None else "no memory limit"
    reason = "WEB_CONCURRENCY" if os.environ.get("WEB_CONCURRENCY") else f"{web.CPUS} CPU, {memory}"
    server.log.info("%d workers (%s)", workers, reason)
