"""Start real servers for tests and talk HTTP to them, on 127.0.0.1 only."""

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "ENV_FILE": "",
    "SECRET_KEY": "test-suite-only-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, path, method="GET", headers=None, body=None, timeout=10):
    """One HTTP request to 127.0.0.1:port; returns (status, headers dict, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


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
        [sys.executable, "-m", "gunicorn", "exampleproject.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_until_listening(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
