"""
gunicorn: the WSGI server between nginx and Django. bin/web starts it with this file.

It listens on a unix socket that only nginx uses; with a platform's PORT (see bin/web),
on that port directly. This file is the one source of the socket path and timeouts:
bin/web renders conf/nginx.conf from the values below.
"""

import math
import os
from pathlib import Path


def _int_env(name, default):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"Configuration error: {name} must be a whole number of 1 or more, got {raw!r}")
    return int(raw)


def container_cpus():
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota
    (docker run --cpus), which os.cpu_count() ignores."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


wsgi_app = "exampleproject.wsgi:application"

# Runtime files (sockets, nginx's pid and temp files) live here: the image's only
# writable path besides /tmp-style mounts, so the root filesystem can be read-only.
run_dir = os.environ.get("WEB_RUN_DIR", "/tmp/web")
socket_path = f"{run_dir}/gunicorn.sock"

# Behind nginx: a unix socket (no TCP overhead, not reachable from outside the container).
# On a PORT platform the router connects to us directly.
port = os.environ.get("WEB_GUNICORN_PORT")
bind = [f"0.0.0.0:{port}"] if port else [f"unix:{socket_path}"]

# Sync workers: nginx buffers each request and response whole, so a worker is busy only
# while Django runs, never while a slow client sends or reads. Two per CPU keeps each
# CPU busy while another worker waits on the database.
worker_class = "sync"
cpus = container_cpus()
workers = _int_env("WEB_CONCURRENCY", 2 * cpus + 1)

# A worker silent for this long is killed and replaced: a request has 30 s, well under
# the balancer's 60 s idle timeout, so a stuck request ends here, not at the balancer.
timeout = _int_env("WEB_TIMEOUT", 30)

# On stop, workers get this long to finish their requests: below the 30 s a platform
# waits between its stop signal and SIGKILL (docker stop -t, ECS, Kubernetes' default).
graceful_timeout = _int_env("WEB_GRACEFUL_TIMEOUT", 25)

# Import Django once in the master and fork workers from it: they share its memory
# (lower total RSS) and a replaced worker starts in milliseconds.
preload_app = True

# Recycle each worker after about 10,000 requests (jittered so they do not all restart at
# once), which bounds the damage of a slow memory leak in the app or a library. Rarely:
# a new worker starts with cold caches and a new database connection (at 1000, the
# benchmark lost 10% of its page throughput to that).
max_requests = 10000
max_requests_jitter = 1000

# Worker heartbeats in memory, not on the container's (possibly slow or read-only) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# No runtime control socket: signals do the same, and it would need a writable $HOME.
control_socket_disable = True

# Logs on stdout/stderr for the platform; the access log names the client nginx saw and
# nginx's request id, so the two logs can be joined.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = '%({x-real-ip}i)s "%(r)s" %(s)s %(b)s %(M)sms id=%({x-request-id}i)s'
