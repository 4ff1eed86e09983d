"""The example app can be deleted: a copy of the project without exampleapp/, changed as
README's "Removing the example app" says, passes the project's own tests, answers its
probes through bin/web, and builds an image whose probes answer."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.servers import (
    HTTP_PORT,
    PRODUCTION_ENV,
    WebProcess,
    copy_working_tree,
    http_request,
    ports_free,
    public_tmp_dir,
    raw_request,
    require,
)
from tests.test_image import docker_daemon  # noqa: F401  (fixture)

# The copy runs the project's tests but these. This file. tests/test_image.py: its Docker
# builds and containers take minutes; the image check below builds the copy's own image and
# runs it. The Observatory's grade: MDN's grader grades a site's home page and refuses a 404
# (scanner/index.js, scan), and without the example app the project has none until the
# user adds theirs; the headers it grades are checked on the admin's pages (test_security.py).
# tests/test_faults.py (a database container stopped and started, a minute of load) and
# tests/test_web_lifecycle.py (bin/web's processes started, killed and stopped): a minute and
# a half for nothing the app's absence changes; the copy's bin/release and probes are below.
LEFT_OUT = ["--ignore=tests/test_without_exampleapp.py", "--ignore=tests/test_image.py"]
LEFT_OUT += ["--deselect=tests/test_security.py::test_observatory_grades_a_plus", "--ignore=tests/test_faults.py"]
LEFT_OUT += ["--ignore=tests/test_web_lifecycle.py"]


def edit_once(path, old, new):
    """Replace `old` in the file, which must hold it exactly once: if the file changes
    shape, this test (and README's steps) must be looked at again."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name}: expected {old!r} exactly once"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The project as a user has it after removing the example app (README's steps)."""
    copy = copy_working_tree(tmp_path_factory.mktemp("without-app"))
    shutil.rmtree(copy / "exampleapp")
    edit_once(copy / "exampleproject" / "settings.py", '    "exampleapp",\n', "")
    urls = copy / "exampleproject" / "urls.py"
    edit_once(urls, '    path("", include("exampleapp.urls")),\n', "")
    edit_once(urls, "from django.urls import include, path\n", "from django.urls import path\n")
    edit_once(copy / "pytest.ini", "testpaths = tests exampleapp/tests\n", "testpaths = tests\n")
    return copy


def test_the_project_suite_passes_without_the_app(site):
    # A clean environment: the outer run's variables (pytest's own, DATABASE_URL) stay out.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    if "REQUIRE_DOCKER" in os.environ:
        env["REQUIRE_DOCKER"] = os.environ["REQUIRE_DOCKER"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *LEFT_OUT],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "exampleapp" not in result.stdout, "a test still names the example app"


def test_probes_answer_through_bin_web(site, tmp_path):
    require("nginx", "bin/web runs nginx in front of gunicorn (Debian package nginx)")
    environ = {
        "ENV_FILE": "",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "STATIC_ROOT": str(public_tmp_dir("web-static-") / "static"),
        "DATA_DIR": str(public_tmp_dir("web-data-")),
    }
    env = {"PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", **PRODUCTION_ENV, **environ}
    release = subprocess.run(["bin/release"], cwd=site, env=env, capture_output=True, text=True, timeout=120)
    assert release.returncode == 0, release.stdout + release.stderr
    assert "Applying sessions.0001_initial... OK" in release.stdout and "exampleapp" not in release.stdout
    ports_free()
    web = WebProcess(environ, root=site).wait_ready()
    try:
        for path in ("/healthz", "/readyz"):
            status, _, body = raw_request(HTTP_PORT, http_request("GET", path, host="10.0.3.7"))
            assert status == 200, body
    finally:
        assert web.stop() == 0, web.log


def test_the_image_builds_and_its_probes_answer(site, docker_daemon):
    from tests.test_image import docker, run_on_host_network, wait_healthy

    tag = "exampleproject:without-app"
    build = docker("build", "--network", "host", "-q", "-t", tag, str(site), check=False, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    ports_free()
    name = run_on_host_network(tag, PRODUCTION_ENV)
    try:
        wait_healthy(name)  # the image's HEALTHCHECK: /healthz through nginx
        release = docker("exec", name, "bin/release", check=False)
        assert release.returncode == 0, release.stdout + release.stderr
        assert "exampleapp" not in release.stdout
        for path in ("/healthz", "/readyz"):
            status, _, body = raw_request(HTTP_PORT, http_request("GET", path, host="10.1.2.3"))
            assert status == 200, body
        listing = docker("exec", name, "ls", "/app").stdout.split()
        assert "exampleapp" not in listing and "exampleproject" in listing
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", tag, check=False)
