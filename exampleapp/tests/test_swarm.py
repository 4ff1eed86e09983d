"""docker-stack.yml deployed for real on a one-node Docker Swarm, under load: v1, then v2
with a new migration, then a v3 that fails its health check. No request may fail, every
acknowledged signature must be in the database, and v3 must be rolled back by Swarm alone.
And its worker service: scaled apart from the web, it emails a signature's admins once,
even when killed mid-task.

The stack file is the shipped one, changed only where this machine differs from a
cluster (`stack_for_this_machine`): its kernel has no IPVS, so there is neither routing
mesh nor virtual IPs. Services resolve by DNS round robin (`endpoint_mode: dnsrr`), and
HAProxy, the balancer's stand-in, runs in the stack on its overlay network, finds the
web replicas through Docker's DNS, and is the one service publishing a port on the host.
The figures it prints are docs/deploy/swarm.md's ("What the test measured"): `pytest -s exampleapp/tests/test_swarm.py`.
"""

import collections
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from exampleapp.tests.guestbook import signature, signed_post
from exampleapp.tests.test_worker import emailed_once, wait_for
from tests.servers import ROOT, copy_working_tree, free_port, http_request, raw_request, require_docker
from tests.test_image import REDIS_STANDIN, docker, docker_daemon, image, mailbox_for_containers  # noqa: F401

STACK = "exampleprojectswarm"
BALANCER_IMAGE = "exampleproject-balancer:test"
BALANCER_STANDIN = """FROM debian:trixie-slim
RUN apt-get update && apt-get install -y --no-install-recommends haproxy && rm -rf /var/lib/apt/lists/*
CMD ["haproxy", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
"""
# HAProxy as Convox's balancer is: TCP, a PROXY line to nginx's 4001. It asks Docker's
# DNS (127.0.0.11 in every container) for the replicas each second, and Swarm lists a
# replica there only once it is healthy, and takes it out 2 s before stopping it (moby
# daemon/cluster/executor/container/controller.go, Start and Shutdown): the same service
# binding that feeds the routing mesh's IPVS on a cluster. Like IPVS, it neither checks
# health nor retries a refused connection on another replica, so that nothing here hides
# a replica that takes traffic too early or drops it on stopping.
BALANCER_CONFIG = """
global
    maxconn 1024
resolvers docker
    nameserver dns 127.0.0.11:53
    accepted_payload_size 8192
    timeout resolve 1s
    timeout retry 1s
    hold valid 1s
    hold obsolete 1s
    hold nx 1s
    hold other 1s
    hold refused 1s
    hold timeout 1s
defaults
    mode tcp
    timeout connect 2s
    timeout client 75s
    timeout server 75s
    retries 0
frontend proxied
    bind :8000
    default_backend web
backend web
    server-template web 8 web:4001 send-proxy resolvers docker init-addr none
"""
# Test-sized timings (the shipped values wait minutes): a replica's health is checked
# each second, a broken one is given up on after 10 s of start-up and 3 failures, and
# the update moves to the next replica 1 s after one is healthy.
HEALTHCHECK = {"interval": "1s", "timeout": "3s", "retries": 3, "start_period": "10s"}
UPDATE_TIMINGS = {"delay": "1s", "monitor": "5s"}


def suite_on_postgresql():
    url = os.environ.get("DATABASE_URL", "").strip()
    return url.split("://", 1)[0] in ("postgres", "postgresql", "pgsql")


# The stack brings its own PostgreSQL, whatever database the suite uses. CI runs the suite
# on three databases and this test takes a minute and a half, so it runs in one pass only:
# PostgreSQL's, the database the stack ships with.
pytestmark = pytest.mark.skipif(
    not suite_on_postgresql(),
    reason=(
        "the Swarm stack runs its own PostgreSQL: this test runs in the suite's PostgreSQL pass "
        "(DATABASE_URL=postgres://...) only, once per CI run"
    ),
)


@pytest.fixture(scope="module")
def swarm():
    """A Swarm to deploy to: this machine's, or one made here and left afterwards."""
    require_docker("the Swarm test deploys the stack", images=["postgres:17", "debian:trixie-slim"])
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state not in ("inactive", "active"):
        pytest.fail(f"this Docker's swarm mode is {state!r}; the test needs it inactive or active")
    # swarm init also makes the docker_gwbridge network (host-mode ports, the overlay's way
    # out), which swarm leave keeps: removed too when it was not there before.
    had_gwbridge = docker("network", "inspect", "docker_gwbridge", check=False).returncode == 0
    if state == "inactive":
        init = docker("swarm", "init", "--advertise-addr", "127.0.0.1", check=False)
        assert init.returncode == 0, init.stderr
    try:
        remove_stack()  # what a run that was killed may have left
        yield
    finally:
        remove_stack()
        if state == "inactive":
            docker("swarm", "leave", "--force", check=False)
            if not had_gwbridge:
                docker("network", "rm", "docker_gwbridge", check=False)
        assert docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == state


def remove_stack():
    docker("stack", "rm", STACK, check=False)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        left = docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={STACK}").stdout.split()
        networks = docker("network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}").stdout
        if not left and not networks.split():
            break
        time.sleep(1)
    for volume in docker("volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}").stdout.split():
        docker("volume", "rm", volume, check=False)


def build(tag, context, timeout=1200):
    result = docker("build", "--network", "host", "-q", "-t", tag, str(context), check=False, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tag


def build_from(tag, dockerfile):
    result = subprocess.run(
        ["docker", "build", "--network", "host", "-q", "-t", tag, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tag


@pytest.fixture(scope="module")
def v1(image):  # noqa: F811
    """The image under test, under a tag of its own: Swarm starts a replacement task from it."""
    docker("tag", image, "exampleproject:swarm-v1")
    return "exampleproject:swarm-v1"


@pytest.fixture(scope="module")
def releases(v1, tmp_path_factory):
    """Three releases: v1, the image under test; v2, with a new migration (a column with a
    database default, so that v1, still serving while v2 rolls out, can go on inserting);
    v3, v2 with a liveness probe that fails, as a release that cannot serve would."""
    tree = copy_working_tree(tmp_path_factory.mktemp("v2"))
    models = tree / "exampleapp" / "models.py"
    text = models.read_text()
    anchor = "    created_at = models.DateTimeField(auto_now_add=True, db_index=True)\n"
    assert anchor in text
    models.write_text(
        text.replace(anchor, anchor + '    via = models.CharField(max_length=20, blank=True, db_default="web")\n')
    )
    env = {"PATH": os.environ["PATH"], "ENV_FILE": "", "DEBUG": "true", "DATA_DIR": str(tree / "data")}
    made = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "exampleapp", "--name", "entry_via"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0 and "entry_via" in made.stdout, made.stdout + made.stderr
    build("exampleproject:swarm-v2", tree)
    build_from(
        "exampleproject:swarm-v3",
        """FROM exampleproject:swarm-v2
USER root
RUN printf '\\n\\ndef liveness():\\n    return 500, {"status": "broken"}\\n' >> exampleproject/middleware.py
USER app
""",
    )
    return {version: f"exampleproject:swarm-{version}" for version in ("v1", "v2", "v3")}


@pytest.fixture(scope="module")
def standins():
    """The images the stack needs besides the app's: redis:7 (Debian's, where no registry is
    reachable) and the balancer's stand-in."""
    if docker("image", "inspect", "redis:7", check=False).returncode != 0:
        build_from("redis:7", REDIS_STANDIN)
    build_from(BALANCER_IMAGE, BALANCER_STANDIN)


@pytest.fixture
def fresh_stack(swarm, standins):
    """No stack before the test (a fresh database), and none after it, pass or fail."""
    remove_stack()
    yield
    remove_stack()


def stack_for_this_machine(tmp_path, port, environment=()):
    """docker-stack.yml with what differs on one machine without IPVS, and `environment` added
    to the web's and the worker's; every change is here."""
    stack = yaml.safe_load((ROOT / "docker-stack.yml").read_text())
    services = stack["services"]
    for name in ("web", "worker"):
        services[name]["environment"].update(environment)
    for service in services.values():
        # No IPVS: no virtual IPs; a service's name resolves to its healthy tasks' addresses.
        service.setdefault("deploy", {})["endpoint_mode"] = "dnsrr"
    web = services["web"]
    # No routing mesh: the balancer below publishes the one port.
    del web["ports"]
    web["healthcheck"] = HEALTHCHECK
    # The load signs many times a second from one address: without nginx's POST limit.
    web["environment"]["WEB_POSTS_PER_MINUTE"] = "0"
    web["deploy"]["update_config"].update(UPDATE_TIMINGS)
    web["deploy"]["rollback_config"].update(UPDATE_TIMINGS)
    # One node: nothing to pin the database to. CI's postgres:17 stand-in does not read
    # POSTGRES_PASSWORD_FILE as the official image does; it gets the value itself.
    database = services["database"]
    del database["deploy"]["placement"]
    del database["environment"]["POSTGRES_PASSWORD_FILE"]
    database["environment"]["POSTGRES_PASSWORD"] = "swarm-test-password"
    # Secrets from files here rather than created beforehand: the stack owns and removes
    # them. They reach the containers as /run/secrets files all the same.
    values = {
        "secret_key": "swarm-test-only-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "database_url": "postgres://app:swarm-test-password@database:5432/app",
        "database_password": "swarm-test-password",
        # Uploads in a replica's own disk: the load signs without images (test_media.py
        # tests S3 storage against a real S3 server; what a rolling deploy changes is
        # which replica answers, and no request here reads a file another one wrote).
        "storage_url": "file:///app/data/media",
    }
    stack["secrets"] = {}
    for name, value in values.items():
        (tmp_path / name).write_text(value + "\n")
        stack["secrets"][name] = {"file": str(tmp_path / name)}
    (tmp_path / "haproxy.cfg").write_text(BALANCER_CONFIG)
    stack.setdefault("configs", {})["haproxy"] = {"file": str(tmp_path / "haproxy.cfg")}
    services["balancer"] = {
        "image": BALANCER_IMAGE,
        "configs": [{"source": "haproxy", "target": "/etc/haproxy/haproxy.cfg"}],
        "ports": [{"target": 8000, "published": port, "protocol": "tcp", "mode": "host"}],
        "deploy": {"endpoint_mode": "dnsrr"},
    }
    path = tmp_path / "docker-stack.yml"
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    return path


def deploy(stack_file, release):
    env = {**os.environ, "WEB_IMAGE": release, "ALLOWED_HOSTS": "localhost"}
    result = subprocess.run(
        ["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(stack_file), STACK],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def service(name):
    return json.loads(docker("service", "inspect", f"{STACK}_{name}").stdout)[0]


def running_images(name):
    tasks = docker(
        "service",
        "ps",
        f"{STACK}_{name}",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}} {{.CurrentState}}",
    ).stdout.splitlines()
    return sorted(line.split()[0] for line in tasks if " Running " in f" {line} ")


def update_started():
    return (service("web").get("UpdateStatus") or {}).get("StartedAt")


def wait_for_update(expected, after, seconds=240):
    """Seconds until the web service's update that began after the one started at `after`
    reaches `expected` (completed, or rollback_completed); fails on any other end state."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        status = service("web").get("UpdateStatus") or {}
        state = status.get("State")
        if status.get("StartedAt") != after:
            if state == expected:
                return time.monotonic() - started
            if state in ("paused", "rollback_paused", "completed", "rollback_completed"):
                raise AssertionError(f"update ended {state}, not {expected}: {status.get('Message')}")
        time.sleep(0.5)
    raise AssertionError(f"update not {expected} after {seconds} s: {service('web').get('UpdateStatus')}")


def wait_for_replicas(image_name, seconds=240):
    """Seconds until three web replicas of `image_name` run, and the balancer answers."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if running_images("web") == [image_name] * 3:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{running_images('web')} after {seconds} s")


def wait_for_balancer(port, seconds=60):
    deadline = time.monotonic() + seconds
    while True:  # the balancer has found the replicas
        try:
            if raw_request(port, http_request("GET", "/healthz"), timeout=2)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the balancer found no replica in {seconds} s"
        time.sleep(0.5)


class Load:
    """Visitors signing the guestbook through the balancer, each as a browser does: the
    form (GET /), then the post with its CSRF token (302 when stored). Bounded: `threads`
    visitors, a pause between signatures, at most `limit` requests in all."""

    def __init__(self, port, threads=4, pause=0.05, limit=40000):
        self.port, self.pause, self.limit = port, pause, limit
        self.phase = "v1"
        self.requests = collections.Counter()
        self.failures = {}
        self.acknowledged = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.visit, args=(n,), daemon=True) for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def count(self, phase, failure=None):
        with self.lock:
            self.requests[phase] += 1
            if failure:
                self.failures.setdefault(phase, []).append(failure)

    def visit(self, visitor):
        number = 0
        while not self.stopping.is_set() and sum(self.requests.values()) < self.limit:
            number += 1
            name = f"swarm-{visitor}-{number}"
            phase = self.phase
            try:
                status, headers, body = raw_request(self.port, http_request("GET", "/"))
                if status != 200:
                    self.count(phase, f"GET / answered {status}")
                    continue
                self.count(phase)
                phase = self.phase
                status, _, _ = raw_request(self.port, signature(headers, body, name, message="rolling"))
                if status == 302:
                    self.count(phase)
                    with self.lock:
                        self.acknowledged.append(name)
                else:
                    self.count(phase, f"POST / answered {status}")
            except Exception as exc:  # a refused or reset connection, a timeout: a failure
                self.count(phase, f"{type(exc).__name__}: {exc}")
            time.sleep(self.pause)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


def web_memory():
    """The most memory a web replica uses now (docker stats), in MiB: for the stack's limit."""
    names = docker(
        "ps", "--filter", f"label=com.docker.swarm.service.name={STACK}_web", "--format", "{{.Names}}"
    ).stdout.split()
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", *names).stdout.splitlines()
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}
    sizes = []
    for line in usage:
        used = line.split("/")[0].strip()
        unit = used[-3:]
        if unit in units:  # a task that is stopping shows "--"
            sizes.append(float(used[:-3]) * units[unit])
    return round(max(sizes))


def running_containers(name):
    return docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{name}").stdout.split()


def database_rows(sql):
    container = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_database").stdout.split()
    result = docker("exec", container[0], "psql", "-U", "app", "-d", "app", "-tA", "-c", sql)
    return result.stdout.splitlines()


def test_rolling_deploys_lose_no_request_and_roll_back_a_broken_release(fresh_stack, releases, tmp_path):
    port = free_port()
    stack_file = stack_for_this_machine(tmp_path, port)
    figures = {}

    started = time.monotonic()
    deploy(stack_file, releases["v1"])
    wait_for_replicas(releases["v1"])
    wait_for_balancer(port)
    figures["v1 first deploy, s"] = round(time.monotonic() - started, 1)
    # Hardened as the stack says, where Swarm allows: no capability, a read-only root, /tmp in memory.
    for name in ("web", "worker"):
        label = f"label=com.docker.swarm.service.name={STACK}_{name}"
        deadline = time.monotonic() + 120
        while not (replicas := docker("ps", "-q", "--filter", label).stdout.split()):
            assert time.monotonic() < deadline, f"no {name} replica runs"
            time.sleep(0.5)
        inspected = json.loads(docker("inspect", replicas[0]).stdout)[0]
        assert inspected["HostConfig"]["CapDrop"] == ["ALL"] and inspected["HostConfig"]["ReadonlyRootfs"] is True
        assert {"Type": "tmpfs", "Destination": "/tmp"}.items() <= next(
            mount for mount in inspected["Mounts"] if mount["Destination"] == "/tmp"
        ).items()

    load = Load(port)
    try:
        time.sleep(5)  # load on v1 alone
        load.phase = "v2"
        before = update_started()
        deploy(stack_file, releases["v2"])
        figures["v2 rollout, s"] = round(wait_for_update("completed", before), 1)
        assert running_images("web") == [releases["v2"]] * 3
        time.sleep(3)  # load on v2 alone
        figures["web replica memory under load, MiB"] = web_memory()
        load.phase = "v3"
        before = update_started()
        deploy(stack_file, releases["v3"])
        figures["v3 rollout and automatic rollback, s"] = round(wait_for_update("rollback_completed", before), 1)
        load.phase = "after"
        time.sleep(3)  # v2 still serving after the rollback
    finally:
        load.stop()
        for phase in ("v1", "v2", "v3", "after"):
            figures[f"requests during {phase}"] = load.requests[phase]
            figures[f"failures during {phase}"] = len(load.failures.get(phase, ()))
        print("\nSwarm rolling deploys:", json.dumps(figures, indent=2))

    assert load.failures == {}, {phase: failures[:5] for phase, failures in load.failures.items()}
    assert min(load.requests[phase] for phase in ("v1", "v2", "v3", "after")) > 20, figures

    # v3 was rolled back by Swarm itself, and v2's three replicas serve.
    web = service("web")
    assert web["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == releases["v2"]
    assert running_images("web") == [releases["v2"]] * 3
    assert raw_request(port, http_request("GET", "/"))[0] == 200
    # The worker has no health check to fail: it stays on v3 until rolled back by hand (docs/deploy/swarm.md).
    assert running_images("worker") == [releases["v3"]]
    docker("service", "rollback", f"{STACK}_worker", timeout=180)
    wait_for(lambda: running_images("worker") == [releases["v2"]], seconds=90)

    # Each migration was applied once: v1's by one of the replicas and the worker starting together,
    # v2's by the first v2 replica or worker; the others waited on the lock and found them applied.
    applied = database_rows("SELECT name FROM django_migrations WHERE app = 'exampleapp' ORDER BY id")
    shipped = sorted(path.stem for path in (ROOT / "exampleapp" / "migrations").glob("0*.py"))
    assert applied[:-1] == shipped and applied[-1].endswith("_entry_via"), applied
    # (Each container's log: `docker service logs` hangs on tasks that have ended.)
    containers = [
        container
        for name in ("web", "worker")
        for container in docker(
            "ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={STACK}_{name}"
        ).stdout.split()
    ]
    logs = "".join(docker("logs", container, timeout=60).stdout for container in containers)
    for migration in applied:
        assert logs.count(f"Applying exampleapp.{migration}... OK") == 1, migration
    # Every acknowledged signature is stored.
    stored = set(database_rows("SELECT name FROM exampleapp_entry"))
    missing = [name for name in load.acknowledged if name not in stored]
    assert missing == [] and len(load.acknowledged) > 100, (len(load.acknowledged), missing[:10])
    # v2's schema stayed through v3's rollback: the column, with the database default that
    # let v1 go on inserting while v2 rolled out.
    assert database_rows(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_name = 'exampleapp_entry' AND column_name = 'via'"
    ) == ["'web'::character varying"]


def test_the_worker_emails_each_signature_once_even_when_killed_mid_task(
    fresh_stack, v1, mailbox_for_containers, tmp_path
):
    """The compose test's scenario on the stack: a signature through the balancer, then the worker
    service emails the admins through a real SMTP server. The worker is scaled apart from the web,
    and its containers killed (SIGKILL) mid-task leave the task to those Swarm starts in their place."""
    mailbox = mailbox_for_containers
    port = free_port()
    deploy(stack_for_this_machine(tmp_path, port, {"EMAIL_URL": mailbox.url, "ADMINS": "ops@example.com"}), v1)
    wait_for_replicas(v1)
    wait_for_balancer(port)

    docker("service", "scale", f"{STACK}_worker=2", timeout=180)
    wait_for(lambda: len(running_images("worker")) == 2, seconds=90)
    assert running_images("web") == [v1] * 3

    assert raw_request(port, signed_post("Swarm Signer", port=port, proxy_line=None))[0] == 302
    emailed_once(mailbox, "Swarm Signer")

    # The mail server holds the next email, unanswered, while both workers are killed.
    mailbox.hold.set()
    assert raw_request(port, signed_post("Swarm Survivor", port=port, proxy_line=None))[0] == 302
    wait_for(lambda: mailbox.offered == 2)
    killed = running_containers("worker")
    docker("kill", *killed)
    mailbox.hold.clear()
    wait_for(lambda: len(set(running_containers("worker")) - set(killed)) == 2, seconds=90)
    emailed_once(mailbox, "Swarm Signer", "Swarm Survivor", seconds=90)
    # The killed workers finished the first task only; the second's one run is the replacements'.
    logs = "".join(docker("logs", container, timeout=60).stdout for container in killed)
    assert logs.count("task email_admins id=") == 1, logs[-4000:]
    assert database_rows("SELECT status FROM django_tasks_database_dbtaskresult") == ["SUCCESSFUL"] * 2
    assert database_rows("SELECT count(*) FROM exampleapp_entry WHERE admins_emailed_at IS NOT NULL") == ["2"]
