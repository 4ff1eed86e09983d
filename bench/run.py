"""
The benchmark: this stack against the usual ways to serve Django, on one machine, in one run.

Every server runs on 127.0.0.1 against the same PostgreSQL database, with the same number
of worker processes, and serves the same exampleapp. Load comes from wrk; each figure is
the median of several runs, and every comparison is a ratio taken in this run, because
absolute numbers drift on shared machines. Prints a table and writes bench/results.md and
bench/results.png. Bounded: about 12 minutes with the defaults. Run it with `make bench`.
"""

import argparse
import contextlib
import datetime
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from bench.before import BEFORE_PATH  # noqa: E402
from tests.servers import (  # noqa: E402  (the suite's helpers: one way to start each server)
    HTTP_PORT,
    PRODUCTION_ENV,
    PROXY_PORT,
    WebProcess,
    copy_working_tree,
    free_port,
    fresh_database_url,
    http_request,
    public_tmp_dir,
    raw_request,
    wait_until_listening,
)

PYTHON = sys.executable
SLOW_CLIENTS = 200
LOAD = []  # the 1-minute load average at the end of each wrk run


# --- the configurations ------------------------------------------------------------------


class Server:
    """One configuration under test: start() returns the port it serves plain HTTP on, and
    the guestbook page is at `path`."""

    name = ""
    label = ""
    path = "/"

    def __init__(self, env, workers):
        self.env = env
        self.workers = workers
        self.process = None

    def start(self):
        raise NotImplementedError

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=40)


class Ours(Server):
    name, label = "ours", "ours: nginx -> gunicorn (bin/web)"
    path = "/"

    def start(self):
        # Port 4000 with the HTTPS redirect off: the same nginx -> gunicorn path as 4001,
        # without the PROXY line that wrk cannot send.
        self.web = WebProcess({**self.env, "WEB_CONCURRENCY": str(self.workers)}, quiet=True).wait_ready()
        self.process = self.web.process
        return HTTP_PORT


class OursBefore(Server):
    # The same processes as ours, asked for the guestbook page as it was rendered before its
    # entries and blank form were cached (bench/before, at BEFORE_PATH): a ratio of the two
    # figures compares code alone, in the same run, workers, database and stack.
    name, label = "before", "ours, the page as it was (bench/before)"
    path = BEFORE_PATH

    def start(self):
        return HTTP_PORT  # bin/web, started for ours


class Gunicorn(Server):
    args = []

    def start(self):
        self.port = free_port()
        env = {**os.environ, **self.env}
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                self.app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                *self.args,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port, self.process)
        return self.port


class HerokuStyle(Gunicorn):
    # As heroku/python-getting-started configures it: gthread workers with 5 threads,
    # the app preloaded, an access log, SO_REUSEPORT; WhiteNoise serves /static/.
    name, label = "heroku", "Heroku-style: gunicorn gthread x5 threads"
    app = "exampleproject.wsgi"
    args = ["--worker-class", "gthread", "--threads", "5", "--preload", "--access-logfile", "-", "--reuse-port"]


class CookiecutterStyle(Gunicorn):
    # As cookiecutter-django's production start script runs it: gunicorn's defaults
    # (sync workers), WhiteNoise serves /static/.
    name, label = "cookiecutter", "cookiecutter-style: gunicorn sync"
    app = "exampleproject.wsgi"


class HelloWorld(Gunicorn):
    # Ceiling for the app server: a bare WSGI callable, same sync workers.
    name, label = "hello", "ceiling: gunicorn, bare WSGI hello"
    app = "bench.hello:application"


class NginxAlone(Server):
    # Ceiling for static files: nginx with nothing behind it, same worker count as ours.
    name, label = "nginx", "ceiling: nginx alone"

    def start(self):
        self.port = free_port()
        run = public_tmp_dir("bench-nginx-")
        conf = (BENCH / "nginx-static-only.conf").read_text()
        for key, value in {
            "PORT": self.port,
            "RUN_DIR": run,
            "STATIC_ROOT": self.env["STATIC_ROOT"],
            "CPUS": nginx_workers(),
        }.items():
            conf = conf.replace("{" + key + "}", str(value))
        (run / "nginx.conf").write_text(conf)
        self.process = subprocess.Popen(
            ["nginx", "-e", "stderr", "-c", str(run / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port, self.process)
        return self.port


def nginx_workers():
    from exampleproject.web import CPUS

    return CPUS


class Router:
    """HAProxy in TCP mode, in the platform's balancer's place, one port per configuration: to
    ours' 4001 behind a PROXY line (TLS ended, HTTPS); to a peer as is, the load then sending the
    router's X-Forwarded-Proto itself (HAProxy in TCP mode adds no header)."""

    def __init__(self, targets):
        self.ports = {name: free_port() for name in targets}
        run = public_tmp_dir("bench-haproxy-")
        config = ["global", "    maxconn 4096", "defaults", "    mode tcp", "    timeout connect 5s"]
        config += ["    timeout client 75s", "    timeout server 75s"]
        for name, (port, proxy) in targets.items():
            config += [f"listen {name}", f"    bind 127.0.0.1:{self.ports[name]}"]
            config += [f"    server {name} 127.0.0.1:{port}{' send-proxy' if proxy else ''}"]
        (run / "haproxy.cfg").write_text("\n".join(config) + "\n")
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(run / "haproxy.cfg")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for port in self.ports.values():
            wait_until_listening(port, self.process)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


# --- load ------------------------------------------------------------------------------------


def wrk(url, seconds, connections, headers=(), script=None, env=None, per=1):
    """wrk's requests a second (divided by `per`, the requests of one page view), p99 and errors."""
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "10s"]
    for header in headers:
        args += ["-H", header]
    if script:
        args += ["-s", str(script)]
    out = subprocess.run(
        [*args, url], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=seconds + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = parse_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    LOAD.append(os.getloadavg()[0])
    return {"rps": rps / per, "p99_ms": p99, "errors": errors}


def parse_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


class SlowClients:
    """SLOW_CLIENTS connections sending a request a byte every 100 ms (bench/slow_clients.py), in a
    process of their own: on a CPU apart from the servers where the machine has 4 or more (main()
    keeps the others for them), else beside them, its CPU measured and reported."""

    def __init__(self, port, headers=()):
        self.args = [PYTHON, str(BENCH / "slow_clients.py"), str(port), str(SLOW_CLIENTS), "/", *headers]

    def __enter__(self):
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        if GENERATOR_CPU is not None:
            os.sched_setaffinity(self.process.pid, {GENERATOR_CPU})
        self.process.stdout.readline()  # connected
        self.served = []  # when each page they were sent ended (time.monotonic)
        self.reader = threading.Thread(target=lambda: self.served.extend(map(float, self.process.stdout)))
        self.reader.start()
        time.sleep(3)  # let them all start trickling
        self.started, self.cpu_started = time.monotonic(), self.cpu_seconds()
        return self

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def pages_per_second(self, start, end):
        """The pages served to the slow clients themselves between two time.monotonic() readings."""
        return sum(start <= t <= end for t in self.served) / (end - start)

    def __exit__(self, *exc):
        # The share of one CPU the generator used while measured.
        self.cpu = (self.cpu_seconds() - self.cpu_started) / (time.monotonic() - self.started)
        self.process.kill()
        self.process.wait()
        self.reader.join()


GENERATOR_CPU = None  # set by main() where the generator can have a CPU of its own


# --- the run ---------------------------------------------------------------------------------


def prepare(database_url):
    """A fresh database with migrations and 50 entries, static files collected."""
    static_root = public_tmp_dir("bench-static-") / "static"
    data_dir = public_tmp_dir("bench-data-")  # media on disk, served by nginx or Django's media view
    # bench.settings: production's, plus the page as it was at /before/ (bench/before).
    env = {
        **PRODUCTION_ENV,
        "ENV_FILE": "",
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "STATIC_ROOT": str(static_root),
        "DATA_DIR": str(data_dir),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
    }
    for args in (["collectstatic", "--noinput", "-v0"], ["migrate", "--noinput", "-v0"]):
        subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, check=True)
    # 50 entries, the newest with a photo as the form stores one (1200x800 JPEG, about 50 kB).
    seed = (
        "import io; from PIL import Image; from django.core.files.base import ContentFile; "
        "from exampleapp.models import Entry; Entry.objects.bulk_create("
        "[Entry(name=f'Guest {i}', message='A message of a typical length. ' * 4) for i in range(49)]); "
        "photo = io.BytesIO(); Image.effect_noise((1200, 800), 32).convert('RGB').save(photo, 'JPEG', quality=85); "
        "entry = Entry(name='Guest 49', message='With a photo.'); "
        "entry.image.save('photo.jpg', ContentFile(photo.getvalue()))"
    )
    subprocess.run([PYTHON, "manage.py", "shell", "-v0", "-c", seed], cwd=ROOT, env={**os.environ, **env}, check=True)
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    return env, "/static/" + manifest["paths"]["exampleapp/style.css"]


def csrf_for(port, headers):
    """A CSRF token and cookie for the POST mix (wrk reuses them; Django accepts that)."""
    _, answer, body = raw_request(port, http_request("GET", "/", host=f"127.0.0.1:{port}", headers=headers))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    cookie = answer["set-cookie"][0].split(";")[0]  # name=value
    return {"BENCH_TOKEN": token, "BENCH_COOKIE": cookie}


def page_view_paths(port, headers):
    """What a browser fetches for one view of the guestbook: the page, every /static/ file it
    links, and the one image on it."""
    _, _, body = raw_request(port, http_request("GET", "/", host=f"127.0.0.1:{port}", headers=headers))
    static = re.findall(rb'(?:href|src)="(/static/[^"]+)"', body)
    image = re.findall(rb'<img[^>]* src="(/media/[^"]+)"', body)[:1]
    if not static or not image:
        sys.exit(f"bench: the page links no /static/ file or no image: {static} {image}")
    return ["/", *(path.decode() for path in [*dict.fromkeys(static), *image])]


CONFIGURATIONS = (Ours, OursBefore, HerokuStyle, CookiecutterStyle, NginxAlone, HelloWorld)
PEERS = ("heroku", "cookiecutter")
BROWSER = ["Accept-Encoding: gzip, deflate, br"]


def measure_servers(env, css, args):
    """All servers run at once, behind one router; for each workload, one warm-up run per
    configuration (not counted), then the runs go round-robin across configurations, so that
    the machine's drift falls on all of them alike and each ratio compares like with like."""
    servers = {cls.name: cls(env, args.workers) for cls in CONFIGURATIONS if not args.only or cls.name in args.only}
    if "before" in servers and "ours" not in servers:
        sys.exit("bench: 'before' is served by ours' processes; measure it with ours")
    results = {name: {} for name in servers}
    ports, router = {}, None
    try:
        for name, server in servers.items():
            print(f"--- starting {server.label}", flush=True)
            ports[name] = server.start()
        proxied = {n for n in servers if n in ("ours", "before")}
        routed = [n for n in servers if n not in ("nginx", "before")]
        router = Router({n: (PROXY_PORT if n in proxied else ports[n], n in proxied) for n in routed})
        via = {n: router.ports["ours" if n == "before" else n] for n in [*routed, *proxied]}
        # The router's header for a peer; ours learns HTTPS from the port the PROXY line came to.
        https = {n: [] if n in proxied else ["X-Forwarded-Proto: https"] for n in via}
        origin = {n: [f"Origin: https://127.0.0.1:{via[n]}"] for n in via}  # Django checks it on HTTPS POSTs
        paths = {name: server.path for name, server in servers.items()}
        views = {n: page_view_paths(via[n], https[n]) for n in via if n in ("ours", *PEERS)}
        if views:
            print(f"page view: {' '.join(next(iter(views.values())))}", flush=True)
        workloads = [
            (
                "page_view",
                [n for n in servers if n in ("ours", *PEERS)],
                lambda name: wrk(
                    f"http://127.0.0.1:{via[name]}/",
                    args.seconds,
                    32,
                    BROWSER + https[name],
                    script=BENCH / "page_view.lua",
                    env={"BENCH_PATHS": " ".join(views[name])},
                    per=len(views[name]),
                ),
            ),
            (
                "static",
                [n for n in servers if n != "before"],
                lambda name: wrk(f"http://127.0.0.1:{ports[name]}{css}", args.seconds, 64, ["Accept-Encoding: gzip"]),
            ),
            (
                "page",
                [n for n in servers if n != "nginx"],
                lambda name: wrk(f"http://127.0.0.1:{via[name]}{paths[name]}", args.seconds, 32, https[name]),
            ),
            (
                "mixed",
                [n for n in servers if n in ("ours", *PEERS)],
                lambda name: wrk(
                    f"http://127.0.0.1:{via[name]}/",
                    args.seconds,
                    32,
                    https[name] + origin[name],
                    script=BENCH / "mixed.lua",
                    env=csrf_for(via[name], https[name]),
                ),
            ),
        ]
        for workload, names, measure in [w for w in workloads if not args.workloads or w[0] in args.workloads]:
            print(f"--- {workload}: {', '.join(names)}", flush=True)
            samples = {name: [] for name in names}
            for name in names:
                measure(name)  # warm-up, not counted
            for _ in range(args.runs):
                for name in names:
                    samples[name].append(measure(name))
            for name in names:
                results[name][workload] = {
                    key: statistics.median(s[key] for s in samples[name]) for key in samples[name][0]
                }
                runs = " ".join(f"{s['rps']:.0f}" for s in samples[name])
                print(f"{workload} {name} {json.dumps(results[name][workload])} runs: {runs}", flush=True)
        # Slow clients load one server at a time, each run between two runs without them, so that the
        # share kept compares the same moment's machine (a 5 s run's figure moves by a tenth on a shared one).
        for name in [n for n in servers if n in ("ours", *PEERS) and "page" in results[n]]:
            if args.workloads and "slow" not in args.workloads:
                break
            print(f"--- page with {SLOW_CLIENTS} slow clients: {name}", flush=True)
            url = f"http://127.0.0.1:{via[name]}/"
            alone, slowed, cpu = [wrk(url, args.seconds, 32, https[name])], [], []
            for _ in range(args.runs):
                with SlowClients(via[name], https[name]) as slow:
                    start = time.monotonic()
                    slowed.append(wrk(url, args.seconds, 32, https[name]))
                    end = time.monotonic()
                # The pages served to the slow clients in the same seconds are throughput too.
                slowed[-1]["slow_rps"] = slow.pages_per_second(start, end)
                cpu.append(slow.cpu)
                alone.append(wrk(url, args.seconds, 32, https[name]))
                before, now, after = alone[-2]["rps"], slowed[-1], alone[-1]["rps"]
                print(
                    f"slow {name}: {before:.0f}, {now['rps']:.0f} + {now['slow_rps']:.0f} theirs, {after:.0f}",
                    flush=True,
                )
            figures = {key: statistics.median(s[key] for s in slowed) for key in slowed[0]}
            results[name]["page_with_slow_clients"] = {**figures, "generator_cpu": max(cpu)}
            beside = [(a["rps"] + b["rps"]) / 2 for a, b in itertools.pairwise(alone)]
            # Every page served, the slow clients' own included; and wrk's alone, what other clients kept.
            results[name]["slow_kept"] = statistics.median(
                (s["rps"] + s["slow_rps"]) / a for s, a in zip(slowed, beside, strict=True)
            )
            results[name]["slow_kept_others"] = statistics.median(
                s["rps"] / a for s, a in zip(slowed, beside, strict=True)
            )
    finally:
        if router:
            router.stop()
        for server in servers.values():
            server.stop()
    for name in servers:
        print(name, json.dumps(results[name]), flush=True)
    if "before" in results:
        now, before = results["ours"]["page"], results["before"]["page"]
        print(
            f"home page, ours now / before: {now['rps'] / before['rps']:.2f}x req/s, "
            f"p99 {now['p99_ms']:.1f} ms against {before['p99_ms']:.1f} ms",
            flush=True,
        )
    return results


def docker(*args, timeout=1800, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def measure_image(env, args):
    """Size, build and rebuild time, cold start, memory: the image as a deploy runs it."""
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        print("--- image: skipped (no Docker daemon; start one with ../shared/ci/docker-offline)")
        return None
    print("--- image", flush=True)
    context = copy_working_tree(Path(tempfile.mkdtemp(prefix="bench-context-")))
    tag = "exampleproject:bench"
    image = {}
    started = time.monotonic()
    docker("build", "--network", "host", "--no-cache", "-q", "-t", tag, str(context))
    image["build_s"] = time.monotonic() - started
    # A developer rebuilds with a warm cache: one untimed build settles it (the first
    # build after a --no-cache one reran cached steps here), then the change is timed.
    docker("build", "--network", "host", "-q", "-t", tag, str(context))
    views = context / "exampleapp" / "views.py"
    views.write_text(views.read_text() + "\n# a one-line change\n")
    started = time.monotonic()
    docker("build", "--network", "host", "-q", "-t", tag, str(context))
    image["rebuild_s"] = time.monotonic() - started
    size = int(docker("image", "inspect", "-f", "{{.Size}}", tag).stdout)
    base = int(docker("image", "inspect", "-f", "{{.Size}}", "debian:trixie-slim").stdout)
    image["size_mb"], image["above_base_mb"] = size / 1e6, (size - base) / 1e6

    run_env = ["-e", f"DATABASE_URL={env['DATABASE_URL']}", "-e", "SECURE_SSL_REDIRECT=false"]
    for key in ("SECRET_KEY", "ALLOWED_HOSTS"):
        run_env += ["-e", f"{key}={env[key]}"]
    starts = []
    for _ in range(args.runs):
        name = f"bench-{time.monotonic_ns()}"
        started = time.monotonic()
        docker("run", "-d", "--name", name, "--network", "host", *run_env, tag)
        while True:
            with contextlib.suppress(OSError):
                if raw_request(HTTP_PORT, http_request("GET", "/healthz"), timeout=1)[0] == 200:
                    break
            time.sleep(0.02)
        starts.append(time.monotonic() - started)
        if len(starts) < args.runs:
            docker("rm", "-f", name)
    image["cold_start_s"] = statistics.median(starts)
    try:
        time.sleep(10)  # settled, idle
        image["memory_idle_mb"] = container_memory_mb(name)
        samples = []
        load = threading.Thread(target=wrk, args=(f"http://127.0.0.1:{HTTP_PORT}/", 15, 32))
        load.start()
        while load.is_alive():
            samples.append(container_memory_mb(name))
            time.sleep(1)
        image["memory_load_mb"] = max(samples)
        # gunicorn's master and its workers share one command line; the master is not a worker.
        listing = docker(
            "exec", name, "bash", "-c", "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"
        ).stdout
        image["workers"] = sum(line.startswith("python3 -m gunicorn") for line in listing.splitlines()) - 1
    finally:
        docker("rm", "-f", name)
    print(json.dumps(image), flush=True)
    return image


def container_memory_mb(name):
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).stdout.split("/")[0].strip()
    value, unit = re.fullmatch(r"([\d.]+)\s*(\w+)", usage).groups()
    return float(value) * {"B": 1e-6, "KiB": 1.024e-3, "MiB": 1.048576, "GiB": 1073.741824}[unit]


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument(
        "--workers",
        type=int,
        default=nginx_workers() * 2 + 1,
        help="worker processes for every configuration (default: ours, 2 x CPUs + 1)",
    )
    parser.add_argument("--skip-image", action="store_true")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=[cls.name for cls in CONFIGURATIONS],
        help="measure these configurations only (no report: for tuning)",
    )
    parser.add_argument(
        "--workloads", nargs="*", help="page_view static page mixed slow: these only (no report: for tuning)"
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "haproxy"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is not installed (Debian package {tool})")
    global GENERATOR_CPU
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 4:  # the slow clients' generator on a CPU of its own; everything else, inherited, not
        GENERATOR_CPU = cpus[-1]
        os.sched_setaffinity(0, cpus[:-1])
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exampleproject")
    if not database_url.startswith("postgres"):
        sys.exit("bench: BENCH_DATABASE_URL must be a PostgreSQL URL")
    os.environ["DATABASE_URL"] = database_url
    env, css = prepare(fresh_database_url("exampleproject_bench", Path(tempfile.mkdtemp())))
    started = time.monotonic()
    servers = measure_servers(env, css, args)
    if args.only or args.workloads:
        return  # a partial run: the figures above, no report
    image = None if args.skip_image else measure_image(env, args)
    from bench.report import write_report

    write_report(servers, image, args, time.monotonic() - started, {**machine(), "load": LOAD})


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 1024 / 1024
    return {
        "date": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(memory),
        "python": platform.python_version(),
        "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1],
    }


if __name__ == "__main__":
    main()
