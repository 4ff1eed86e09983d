"""Start real servers for tests and talk HTTP to them, on 127.0.0.1 only."""

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "ENV_FILE": "",
    "SECRET_KEY": "test-suite-only-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    # Load and stop tests (and bench/) POST from one address; tests/test_post_limits.py tests the limit.
    "WEB_POSTS_PER_MINUTE": "0",
}


# In the name of every container this run starts, so that the run's end removes any a failed
# test left behind (conftest.py, no_container_left), and none of another run's.
RUN_ID = uuid.uuid4().hex[:6]


def container_name(kind):
    return f"exampleproject-{kind}-{RUN_ID}-{uuid.uuid4().hex[:6]}"


def remove_containers():
    """Every container this run named (and its anonymous volumes), whatever became of its test."""
    import shutil

    if shutil.which("docker"):
        listed = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"name=-{RUN_ID}-"], capture_output=True, text=True, timeout=60
        )
        if ids := listed.stdout.split():
            subprocess.run(["docker", "rm", "-fv", *ids], capture_output=True, timeout=120)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, path, method="GET", headers=None, body=None, timeout=10):
    """One HTTP request to 127.0.0.1:port; returns (status, headers dict, body bytes).
    A repeated header's values are joined with ", " (two Set-Cookie lines, say)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        joined = {}
        for name, value in response.getheaders():
            joined[name.lower()] = f"{joined[name.lower()]}, {value}" if name.lower() in joined else value
        return response.status, joined, response.read()
    finally:
        connection.close()


def readiness_until(port, expected, headers=None, seconds=15):
    """/readyz, asked again until it answers `expected` or `seconds` pass: each worker reuses its
    answer a few seconds (exampleproject.middleware.READINESS_SECONDS). Returns the last answer."""
    deadline = time.monotonic() + seconds
    while (answer := request(port, "/readyz", headers=headers))[0] != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return answer


class CountingProxy:
    """A TCP proxy from a free port to 127.0.0.1:target that counts `needle` in what clients send:
    b"HEAD /" for S3's HeadBucket, b"SELECT 1" for the database's readiness query."""

    def __init__(self, target, needle):
        import threading

        self.target, self.needle, self.count = target, needle, 0
        self.lock, self.sockets = threading.Lock(), []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading

        while True:
            try:
                client, _ = self.server.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, sink, counted):
        tail = b""
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if counted:
                    with self.lock:
                        self.count += (tail + data).count(self.needle)
                    tail = (tail + data)[-(len(self.needle) - 1) :]
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)

    def stop(self):
        for sock in [self.server, *self.sockets]:
            sock.close()


def hung_server():
    """A listening socket that nobody reads: the kernel completes each connection, and no byte is
    ever answered, as a hung service's. Close it to stop."""
    return socket.create_server(("127.0.0.1", 0), backlog=64)


def wait_until_listening(port, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {seconds} s")


@contextlib.contextmanager
def gunicorn(environ, workers=1):
    """gunicorn alone serving the project on a free port, with production settings."""
    port = free_port()
    env = {"PATH": os.environ["PATH"], **PRODUCTION_ENV, **environ}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "exampleproject.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_listening(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- the whole stack: bin/web on this machine ------------------------------------------

HTTP_PORT, PROXY_PORT = 4000, 4001  # conf/nginx.conf's ports; tests/test_image.py checks the rest
# The superuser prepare_web_env creates: the admin's pages are the project's own, with a form,
# a CSRF token and static files, and logging in writes a row (a session).
ADMIN_USERNAME, ADMIN_PASSWORD = "admin", "a-long-admin-password-for-tests"
# The cookies' names over HTTPS (settings.py): what the stack tests read and send back.
SESSION_COOKIE, CSRF_COOKIE = "__Host-sessionid", "__Host-csrftoken"


def unavailable(message):
    """Skip, saying why; or fail under REQUIRE_DOCKER=1 (CI), where the deployment tests
    must run rather than skip."""
    import pytest

    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(message + " (REQUIRE_DOCKER=1 requires it)")
    pytest.skip(message)


def require(tool, why):
    """`tool` must be installed: see unavailable()."""
    import shutil

    if not shutil.which(tool):
        unavailable(f"{tool} is not installed: {why}")


def require_docker(why, images=()):
    """A Docker daemon must be running, with `images` in its store: see unavailable(). The tests
    never pull: they reach no network, and a user's `docker pull` is one command."""
    try:
        running = subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        running = False
    if not running:
        unavailable(f"no Docker daemon ({why})")
    for image in images:
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=30).returncode:
            unavailable(f"Docker has no {image} image ({why}): docker pull {image}")


def require_ports(*ports, why, by_this_user=True):
    """127.0.0.1's `ports` must be free and, `by_this_user`, bindable by this user (under 1024:
    root's); Docker's daemon binds published ports itself."""
    for port in ports:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                unavailable(f"127.0.0.1:{port} is in use ({why})")
        if by_this_user:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except PermissionError:
                    unavailable(f"binding port {port} needs root ({why})")


def copy_working_tree(destination):
    """Copy what a commit of the working tree would hold: tracked files and new, unignored ones."""
    import shutil

    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).exists():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def fresh_database_url(name, tmp_path):
    """A new, empty database on the server the suite uses (DATABASE_URL), or a SQLite file."""
    import dj_database_url

    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{tmp_path}/{name}.sqlite3"
    config = dj_database_url.parse(url)
    engine = config["ENGINE"].rsplit(".", 1)[-1]
    if engine == "postgresql":
        import psycopg2

        admin = psycopg2.connect(
            dbname="postgres",
            user=config["USER"],
            password=config["PASSWORD"],
            host=config["HOST"],
            port=config["PORT"],
        )
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        admin.close()
    elif engine == "mysql":
        import pymysql

        admin = pymysql.connect(
            user=config["USER"],
            password=config["PASSWORD"] or "",
            host=config["HOST"],
            port=int(config["PORT"] or 3306),
        )
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        admin.close()
    else:
        return f"sqlite:///{tmp_path}/{name}.sqlite3"
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.rsplit('/', 1)[0]}/{name}"


def raw_request(port, data, proxy_line=None, timeout=10, source="127.0.0.1"):
    """Send raw bytes (after an optional PROXY protocol line) from `source` (any of 127.0.0.0/8);
    returns (status, headers, body) with each header's values in a list. http.client parses the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as sock:
        if proxy_line is not None:
            sock.sendall(proxy_line)
        sock.sendall(data)
        return read_response(sock)


def read_response(sock):
    response = http.client.HTTPResponse(sock)
    response.begin()
    headers = {}
    for name, value in response.getheaders():
        headers.setdefault(name.lower(), []).append(value)
    return response.status, headers, response.read()


def http_request(method, path, host="localhost", headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def multipart(fields, files=()):
    """A multipart/form-data body, as a browser sends a form with a file input: returns
    (content type, body). `files` holds (field, file name, content type, bytes)."""
    import uuid

    boundary = f"----form{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, content_type, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


PROXY_LINE = b"PROXY TCP4 203.0.113.9 192.0.2.1 51234 443\r\n"  # a client at 203.0.113.9


def via_balancer(method, path, host="localhost", headers=(), body=b""):
    """A request as the balancer's port 443 passes it on: to 4001, behind a PROXY line."""
    return raw_request(PROXY_PORT, http_request(method, path, host, headers, body), PROXY_LINE)


def public_tmp_dir(prefix):
    """A temporary directory nginx's workers can enter: run as root, nginx serves as
    `nobody`, and pytest's own temporary directories are private (0700)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def prepare_web_env(database_name, tmp_path):
    """What bin/web needs, as a deploy provides it: a fresh database migrated by
    bin/release, and static files collected (as the image build does)."""
    environ = {
        "ENV_FILE": "",
        "DATABASE_URL": fresh_database_url(database_name, tmp_path),
        "STATIC_ROOT": str(public_tmp_dir("web-static-") / "static"),
        # Uploaded images land in DATA_DIR/media, which nginx serves.
        "DATA_DIR": str(public_tmp_dir("web-data-")),
    }
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **PRODUCTION_ENV, **environ}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    release = subprocess.run(["bin/release"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert release.returncode == 0, release.stdout + release.stderr
    for app in apps_with_migrations():
        assert f"Applying {app}.0001_initial... OK" in release.stdout, release.stdout
    create_admin(env)
    return environ


def apps_with_migrations():
    """The label of every installed app that has a migration (admin, auth, ..., and the apps
    added to INSTALLED_APPS; not one fresh from startapp, whose migrations/ is empty)."""
    from django.apps import apps

    return [config.label for config in apps.get_app_configs() if any(Path(config.path).glob("migrations/0*.py"))]


def create_admin(env, command=(sys.executable, "manage.py")):
    """The superuser ADMIN_USERNAME in env's database, made as a deploy would make one."""
    subprocess.run(
        [*command, "createsuperuser", "--noinput", "--username", ADMIN_USERNAME, "--email", "admin@example.com"],
        cwd=ROOT,
        env={**env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
        check=True,
        capture_output=True,
        timeout=120,
    )


class Balancer:
    """HAProxy in the load balancer's place, in TCP mode as Convox's is: its HTTPS port ends
    TLS (a self-signed certificate for localhost, in `cafile`) and passes each connection
    to nginx's 4001 behind a PROXY line; its HTTP port passes connections to 4000. With
    `proxied`, a third port takes plain HTTP and adds the PROXY line, for load generators
    that speak neither TLS cheaply nor PROXY protocol."""

    def __init__(self, tmp_path, https_port=None, http_port=None, proxied=False):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.https_port = https_port or free_port()
        self.http_port = http_port or free_port()
        self.proxied_port = free_port() if proxied else None
        proxied_frontend = (
            f"""
frontend proxied
    bind 127.0.0.1:{self.proxied_port}
    default_backend proxy
"""
            if proxied
            else ""
        )
        self.cafile = tmp_path / "cert.pem"
        key = tmp_path / "key.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
                "-keyout",
                key,
                "-out",
                self.cafile,
            ],
            check=True,
            capture_output=True,
        )
        bundle = tmp_path / "bundle.pem"
        bundle.write_bytes(self.cafile.read_bytes() + key.read_bytes())
        config = tmp_path / "haproxy.cfg"
        config.write_text(f"""
global
    maxconn 1024
defaults
    mode tcp
    timeout connect 5s
    timeout client 75s
    timeout server 75s
frontend https
    bind 127.0.0.1:{self.https_port} ssl crt {bundle}
    default_backend proxy
frontend http
    bind 127.0.0.1:{self.http_port}
    default_backend plain
{proxied_frontend}
backend proxy
    server web 127.0.0.1:{PROXY_PORT} send-proxy
backend plain
    server web 127.0.0.1:{HTTP_PORT}
""")
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        wait_until_listening(self.https_port, self.process)

    def https(self, method, path, headers=None, body=None):
        """One request over TLS; returns (status, http.client response, body)."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.cafile))
        connection = http.client.HTTPSConnection("localhost", self.https_port, context=context, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response, response.read()
        finally:
            connection.close()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def csrf_token(page):
    """The CSRF token in a page's form (bytes or str)."""
    import re

    text = page.decode() if isinstance(page, bytes) else page
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)


def login_post(port=PROXY_PORT, proxy_line=PROXY_LINE, password=ADMIN_PASSWORD, headers=(), page_headers=()):
    """The admin login a browser sends after the login page (fetched through the same port, with
    `page_headers`), with the page's CSRF token and cookie. With the right password: a 302 to
    /admin/ and a new row in the sessions table, the project's own write; with another, a 200
    that has looked the user up in the database."""
    from urllib.parse import urlencode

    _, answered, body = raw_request(port, http_request("GET", "/admin/login/", headers=page_headers), proxy_line)
    cookie = answered["set-cookie"][0].split(";")[0]
    fields = {"csrfmiddlewaretoken": csrf_token(body), "username": ADMIN_USERNAME, "password": password}
    return http_request(
        "POST",
        "/admin/login/?next=/admin/",
        body=urlencode(fields).encode(),
        headers=[
            f"Cookie: {cookie}",
            "Content-Type: application/x-www-form-urlencoded",
            "Referer: https://localhost/",
            *headers,
        ],
    )


def session_key(headers):
    """The session key a response set (headers as raw_request returns them), or None."""
    for cookie in headers.get("set-cookie", []):
        if cookie.startswith(f"{SESSION_COOKIE}="):
            return cookie.split(";")[0].split("=", 1)[1]
    return None


def signed_in(port=PROXY_PORT, proxy_line=PROXY_LINE):
    """A `Cookie:` header of an admin signed in through `port`: its pages read the session
    and the user from the database on every request."""
    status, headers, _ = raw_request(port, login_post(port, proxy_line), proxy_line)
    assert status == 302, status
    return f"Cookie: {SESSION_COOKIE}={session_key(headers)}"


def send_in_two_parts(request, results, key, sent_first_part, pause=2, port=PROXY_PORT, proxy_line=PROXY_LINE):
    """Send all but the last bytes of `request`, signal `sent_first_part`, wait `pause`
    seconds, send the rest: a request in flight for that long. Records the status (or the
    exception) in results[key]."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(proxy_line + request[:-10])
            sent_first_part.release()
            time.sleep(pause)
            sock.sendall(request[-10:])
            results[key] = read_response(sock)[0]
    except Exception as exc:  # recorded, then asserted on
        results[key] = exc


class InFlight:
    """Requests (`prepared`: name -> bytes, e.g. login_post()), each stopped half-way
    through its body until the pause is over: start them, stop the server, then `finish()`
    returns each status by name."""

    def __init__(self, prepared, pause=2):
        import threading

        self.names = list(prepared)
        self.results = {}
        sent = threading.Semaphore(0)
        self.threads = [
            threading.Thread(target=send_in_two_parts, args=(data, self.results, name, sent, pause))
            for name, data in prepared.items()
        ]
        for thread in self.threads:
            thread.start()
        for _ in self.names:
            if not sent.acquire(timeout=20):
                raise TimeoutError("the requests did not start")

    def finish(self):
        for thread in self.threads:
            thread.join(timeout=30)
        return self.results


class WebProcess:
    """bin/web (or another web command, e.g. bin/gunicorn) running on this machine, its
    output collected."""

    def __init__(self, environ, run_dir=None, port=HTTP_PORT, quiet=False, command="bin/web", root=ROOT):
        import threading

        self.port = port  # where wait_ready finds /healthz
        run_dir = run_dir or public_tmp_dir("web-run-")
        self.output = []
        env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HOME": str(run_dir),
            **PRODUCTION_ENV,
            "WEB_RUN_DIR": str(run_dir),
            "WEB_CONCURRENCY": "2",
            **environ,
        }
        self.environ = env
        # quiet: the logs go to /dev/null, for benchmarks (reading them costs CPU).
        output = subprocess.DEVNULL if quiet else subprocess.PIPE
        # root: another copy of the project (tests/test_without_exampleapp.py).
        self.process = subprocess.Popen(
            [str(root / command)], cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT, text=True
        )
        self.reader = None
        if not quiet:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def log(self):
        if self.reader and self.process.poll() is not None:
            self.reader.join(timeout=5)  # exited: read to the end of its output first
        return "".join(self.output)

    def wait_for_log(self, text, seconds=5):
        """True once `text` is in the log: a thread reads it, a little after the fact."""
        deadline = time.monotonic() + seconds
        while text not in self.log:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def wait_ready(self, seconds=60):
        try:
            return self._wait_ready(seconds)
        except BaseException:
            self.stop()  # never leave a half-started stack holding the ports
            raise

    def _wait_ready(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bin/web exited with {self.process.returncode}:\n{self.log}")
            try:
                if request(self.port, "/healthz", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"bin/web not healthy after {seconds} s:\n{self.log}")

    def stop(self, timeout=40):
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def ports_free():
    for port in (HTTP_PORT, PROXY_PORT):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise RuntimeError(f"127.0.0.1:{port} is in use; stop whatever listens there (bin/web?)")


class MotoServer:
    """moto in server mode: a local S3 API (in memory) on a free port."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port, self.process)
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
