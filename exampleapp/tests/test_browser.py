"""A real browser through a real balancer: headless Chromium (Debian's, driven by
Playwright) against bin/web behind HAProxy, which ends TLS and sends PROXY protocol to
4001 as the Convox balancer does. Any console error or Content-Security-Policy violation
fails the test. Screenshots go to $SCREENSHOTS_DIR (default .pytest_cache/screenshots);
the README shows copies in docs/screenshots/.
"""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.servers import PRODUCTION_ENV, ROOT, Balancer, WebProcess, ports_free, require, unavailable

# $CHROMIUM, or the first of these on PATH (Debian's, Ubuntu's, Google's), or macOS's Chrome.
CHROMIUMS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
MACOS_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
# Quiet, hermetic Chromium: none of the background calls a closed network would refuse
# (and no sandbox as root, which Chromium refuses to run under).
CHROMIUM_ARGS = [
    *(["--no-sandbox"] if os.geteuid() == 0 else []),
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def site(web_env, tmp_path_factory):
    chromium = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUMS)), None)
    if not chromium and Path(MACOS_CHROME).exists():
        chromium = MACOS_CHROME
    if not chromium:
        unavailable(f"no Chromium or Chrome ({', '.join(CHROMIUMS)} on PATH, or $CHROMIUM; Debian package chromium)")
    require("haproxy", "the browser reaches the app through HAProxy (Debian package haproxy)")
    username, password = f"admin-{uuid.uuid4().hex[:6]}", "a-long-admin-password-for-the-browser"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        **PRODUCTION_ENV,
        **web_env,
        "DJANGO_SUPERUSER_PASSWORD": password,
    }
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            username,
            "--email",
            "admin@example.com",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    ports_free()
    web = WebProcess(web_env).wait_ready()
    try:
        balancer = Balancer(tmp_path_factory.mktemp("browser"))
        try:
            yield f"https://localhost:{balancer.https_port}", username, password, chromium
        finally:
            balancer.stop()
    finally:
        assert web.stop() == 0


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=site[3], args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser profile; every console error (CSP violations are reported there)
    and every uncaught page error is collected and must stay empty."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1000, "height": 900})
    page = context.new_page()
    problems = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}") if message.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda response: problems.append(f"HTTP {response.status}: {response.url}") if response.status >= 400 else None,
    )
    yield page
    context.close()
    assert problems == []


def screenshot(page, name):
    directory = Path(os.environ.get("SCREENSHOTS_DIR", ROOT / ".pytest_cache" / "screenshots"))
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def test_sign_the_guestbook(site, page):
    from tests.test_media import make_image

    url, _, _, _ = site
    page.goto(url + "/")
    assert page.title() == "Guestbook"
    page.fill("#id_name", "Grace Hopper")
    page.fill("#id_message", "Signed from a real browser, over TLS, through the balancer.")
    page.set_input_files(
        "#id_image",
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": make_image(size=(1200, 500), quality=90)}],
    )
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    assert page.inner_text(".messages") == "Thank you for signing, Grace Hopper!"
    assert page.locator(".entry-name", has_text="Grace Hopper").count() == 1
    # The attached image loads from /media/ (nginx) and the CSP lets it: decoded, full size.
    image = page.locator(".entry-image").first
    image.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.entry-image').complete")
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [1200, 500]
    # The stylesheet applied: the header is the site's green, not the browser default.
    assert page.eval_on_selector(".site-header", "e => getComputedStyle(e).backgroundColor") == "rgb(12, 75, 51)"
    screenshot(page, "guestbook")


def test_validation_errors_shown(site, page):
    url, _, _, _ = site
    page.goto(url + "/")
    page.fill("#id_name", "")
    page.fill("#id_message", "A message without a name.")
    page.click("button[type=submit]")
    assert page.inner_text("#id_name_errors") == "Please enter your name."
    assert page.input_value("#id_message") == "A message without a name."
    screenshot(page, "validation-error")


def test_admin_login_and_entries(site, page):
    url, username, password, _ = site
    page.goto(url + "/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(url + "/admin/")
    assert "Site administration" in page.inner_text("h1")
    page.goto(url + "/admin/exampleapp/entry/")
    assert page.locator("#result_list").count() == 1
    page.goto(url + "/admin/exampleapp/entry/add/")
    page.fill("#id_name", "From the admin")
    page.fill("#id_message", "Added through the admin's form.")
    page.click("input[name=_save]")
    page.wait_for_url(url + "/admin/exampleapp/entry/")
    assert "was added successfully" in page.inner_text(".messagelist")
    screenshot(page, "admin")
