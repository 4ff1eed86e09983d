"""The image and docker-compose.yml, built and run for real.

Skipped where no Docker daemon runs; under REQUIRE_DOCKER=1 (CI) that is a failure.
Without a Docker daemon they skip, saying why; CI (.ci/run) provides one.
"""

import http.client
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from tests.servers import (
    HTTP_PORT,
    PRODUCTION_ENV,
    PROXY_LINE,
    PROXY_PORT,
    ROOT,
    SESSION_COOKIE,
    InFlight,
    container_name,
    copy_working_tree,
    http_request,
    login_post,
    raw_request,
    require_docker,
    require_ports,
)

IMAGE = "exampleproject:test"
COMPOSE_PROJECT = "exampleprojecttest"  # docker-compose names the built image <project>_web


def docker(*args, check=True, timeout=600, **kwargs):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def docker_daemon():
    require_docker("the image tests build and run it", images=["debian:trixie-slim"])


@pytest.fixture
def mailbox_for_containers(docker_daemon):
    """exampleapp/tests/test_worker.py's SMTP server, on the host's address on Docker's default bridge:
    containers on any bridge or overlay network reach it through their gateway."""
    from exampleapp.tests.test_worker import Mailbox
    from tests.servers import require

    require("ip", "the SMTP server for containers binds to the Docker bridge's address")
    bridge = docker("network", "inspect", "bridge", "--format", '{{index .Options "com.docker.network.bridge.name"}}')
    address = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", bridge.stdout.strip()], capture_output=True, text=True, check=True
    )
    box = Mailbox(host=address.stdout.split("inet ")[1].split("/")[0])
    yield box
    box.stop()


@pytest.fixture(scope="session")
def image(docker_daemon):
    build = docker("build", "--network", "host", "-t", IMAGE, str(ROOT), check=False, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


def test_base_stage_builds_alone(docker_daemon):
    build = docker(
        "build",
        "--network",
        "host",
        "--target",
        "base",
        "-t",
        "exampleproject-base:test",
        str(ROOT),
        check=False,
        timeout=1200,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    config = json.loads(docker("image", "inspect", "exampleproject-base:test").stdout)[0]["Config"]
    assert config["Cmd"] == ["bin/web"]
    assert config["User"] == "app"


def test_image_metadata(image):
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert set(config["ExposedPorts"]) == {f"{HTTP_PORT}/tcp", f"{PROXY_PORT}/tcp"}
    assert config["User"] == "app"
    assert config["Cmd"] == ["bin/web"]
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"][0] == "CMD"


def test_container_without_configuration_refuses_to_start(image):
    """The build's throwaway SECRET_KEY and ALLOWED_HOSTS stay on collectstatic's RUN line:
    the image's environment has neither, and a container started without them stops at once."""
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert not [item for item in config["Env"] if item.startswith(("SECRET_KEY=", "ALLOWED_HOSTS="))]
    result = docker("run", "--rm", image, check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error")
    assert "SECRET_KEY: required when DEBUG is off" in result.stderr
    assert "ALLOWED_HOSTS: required when DEBUG is off" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_image_holds_no_secrets_or_local_state(image):
    listing = docker(
        "run",
        "--rm",
        image,
        "bash",
        "-c",
        "ls -a /app; test ! -e /app/.env && test ! -e /app/.git && test ! -e /app/tests && echo clean",
    )
    assert "clean" in listing.stdout
    assert ".venv" not in listing.stdout and "data" in listing.stdout


def test_no_setuid_or_setgid_program(image):
    """Debian's su, mount, passwd and the like lose their set-id bits: code run as the app user
    has no program that runs as another."""
    found = docker("run", "--rm", "--user", "0", image, "find", "/", "-xdev", "-perm", "/6000", "-type", "f")
    assert found.stdout.split() == []


def test_code_is_read_only_for_the_app_user(image):
    result = docker("run", "--rm", image, "bash", "-c", "id -u; touch /app/manage.py 2>&1 || echo refused", check=False)
    assert result.stdout.split()[0] == "10001"
    assert "refused" in result.stdout


@pytest.fixture(scope="module")
def container(image, tmp_path_factory):
    """The image on the host network (the suite's database on 127.0.0.1 is reachable),
    migrated with bin/release inside it."""
    from tests.servers import fresh_database_url, ports_free

    ports_free()
    url = os.environ.get("DATABASE_URL", "").strip()
    environ = dict(PRODUCTION_ENV, ENV_FILE="")
    if url:  # a server database; without one the container uses its own SQLite file
        environ["DATABASE_URL"] = fresh_database_url("exampleproject_image", tmp_path_factory.mktemp("image"))
    name = run_on_host_network(image, environ)
    try:
        wait_healthy(name)
        release = docker("exec", name, "bin/release", check=False)
        assert release.returncode == 0, release.stdout + release.stderr
        create_admin(name)
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def run_on_host_network(image, environ):
    """`docker run -d` of the image on the host network with these variables; returns its name."""
    name = container_name("test")
    docker("run", "-d", "--name", name, "--network", "host", *(f"--env={k}={v}" for k, v in environ.items()), image)
    return name


def wait_healthy(name, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        if state["Status"] != "running":
            logs = docker("logs", name, check=False)
            raise AssertionError(f"container exited:\n{logs.stdout[-1500:]}\n{logs.stderr[-3000:]}")
        if state.get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(0.5)
    raise AssertionError(f"not healthy after {seconds} s:\n{docker('logs', name, check=False).stdout[-3000:]}")


def test_container_runs_as_non_root(container):
    processes = docker(
        "exec",
        container,
        "bash",
        "-c",
        "for p in /proc/[0-9]*; do echo $(stat -c %U $p) $(tr '\\0' ' ' < $p/cmdline); done",
    )
    users = {line.split()[0] for line in processes.stdout.splitlines() if line.strip()}
    assert users == {"app"}, processes.stdout
    assert "nginx: master process" in processes.stdout and "gunicorn" in processes.stdout


def test_container_serves_the_stack(container):
    status, headers, _ = raw_request(HTTP_PORT, http_request("GET", "/healthz", host="10.1.2.3"))
    assert status == 200
    status, headers, _ = raw_request(HTTP_PORT, http_request("GET", "/admin/login/", host="localhost"))
    assert (status, headers["location"]) == (301, ["https://localhost/admin/login/"])
    status, headers, _ = raw_request(HTTP_PORT, http_request("GET", "/admin/login/", host="example.com"))
    assert status == 400 and "location" not in headers  # not in ALLOWED_HOSTS: no redirect there
    status, headers, body = raw_request(PROXY_PORT, http_request("GET", "/admin/login/"), PROXY_LINE)
    assert status == 200 and "strict-transport-security" in headers
    css = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', body).group(1).decode()
    status, headers, _ = raw_request(
        PROXY_PORT, http_request("GET", css, headers=["Accept-Encoding: gzip"]), PROXY_LINE
    )
    assert status == 200
    assert headers["content-encoding"] == ["gzip"]
    assert headers["cache-control"] == ["public, max-age=31536000, immutable"]
    status, _, body = raw_request(PROXY_PORT, http_request("GET", "/readyz"), PROXY_LINE)
    assert status == 200 and json.loads(body) == {"status": "ok"}  # the PROXY line's client: up or down only


def create_admin(container):
    """The superuser tests.servers.ADMIN_USERNAME, made inside the container."""
    from tests.servers import ADMIN_PASSWORD, ADMIN_USERNAME

    docker(
        "exec",
        "-e",
        f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}",
        container,
        *("python3", "manage.py", "createsuperuser", "--noinput", "--username", ADMIN_USERNAME),
        "--email=admin@example.com",
    )


def put_media_file(container, name, data):
    """A file in the container's MEDIA_ROOT (/app/data/media), written by the app's user as
    a FileSystemStorage writes an upload."""
    script = f"mkdir -p /app/data/media/$(dirname {name}) && cat > /app/data/media/{name}"
    subprocess.run(["docker", "exec", "-i", container, "bash", "-c", script], input=data, check=True, timeout=60)


def test_container_serves_uploads_and_its_pillow_works(container):
    """A file in /app/data/media is served by nginx with the media headers; the image's
    trimmed Pillow still reads and writes each format uploads may have."""
    from tests.test_media import make_image, opened

    put_media_file(container, "entries/0123abcd.jpg", make_image(size=(900, 600)))
    status, headers, body = raw_request(PROXY_PORT, http_request("GET", "/media/entries/0123abcd.jpg"), PROXY_LINE)
    assert status == 200 and opened(body).size == (900, 600)
    assert headers["content-security-policy"] == ["default-src 'none'; sandbox"]
    assert headers["cache-control"] == ["public, max-age=31536000, immutable"]
    codecs = docker(
        "exec",
        container,
        "python3",
        "-c",
        """
import io
from PIL import Image
for fmt in ("JPEG", "PNG", "WEBP"):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, fmt)
    assert Image.open(io.BytesIO(buffer.getvalue())).size == (64, 48)
    print(fmt, "ok")
""",
        check=False,
    )
    assert codecs.stdout.split() == ["JPEG", "ok", "PNG", "ok", "WEBP", "ok"], codecs.stderr


def test_docker_stop_finishes_requests_in_flight(container):
    """`docker stop` while requests are on the wire: each gets its answer, and the
    container exits 0 within the grace period."""
    requests = InFlight({f"login{n}": login_post() for n in range(4)})
    started = time.monotonic()
    docker("stop", "--time", "30", container)
    took = time.monotonic() - started
    assert requests.finish() == {name: 302 for name in requests.names}
    assert took < 25
    state = json.loads(docker("inspect", container).stdout)[0]["State"]
    assert state["ExitCode"] == 0, docker("logs", container).stdout[-2000:]
    assert "bin/web: stopped" in docker("logs", container).stderr


# --- docker-compose: the app and its database ------------------------------------------------


def compose(*args, env, check=True, timeout=300):
    return subprocess.run(
        ["docker-compose", "-p", COMPOSE_PROJECT, *args],
        cwd=ROOT,
        env=env,
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def compose_env(image, docker_daemon):
    from tests.servers import require

    require("docker-compose", "the compose test runs docker-compose v1")
    require_docker("docker-compose.yml's database", images=["postgres:17"])
    require_ports(80, 443, why="docker-compose.yml maps the balancer's ports 80 and 443", by_this_user=False)
    # docker-compose would build the same Dockerfile; reuse the image built above.
    docker("tag", image, f"{COMPOSE_PROJECT}_web")
    docker("tag", image, f"{COMPOSE_PROJECT}_worker")
    env = {**os.environ, **PRODUCTION_ENV, "ALLOWED_HOSTS": "localhost"}
    env.pop("DATABASE_URL", None)
    compose("down", "-v", env=env, check=False)
    yield env
    compose("down", "-v", env=env, check=False)


def wait_compose_healthy(env, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids = compose("ps", "-q", "web", env=env).stdout.split()
        if ids:
            state = json.loads(docker("inspect", ids[0]).stdout)[0]["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return
        time.sleep(1)
    raise AssertionError("web not healthy:\n" + compose("logs", env=env, check=False).stdout[-4000:])


def compose_gateway():
    """Where a balancer on this machine reaches the web container from: its network's gateway
    (docker-proxy's address, or the NAT's)."""
    network = f"{COMPOSE_PROJECT}_default"
    return docker("network", "inspect", network, "--format", "{{(index .IPAM.Config 0).Gateway}}").stdout.strip()


def balancer_on_this_machine(env, files=()):
    """WEB_BALANCER_IPS in `env` set to compose_gateway(), the web container recreated if that changed it."""
    if env.get("WEB_BALANCER_IPS") != (gateway := compose_gateway()):
        env["WEB_BALANCER_IPS"] = gateway
        assert compose(*files, "up", "-d", "--no-build", env=env, check=False).returncode == 0
        wait_compose_healthy(env)


def test_compose_up_migrates_and_keeps_data(compose_env, mailbox_for_containers):
    from exampleapp.tests.guestbook import signed_post
    from exampleapp.tests.test_worker import emailed_once
    from tests.servers import ADMIN_PASSWORD, ADMIN_USERNAME, apps_with_migrations, session_key
    from tests.test_media import make_image, opened

    # EMAIL_URL and ADMINS from the shell, as docker-compose.override.yml passes them to the web and the worker.
    compose_env = {**compose_env, "EMAIL_URL": mailbox_for_containers.url, "ADMINS": "ops@example.com"}
    up = compose("up", "-d", "--no-build", env=compose_env, check=False)
    assert up.returncode == 0, up.stderr
    wait_compose_healthy(compose_env)
    # Hardened as docker-compose.yml says: no capability, no new privilege, a read-only root.
    for service in ("web", "worker"):
        (container,) = compose("ps", "-q", service, env=compose_env).stdout.split()
        host_config = json.loads(docker("inspect", container).stdout)[0]["HostConfig"]
        assert host_config["CapDrop"] == ["ALL"] and host_config["SecurityOpt"] == ["no-new-privileges:true"]
        assert host_config["ReadonlyRootfs"] is True and set(host_config["Tmpfs"]) == {"/tmp"}
        proc = docker("exec", container, "cat", "/proc/1/status").stdout
        status = dict(line.split(":\t") for line in proc.splitlines())
        assert status["CapBnd"] == "0000000000000000" and status["NoNewPrivs"] == "1", service
    # RELEASE_ON_START=true (gen1 has no release phase): the web and worker containers migrated
    # every app, under the lock, before they started, and a later bin/release finds nothing to do.
    logs = compose("logs", "web", "worker", env=compose_env).stdout
    assert "RELEASE_ON_START: applying migrations before serving" in logs
    for app in apps_with_migrations():
        assert f"Applying {app}.0001_initial... OK" in logs, app
    # No balancer named (.env has no WEB_BALANCER_IPS): 4001 believes nobody, this machine included.
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        raw_request(443, http_request("GET", "/admin/login/?no-balancer"), PROXY_LINE)
    logs = compose("logs", "--no-color", "web", env=compose_env).stdout
    assert f'| {compose_gateway()} "GET /admin/login/?no-balancer HTTP/1.1" 444 ' in logs, logs[-3000:]
    balancer_on_this_machine(compose_env)
    release = compose("run", "--rm", "web", "bin/release", env=compose_env, check=False)
    assert release.returncode == 0, release.stdout + release.stderr
    assert "No migrations to apply." in release.stdout
    made = compose(
        *("run", "--rm", "-e", f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}", "web"),
        *("python3", "manage.py", "createsuperuser", "--noinput", "--username", ADMIN_USERNAME),
        "--email=admin@example.com",
        env=compose_env,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    (web,) = compose("ps", "-q", "web", env=compose_env).stdout.split()
    put_media_file(web, "entries/0123abcd.jpg", make_image())

    # The balancer's ports: 443 -> 4001 (PROXY protocol), 80 -> 4000.
    assert raw_request(80, http_request("GET", "/healthz", host="10.0.0.1"))[0] == 200
    # A signature: the worker service, not the web, emails the admins, through a real SMTP server.
    assert raw_request(443, signed_post("Compose Signer", port=443), PROXY_LINE)[0] == 302
    emailed_once(mailbox_for_containers, "Compose Signer")
    worker_log = compose("logs", "worker", env=compose_env).stdout
    assert re.search(r"task email_admins id=\S+ SUCCESSFUL", worker_log), worker_log[-4000:]
    status, headers, _ = raw_request(443, login_post(port=443), PROXY_LINE)
    assert status == 302
    session = f"Cookie: {SESSION_COOKIE}={session_key(headers)}"
    assert b"Site administration" in raw_request(443, http_request("GET", "/admin/", headers=[session]), PROXY_LINE)[2]

    # The named volumes keep the data (the user, the session) and the uploads across down and up.
    assert compose("down", env=compose_env, check=False).returncode == 0
    assert compose("up", "-d", "--no-build", env=compose_env, check=False).returncode == 0
    wait_compose_healthy(compose_env)
    balancer_on_this_machine(compose_env)  # a new network may have another gateway
    assert b"Site administration" in raw_request(443, http_request("GET", "/admin/", headers=[session]), PROXY_LINE)[2]
    status, _, body = raw_request(443, http_request("GET", "/media/entries/0123abcd.jpg"), PROXY_LINE)
    assert status == 200 and opened(body).size == (640, 480)
    emailed_once(mailbox_for_containers, "Compose Signer")  # the restarted worker sent it no second time


# A stand-in for the redis:7 image where no registry is reachable: Debian's redis-server.
REDIS_STANDIN = """FROM debian:trixie-slim
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]
"""
WITH_REDIS = ["-f", "docker-compose.yml", "-f", "docker-compose.override.yml", "-f", "docker-compose.redis.yml"]


def test_compose_with_redis(compose_env):
    """docker-compose.redis.yml: the app gets REDIS_URL for the linked service, and
    readiness checks the cache there."""
    if docker("image", "inspect", "redis:7", check=False).returncode != 0:
        build = subprocess.run(
            ["docker", "build", "--network", "host", "-t", "redis:7", "-"],
            input=REDIS_STANDIN,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert build.returncode == 0, build.stderr[-3000:]
    try:
        up = compose(*WITH_REDIS, "up", "-d", "--no-build", env=compose_env, check=False)
        assert up.returncode == 0, up.stderr
        wait_compose_healthy(compose_env)
        balancer_on_this_machine(compose_env, WITH_REDIS)
        assert compose(*WITH_REDIS, "run", "--rm", "web", "bin/release", env=compose_env, check=False).returncode == 0
        status, _, body = raw_request(443, http_request("GET", "/readyz"), PROXY_LINE)
        assert status == 200 and json.loads(body) == {"status": "ok"}, body  # a client: up or down only
        keys = compose(*WITH_REDIS, "exec", "-T", "redis", "redis-cli", "--scan", env=compose_env).stdout
        assert "readyz" in keys
    finally:
        compose(*WITH_REDIS, "down", "-v", env=compose_env, check=False)


# --- hardening ------------------------------------------------------------------------------


def test_no_secret_reaches_any_layer(docker_daemon, tmp_path):
    """A build context holding a .env with a secret: no layer of the image contains it."""
    import tarfile

    context = copy_working_tree(tmp_path / "context")
    marker = f"leaked-{uuid.uuid4().hex}"
    (context / ".env").write_text(f"SECRET_KEY={marker}\n")
    (context / ".env.production").write_text(f"SECRET_KEY={marker}\n")
    docker("build", "--network", "host", "-q", "-t", "exampleproject:secret-check", str(context), timeout=1200)
    archive = tmp_path / "image.tar"
    docker("save", "-o", str(archive), "exampleproject:secret-check")
    found = []
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()
            if marker.encode() in data:
                found.append(member.name)
    docker("rmi", "exampleproject:secret-check", check=False)
    assert found == []


def test_runs_with_a_read_only_root_filesystem(image, tmp_path):
    """--read-only with a tmpfs at /tmp (bin/web's run directory) only, and one at /app/data
    when the SQLite default is used."""
    from tests.servers import fresh_database_url, ports_free

    ports_free()
    name = container_name("ro")
    args = ["run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp:mode=1777"]
    if os.environ.get("DATABASE_URL", "").strip():
        args += ["-e", f"DATABASE_URL={fresh_database_url('exampleproject_ro', tmp_path)}"]
    else:
        args += ["--tmpfs", "/app/data:uid=10001,gid=999"]
    for key, value in PRODUCTION_ENV.items():
        args += ["-e", f"{key}={value}"]
    docker(*args, image)
    try:
        wait_healthy(name)
        assert docker("exec", name, "bin/release", check=False).returncode == 0
        create_admin(name)
        status, _, body = raw_request(PROXY_PORT, http_request("GET", "/admin/login/"), PROXY_LINE)
        assert status == 200 and b'name="csrfmiddlewaretoken"' in body
        assert raw_request(PROXY_PORT, login_post(), PROXY_LINE)[0] == 302  # a session written
        assert docker("exec", name, "touch", "/app/x", check=False).returncode != 0
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.parametrize("victim", ["nginx", "gunicorn"])
def test_container_exits_non_zero_when_a_server_dies(image, victim):
    """nginx or gunicorn dying ends the container with status 1, so the platform restarts it."""
    from tests.servers import ports_free

    ports_free()
    name = container_name("die")
    args = ["run", "-d", "--name", name, "--network", "host", "--tmpfs", "/app/data:uid=10001,gid=999"]
    for key, value in PRODUCTION_ENV.items():
        args += ["-e", f"{key}={value}"]
    docker(*args, image)
    try:
        wait_healthy(name)
        pid_of = {
            "nginx": "cat /tmp/web/nginx.pid",
            "gunicorn": "for p in /proc/[0-9]*; do grep -qa 'gunicorn' $p/cmdline 2>/dev/null && "
            "[ \"$(cut -d' ' -f4 $p/stat)\" = 1 ] && basename $p; done",
        }[victim]
        docker("exec", name, "bash", "-c", f"kill -9 $({pid_of})")
        exit_code = docker("wait", name, timeout=60).stdout.strip()
        assert exit_code == "1", docker("logs", name).stderr[-2000:]
        assert f"bin/web: {victim} exited" in docker("logs", name).stderr
    finally:
        docker("rm", "-f", name, check=False)


# --- Convox gen1: the container `convox start` runs, and a Rack's memory limit --------------


def run_detached(image, *args, env=None):
    """`docker run -d` with 4000 published on a free port of 127.0.0.1; returns (name, port)."""
    name = container_name("convox")
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1::{HTTP_PORT}", *args, image, env=env)
    port = int(docker("port", name, f"{HTTP_PORT}/tcp").stdout.split()[0].rsplit(":", 1)[1])
    return name, port


def gunicorn_workers(name):
    """(workers gunicorn logged, the reason it logged, worker processes running): every
    gunicorn process but the master (conf/gunicorn.conf.py, on_starting)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logged = re.search(r"\] (\d+) workers \((.*?)\)", docker("logs", name, check=False).stderr)
        count = docker(
            "exec",
            name,
            "bash",
            "-c",
            "grep -la 'gunicorn[.]conf' /proc/[0-9]*/cmdline 2>/dev/null | wc -l",
            check=False,
        ).stdout.strip()
        if logged and count.isdigit() and int(count) == int(logged.group(1)) + 1:
            return int(logged.group(1)), logged.group(2), int(count) - 1
        time.sleep(0.5)
    raise AssertionError(docker("logs", name, check=False).stderr[-3000:])


def test_convox_start_gen1_container(image, tmp_path):
    """The web container as `convox start` runs it from docker-compose.yml and a .env
    (tests/convox_gen1.py, ported from Convox's manifest1): the required variables come
    from .env, an optional one listed in the manifest reaches the app (plain-HTTP browsing
    with SECURE_SSL_REDIRECT=false), one not listed does not, mem_limit becomes the
    container's memory limit, and RELEASE_ON_START migrates before the app serves."""
    from tests import convox_gen1
    from tests.servers import apps_with_migrations

    web = convox_gen1.load_service("web")
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    convox_gen1.load_dotenv("DEBUG=true\nSECURE_SSL_REDIRECT=false\n", environ)
    assert convox_gen1.missing(web, environ) == ["ALLOWED_HOSTS", "SECRET_KEY"]  # convox start stops here
    convox_gen1.load_dotenv(f"SECRET_KEY={PRODUCTION_ENV['SECRET_KEY']}\nALLOWED_HOSTS=localhost\n", environ)
    assert convox_gen1.missing(web, environ) == []
    args = convox_gen1.docker_args(web, environ)
    assert args[args.index("--memory") + 1] == str(512 * 2**20)

    name, port = run_detached(image, *args, env=environ)
    try:
        wait_healthy(name)
        container_env = dict(
            line.split("=", 1) for line in docker("exec", name, "env").stdout.splitlines() if "=" in line
        )
        assert container_env["SECRET_KEY"] == PRODUCTION_ENV["SECRET_KEY"]
        assert container_env["SECURE_SSL_REDIRECT"] == "false" and container_env["RELEASE_ON_START"] == "true"
        assert "DEBUG" not in container_env  # in .env, not in the manifest: never reaches the app
        assert container_env["STORAGE_URL"] == ""  # listed, unset: empty, which the app reads as unset
        logs = docker("logs", name).stderr + docker("logs", name).stdout
        assert "RELEASE_ON_START: applying migrations before serving" in logs
        for app in apps_with_migrations():
            assert f"Applying {app}.0001_initial... OK" in logs, app
        # Plain HTTP, and the migrated tables: a login with an unknown password looks the user up.
        status, _, body = raw_request(port, login_post(port=port, proxy_line=None, password="not-the-password"))
        assert status == 200 and b"Please enter the correct username and password" in body
        workers, reason, running = gunicorn_workers(name)
        assert reason.endswith("512 MB") and workers == running
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.parametrize(
    "limits, expected",
    [
        (["--memory", "256m"], 1),  # a Convox gen1 Rack's default: 256 MB (manifest1 DefaultParams)
        (["--memory", "128m"], 1),
        (["--memory", "256m", "-e", "WEB_CONCURRENCY=2"], 2),  # the override still wins
        (["--cpus", "1"], 3),  # a CPU quota, no memory limit: 2 x 1 + 1
    ],
)
def test_workers_fit_the_containers_limits(image, limits, expected):
    """gunicorn's default worker count under real `docker run` limits: at most what the
    memory limit holds (64 MB each beside 64 MB and 128 MB for an image decode), at most 2 x CPUs + 1."""
    environ = ["-e", f"SECRET_KEY={PRODUCTION_ENV['SECRET_KEY']}", "-e", "ALLOWED_HOSTS=localhost", "-e", "ENV_FILE="]
    name, port = run_detached(image, *environ, *limits)
    try:
        workers, reason, running = gunicorn_workers(name)
        assert (workers, running) == (expected, expected), reason
        if "--memory" in limits and "-e" not in limits[2:]:
            assert reason.endswith(limits[1].replace("m", " MB"))
        wait_healthy(name)
        assert raw_request(port, http_request("GET", "/healthz", host="10.0.0.1"))[0] == 200
    finally:
        docker("rm", "-f", name, check=False)
