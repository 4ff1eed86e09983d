"""
gunicorn: the WSGI server between nginx and Django. bin/web starts it with this file.

It listens on a unix socket that only nginx uses; started by bin/gunicorn, on the
platform's PORT directly, behind the platform's router. This file is the one source of the run
directory, socket path and timeouts: `manage.py nginxconf` fills them into conf/nginx.conf and
gives bin/web the paths.
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


CGROUP = Path("/sys/fs/cgroup")


def _read(path):
    try:
        return path.read_text().split()
    except OSError:
        return None


def container_cpus(cgroup=CGROUP):
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota
    (docker run --cpus, a Kubernetes CPU limit), which os.cpu_count() ignores: cgroup v2's
    cpu.max ("max 100000" or "50000 100000"), else v1's cpu.cfs_quota_us (-1: none).
    CPU shares (docker --cpu-shares, ECS's cpu) are a weight, not a limit: they count
    nothing here, which is why the memory limit below also bounds the workers."""
    cpus = len(os.sched_getaffinity(0))
    quota = _read(cgroup / "cpu.max")
    if quota is None:
        v1_quota, v1_period = _read(cgroup / "cpu" / "cpu.cfs_quota_us"), _read(cgroup / "cpu" / "cpu.cfs_period_us")
        quota = v1_quota + v1_period if v1_quota and v1_period else None
    try:
        if quota and quota[0] not in ("max", "-1"):
            cpus = min(cpus, max(1, math.ceil(int(quota[0]) / int(quota[1]))))
    except (ValueError, IndexError, ZeroDivisionError):
        pass
    return cpus


def container_memory_mb(cgroup=CGROUP):
    """The container's memory limit in MB, or None without one: cgroup v2's memory.max
    ("max": none), else v1's memory/memory.limit_in_bytes, which says "none" with a
    number near 2**63; a limit above the machine's memory is no limit either."""
    for path in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):
        value = _read(path)
        if value is None:
            continue
        if not value or not value[0].isdigit():
            return None
        machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        limit = int(value[0])
        return None if limit >= machine else limit // 2**20
    return None


# Memory, measured on this image by `make bench` (README, "Benchmark"): the gunicorn
# master with Django preloaded, nginx and bin/web take 65 MB idle with five workers, which
# share the master's pages; under load the container holds 216 MB, about 30 MB more per
# worker, and decoding a 24-megapixel upload peaks at 51 MB (`make bench-images`).
# So: 64 MB for the rest, 64 MB for each worker.
BASE_MB = 64
WORKER_MB = 64


def default_workers(cpus, memory_mb):
    """2 per CPU plus 1, and no more than the memory limit holds (at least 1): on a Convox
    gen1 Rack a process has 256 MB by default and CPU shares, so the CPU count alone would
    be the host's (17 workers on 8 CPUs) and the kernel would kill them under load."""
    by_cpu = 2 * cpus + 1
    if memory_mb is None:
        return by_cpu
    return max(1, min(by_cpu, (memory_mb - BASE_MB) // WORKER_MB))


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
# CPU busy while another worker waits on the database; the memory limit caps them
# (default_workers). WEB_CONCURRENCY overrides both.
worker_class = "sync"
cpus = container_cpus()
memory_mb = container_memory_mb()
workers = _int_env("WEB_CONCURRENCY", default_workers(cpus, memory_mb))


def on_starting(server):
    limit = f"{memory_mb} MB" if memory_mb is not None else "no memory limit"
    source = "WEB_CONCURRENCY" if os.environ.get("WEB_CONCURRENCY", "").strip() else f"{cpus} CPU, {limit}"
    server.log.info("%d workers (%s)", workers, source)


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
loglevel = os.environ.get("LOG_LEVEL", "").strip().lower() or "info"
access_log_format = '%({x-real-ip}i)s "%(r)s" %(s)s %(b)s %(M)sms id=%({x-request-id}i)s'
