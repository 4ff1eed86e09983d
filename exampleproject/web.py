"""What the web process's parts share, read once: Django, gunicorn, nginx (filled in by `manage.py
nginxconf`) and the image's HEALTHCHECK. No Django here: gunicorn imports it first."""

import contextlib
import math
import os
from pathlib import Path

from exampleproject.env import Env

# Health probes, by Kubernetes' names: liveness (the process answers), readiness (its services do).
LIVENESS = "/healthz"
READINESS = "/readyz"
PROBES = (LIVENESS, READINESS)

# An uploaded file's headers, from nginx or the media view (docs/decisions.md, "Media headers").
MEDIA_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}

CGROUP = Path("/sys/fs/cgroup")
# MB for the rest, for each worker, and for the one image decode a container runs at a time
# (docs/decisions.md, "Workers per memory limit").
BASE_MB = WORKER_MB = 64
DECODE_MB = 128


def _read(path):
    with contextlib.suppress(OSError):
        return path.read_text().split()
    return []


def container_cpus(cgroup=CGROUP):
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota, which os.cpu_count() ignores."""
    v1 = cgroup / "cpu"
    quota = _read(cgroup / "cpu.max") or _read(v1 / "cpu.cfs_quota_us") + _read(v1 / "cpu.cfs_period_us")
    cpus = len(os.sched_getaffinity(0))
    with contextlib.suppress(ValueError, IndexError, ZeroDivisionError):
        if quota[0] not in ("max", "-1"):
            cpus = min(cpus, max(1, math.ceil(int(quota[0]) / int(quota[1]))))
    return cpus


def container_memory_mb(cgroup=CGROUP):
    """The cgroup memory limit in MB; None without one (v1 says so with a number near 2**63)."""
    value = _read(cgroup / "memory.max") or _read(cgroup / "memory/memory.limit_in_bytes")
    if not value or not value[0].isdigit():
        return None
    limit = int(value[0])
    return None if limit >= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") else limit // 2**20


def default_workers(cpus, memory_mb):
    """2 per CPU plus 1, so a CPU works while a worker waits on the database; as many as the memory holds."""
    by_cpu = 2 * cpus + 1
    return by_cpu if memory_mb is None else max(1, min(by_cpu, (memory_mb - BASE_MB - DECODE_MB) // WORKER_MB))


def decode_mb(memory_mb, workers):
    """What an image decode may use: DECODE_MB, or less where the limit holds less beside the workers
    (at least 32 MB, so that a small image still passes when WEB_CONCURRENCY overcommits)."""
    return DECODE_MB if memory_mb is None else max(32, min(DECODE_MB, memory_mb - BASE_MB - workers * WORKER_MB))


env = Env()
# Sockets, pid and temp files in one writable path, so the root filesystem can be read-only.
RUN_DIR = env.str("WEB_RUN_DIR", "/tmp/web")
SOCKET_PATH = f"{RUN_DIR}/gunicorn.sock"
# Set by bin/gunicorn: gunicorn alone on this port, the platform's router in front. Its
# X-Forwarded-For names the client (exampleproject/wsgi.py), and Django limits POSTs itself.
GUNICORN_PORT = os.environ.get("WEB_GUNICORN_PORT") or None
# A request's seconds, under the balancer's idle timeout (docs/decisions.md, "Request timeouts").
TIMEOUT = env.int("WEB_TIMEOUT", 30, minimum=1)
# On stop, what requests in flight get: under the 30 s platforms wait before SIGKILL.
GRACEFUL_TIMEOUT = env.int("WEB_GRACEFUL_TIMEOUT", 25, minimum=1)
# POSTs (sign-ins, forms) nginx passes on for one client address: POST_AT_ONCE straight away,
# then up to POST_BURST more held back to POSTS_PER_MINUTE, so that password hashing cannot
# occupy every worker; beyond that, 429. 0: no limit. Reads and probes are never limited.
POSTS_PER_MINUTE = env.int("WEB_POSTS_PER_MINUTE", 30, minimum=0)
POST_AT_ONCE, POST_BURST = 1, 10
# Who may open 4001, whose PROXY header names the client and whose port means HTTPS: the balancer
# alone. Anyone else is refused (docs/security.md, "The balancer's addresses"). Default: this machine.
BALANCER_IPS = env.networks("WEB_BALANCER_IPS", "127.0.0.1,::1")
CPUS = container_cpus()
MEMORY_MB = container_memory_mb()
WORKERS = env.int("WEB_CONCURRENCY", default_workers(CPUS, MEMORY_MB), minimum=1)
IMAGE_DECODE_MB = decode_mb(MEMORY_MB, WORKERS)
# Held by the one worker decoding an image (an flock, released if the worker dies).
IMAGE_DECODE_LOCK = f"{RUN_DIR}/image-decode.lock"
env.finish()
