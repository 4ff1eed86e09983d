"""Values the web process's parts share, each read here once: Django, gunicorn (conf/gunicorn.conf.py),
nginx (conf/nginx*.conf, filled in by `manage.py nginxconf`) and the image's HEALTHCHECK."""

import contextlib
import math
import os
from pathlib import Path

from exampleproject.env import Env

# Health probes, by Kubernetes' names: liveness (the process answers), readiness (its services do).
LIVENESS = "/healthz"
READINESS = "/readyz"
PROBES = (LIVENESS, READINESS)

# An uploaded file's headers, from nginx or Django's media view: apps never reuse a name, so it is
# cached for a year; never sniffed as another type nor rendered as a page, whatever it holds.
MEDIA_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}

CGROUP = Path("/sys/fs/cgroup")
# What the master, nginx and bin/web take, and what each worker adds (docs/decisions.md, "Workers per memory limit").
BASE_MB = WORKER_MB = 64


def _read(path):
    with contextlib.suppress(OSError):
        return path.read_text().split()
    return []


def container_cpus(cgroup=CGROUP):
    """CPUs this process may use: its affinity, capped by a cgroup v2 or v1 CPU quota, which
    os.cpu_count() ignores. CPU shares are a weight, not a limit: the memory limit bounds those."""
    v1 = cgroup / "cpu"
    quota = _read(cgroup / "cpu.max") or _read(v1 / "cpu.cfs_quota_us") + _read(v1 / "cpu.cfs_period_us")
    cpus = len(os.sched_getaffinity(0))
    with contextlib.suppress(ValueError, IndexError, ZeroDivisionError):
        if quota[0] not in ("max", "-1"):  # no quota
            cpus = min(cpus, max(1, math.ceil(int(quota[0]) / int(quota[1]))))
    return cpus


def container_memory_mb(cgroup=CGROUP):
    """The cgroup v2 or v1 memory limit in MB; None without one (v1 says so with a number near 2**63)."""
    value = _read(cgroup / "memory.max") or _read(cgroup / "memory/memory.limit_in_bytes")
    if not value or not value[0].isdigit():
        return None
    limit = int(value[0])
    return None if limit >= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") else limit // 2**20


def default_workers(cpus, memory_mb):
    """2 per CPU plus 1, keeping a CPU busy while another worker waits on the database, and no more
    than the memory limit holds: CPU shares would give the host's CPU count (17 workers on 8 CPUs)."""
    by_cpu = 2 * cpus + 1
    return by_cpu if memory_mb is None else max(1, min(by_cpu, (memory_mb - BASE_MB) // WORKER_MB))


env = Env()
# Sockets, nginx's pid and temp files: the one writable path, so the root filesystem can be read-only.
RUN_DIR = env.str("WEB_RUN_DIR", "/tmp/web")
SOCKET_PATH = f"{RUN_DIR}/gunicorn.sock"
# gunicorn ends a request after TIMEOUT seconds, under the balancer's 60 s idle timeout; nginx waits 5 s longer.
TIMEOUT = env.int("WEB_TIMEOUT", 30, minimum=1)
# On stop, requests in flight get this long: under the 30 s platforms wait before SIGKILL.
GRACEFUL_TIMEOUT = env.int("WEB_GRACEFUL_TIMEOUT", 25, minimum=1)
CPUS = container_cpus()
MEMORY_MB = container_memory_mb()
WORKERS = env.int("WEB_CONCURRENCY", default_workers(CPUS, MEMORY_MB), minimum=1)
env.finish()
