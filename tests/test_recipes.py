"""README, followed as written on a copy of the project: Set-up's bin/dev, then each recipe
("Renaming the project", "Adding your app", "Removing the example app"), its sh blocks run by
bash as a user pastes them, then the result checked. README and behaviour cannot drift apart.
The recipes start from the template as cloned: in a project past that point they skip."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.servers import (
    HTTP_PORT,
    PRODUCTION_ENV,
    ROOT,
    WebProcess,
    copy_working_tree,
    free_port,
    http_request,
    ports_free,
    public_tmp_dir,
    raw_request,
    require,
)
from tests.test_image import docker_daemon  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

APP = "exampleapp"  # bin/rename rewrites this, and README, alike


def recipe(title):
    """The sh blocks of README's section `title`, in order, as one script."""
    text = (ROOT / "README.md").read_text()
    section = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, f"README.md has no section {title!r}"
    blocks = re.findall(r"^```sh\n(.*?)^```$", section.group(1), re.MULTILINE | re.DOTALL)
    assert blocks, f"README.md's {title!r} has no sh block"
    return "\n".join(blocks)


def user_env(**extra):
    """A user's shell: none of this run's variables (pytest's, DATABASE_URL), but Docker's."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **extra}
    env.update({k: v for k, v in os.environ.items() if k.startswith("DOCKER_") or k == "REQUIRE_DOCKER"})
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = "Test User", "test@example.com"
    return env


def run(script, cwd, timeout=600):
    """bash -e: the first command that fails stops the recipe, as it would stop a user."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def passed(result):
    """The inner bin/test's summary line, which must say passed and nothing failed."""
    summary = [line for line in result.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    assert result.returncode == 0 and summary, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary[-1] and "failed" not in summary[-1] and "error" not in summary[-1], summary[-1]
    return summary[-1]


def fresh_clone(destination):
    """A fresh clone, as far as the recipes can tell: the working tree, committed, with this
    run's virtualenv as its .venv (bin/venv finds everything installed: no download)."""
    if not (ROOT / APP).is_dir():
        pytest.skip(f"README's recipes start from the template as cloned; this project has removed {APP}/")
    if sys.prefix == sys.base_prefix:
        pytest.skip("the recipes reuse the suite's virtualenv: run them with bin/test")
    copy = copy_working_tree(destination)
    (copy / ".venv").symlink_to(sys.prefix)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "The template"]):
        subprocess.run(["git", *args], cwd=copy, check=True, env=user_env(), capture_output=True)
    return copy


def wait_for(url, process, seconds):
    """The body `url` answers with once it answers 200, while `process` runs."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise AssertionError(f"{url} never answered:\n{process.stdout.read()}") from None
            time.sleep(0.5)


def stop(process):
    """Ctrl-C, as a user stops bin/dev; returns what it printed."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        return process.communicate(timeout=10)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate()[0]


def bin_dev(clone):
    """Set-up's `bin/dev`, on a free port, answering; returns the process and its port."""
    port = free_port()
    dev = subprocess.Popen(
        ["bin/dev", f"127.0.0.1:{port}"],
        cwd=clone,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    wait_for(f"http://127.0.0.1:{port}/", dev, 120)
    return dev, port


@pytest.fixture
def clone(tmp_path):
    return fresh_clone(tmp_path / "site")


@pytest.fixture
def developed(clone):
    """The clone while Set-up's `bin/dev` serves it."""
    dev, port = bin_dev(clone)
    try:
        yield clone, port, dev
    finally:
        stop(dev)


def test_bin_dev_makes_env_and_manage_py_reads_it(developed):
    clone, port, dev = developed
    assert (clone / ".env").read_text() == (clone / ".env.example").read_text()
    # Management commands work beside bin/dev, with no variable but those in .env.
    check = run(".venv/bin/python manage.py check", clone)
    assert check.returncode == 0 and "no issues" in check.stdout, check.stdout + check.stderr
    assert "created .env from .env.example" in stop(dev)


def test_debug_reports_what_the_policy_would_block(developed):
    """Under DEBUG, Django's own pages (inline script and style) work: the policy is sent as
    report-only, and what a browser reports is logged on one line, escaped."""
    clone, port, dev = developed
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)
    assert missing.value.code == 404 and "Page not found" in missing.value.read().decode()
    headers = missing.value.headers
    assert "Content-Security-Policy" not in headers
    policy = headers["Content-Security-Policy-Report-Only"]
    assert "script-src 'self'" in policy and "report-uri /__csp-report__" in policy

    report = (
        b'{"csp-report": {"document-uri": "http://127.0.0.1/x\\nFORGED line", "line-number": 7,'
        b' "effective-directive": "script-src-elem", "blocked-uri": "inline"}}'
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/__csp-report__", data=report, headers={"Content-Type": "application/csp-report"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204
    bad = urllib.request.Request(f"http://127.0.0.1:{port}/__csp-report__", data=b"not json")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=5)
    assert refused.value.code == 400

    output = stop(dev)
    line = next(line for line in output.splitlines() if "production would block" in line)
    assert "'inline' (script-src-elem)" in line and "\\nFORGED line" in line
    assert not any(line.startswith("FORGED") for line in output.splitlines())


def test_renaming(clone):
    result = run(recipe("Renaming the project"), clone)
    if result.returncode and "already renamed" in result.stderr:
        pytest.skip("this project is renamed already: README's renaming recipe is for the template")
    passed(result)
    assert (clone / "shop" / "settings.py").is_file()
    assert (clone / "catalog" / "templates" / "catalog" / "index.html").is_file()
    assert (clone / "catalog" / "static" / "catalog" / "style.css").is_file()
    # bin/rename keeps the placeholders it looks for: its second run refuses.
    placeholders = "example" + "project", "example" + "app"
    grep = ["git", "grep", "-l", "-i", *(f"-e{name}" for name in placeholders), "--", ".", ":!bin/rename"]
    assert subprocess.run(grep, cwd=clone, capture_output=True, text=True).stdout == ""
    assert "Rename to shop and catalog" in run("git log -1 --format=%s", clone).stdout

    for again in ("bin/rename shop catalog", "bin/rename blog posts"):
        second = run(again, clone)
        assert second.returncode == 1 and "already renamed; nothing changed" in second.stderr, second.stderr
        assert run("git status --porcelain", clone).stdout == ""


@pytest.mark.parametrize("project, app", [("my_site", "posts")])
def test_renaming_with_other_names(clone, project, app):
    """Names with an underscore, and a project whose name is not a word the files hold."""
    script = recipe("Renaming the project").replace("shop", project).replace("catalog", app)
    result = run(script.replace("bin/test --quick", f"bin/test --quick -q tests/test_settings.py {app}"), clone)
    if result.returncode and "already renamed" in result.stderr:
        pytest.skip("this project is renamed already: README's renaming recipe is for the template")
    passed(result)
    assert (clone / app / "apps.py").read_text().count("class PostsConfig") == 1
    assert run("bin/rename shop catalog", clone).returncode == 1


def test_adding_an_app_then_removing_the_example(developed):
    clone, port, dev = developed
    if (ROOT / "blog").exists():
        pytest.skip("this project has a blog/ already: README's recipe adds one")
    added = run(recipe("Adding your app"), clone)
    passed(added)
    assert "blog/tests.py::test_index" in run(".venv/bin/python -m pytest --collect-only -q blog", clone).stdout
    # runserver reloads on the change and serves the new view.
    assert wait_for(f"http://127.0.0.1:{port}/blog/", dev, 30) == b"Hello from the blog."

    removed = run(recipe("Removing the example app"), clone)
    passed(removed)
    assert not (clone / APP).exists()
    urls = (clone / "exampleproject" / "urls.py").read_text()
    assert 'include("blog.urls")' in urls and "import include, path" in urls  # blog still needs include


@pytest.fixture(scope="module")
def without_example(tmp_path_factory):
    """The clone after Set-up's bin/dev, an upload, then "Removing the example app"."""
    copy = fresh_clone(tmp_path_factory.mktemp("without-app"))
    stop(bin_dev(copy)[0])
    (copy / "data" / "media" / "entries").mkdir(parents=True)
    (copy / "data" / "media" / "entries" / "a.jpg").write_bytes(b"an upload")
    return copy, run(recipe("Removing the example app"), copy)


def test_removing_the_example_app(without_example):
    copy, result = without_example
    passed(result)
    assert "Unapply all migrations: " + APP in result.stdout
    assert not (copy / APP).exists() and not (copy / "data" / "media" / "entries").exists()
    assert "from django.urls import path\n" in (copy / "exampleproject" / "urls.py").read_text()
    assert APP not in run("git grep -l -e " + APP + " -- '*.py' pytest.ini", copy).stdout


def test_probes_answer_through_bin_web(without_example, tmp_path):
    copy, _ = without_example
    require("nginx", "bin/web runs nginx in front of gunicorn (Debian package nginx)")
    environ = {
        "ENV_FILE": "",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "STATIC_ROOT": str(public_tmp_dir("web-static-") / "static"),
        "DATA_DIR": str(public_tmp_dir("web-data-")),
    }
    env = {"PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", **PRODUCTION_ENV, **environ}
    release = subprocess.run(["bin/release"], cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    assert release.returncode == 0, release.stdout + release.stderr
    assert "Applying sessions.0001_initial... OK" in release.stdout and APP not in release.stdout
    ports_free()
    web = WebProcess(environ, root=copy).wait_ready()
    try:
        for path in ("/healthz", "/readyz"):
            status, _, body = raw_request(HTTP_PORT, http_request("GET", path, host="10.0.3.7"))
            assert status == 200, body
    finally:
        assert web.stop() == 0, web.log


def test_the_image_builds_and_its_probes_answer(without_example, docker_daemon):  # noqa: F811
    from tests.test_image import docker, run_on_host_network, wait_healthy

    copy, _ = without_example
    tag = "exampleproject:without-app"
    build = docker("build", "--network", "host", "-q", "-t", tag, str(copy), check=False, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    ports_free()
    name = run_on_host_network(tag, PRODUCTION_ENV)
    try:
        wait_healthy(name)  # the image's HEALTHCHECK: /healthz through nginx
        release = docker("exec", name, "bin/release", check=False)
        assert release.returncode == 0, release.stdout + release.stderr
        assert APP not in release.stdout
        for path in ("/healthz", "/readyz"):
            status, _, body = raw_request(HTTP_PORT, http_request("GET", path, host="10.1.2.3"))
            assert status == 200, body
        listing = docker("exec", name, "ls", "/app").stdout.split()
        assert APP not in listing and "exampleproject" in listing
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", tag, check=False)
