"""The guestbook page renders the same bytes as before its rendering was cached (the reference,
bench/before, served by bench.settings' URLs), for the same data: entries with and without images,
every kind of page, the form blank and with errors, in several time zones. The CSRF token differs
on every request by design, so it is normalised before comparing; nothing else is."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bench.before import BEFORE_PATH
from exampleapp.models import Entry
from tests.test_media import make_image, media_root, moto  # noqa: F401  (fixtures)
from tests.test_settings import PRODUCTION

pytestmark = pytest.mark.django_db

CSRF_INPUT = re.compile(rb'(<input type="hidden" name="csrfmiddlewaretoken" value=")[^"]+(")')


def normalised(body):
    """The page with its CSRF token (a fresh mask on each request) replaced; the token must be there."""
    body, found = CSRF_INPUT.subn(rb"\1CSRF\2", body)
    assert found == 1, body.decode()[:2000]
    return body


@pytest.fixture
def reference(settings):
    """Both the page and the reference are served."""
    from bench import settings as bench_settings

    settings.ROOT_URLCONF = bench_settings.ROOT_URLCONF
    settings.TEMPLATES = bench_settings.TEMPLATES


def assert_same(client, query="", method="get", data=dict):
    """The page and the reference answer alike (each sent `data()`); returns the page."""
    new = getattr(client, method)("/" + query, data())
    old = getattr(client, method)(BEFORE_PATH + query, data())
    assert new.status_code == old.status_code
    assert normalised(new.content) == normalised(old.content)
    return new.content.decode()


def add_entries(count, media_root=None, start=datetime(2026, 3, 28, 22, 5, 9, 123456, tzinfo=UTC)):
    """`count` entries a few hours and days apart (across a DST change, midnights, single-digit
    days), with names and messages that need escaping and line breaks; every third with an image."""
    for number in range(count):
        image = None
        if media_root is not None and number % 3 == 0:
            image = SimpleUploadedFile(f"p{number}.jpg", make_image(size=(40 + number, 30)), content_type="image/jpeg")
        entry = Entry.objects.create(
            name=f"Guest <{number}> & co",
            image=image,
            message=f'Line one of {number}.\nLine two "quoted".\n\nA new paragraph.',
        )
        # created_at is set on insert (auto_now_add): moved afterwards, as fixed data.
        Entry.objects.filter(pk=entry.pk).update(created_at=start + timedelta(hours=17 * number, minutes=number))


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu"])
def test_pages_are_unchanged(client, reference, settings, media_root, time_zone):
    settings.TIME_ZONE = time_zone
    assert "No entries yet" in assert_same(client)
    add_entries(23, media_root)
    for query in ("", "?page=2", "?page=3", "?page=99", "?page=abc", "?page=0", "?page=-2", "?page=2.0"):
        page = assert_same(client, query)
        assert page.count('class="card entry"') == (
            3 if query in ("?page=3", "?page=99", "?page=0", "?page=-2") else 10
        )
    assert 'class="entry-image"' in assert_same(client, "?page=2")


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "message": ""},
        {"name": "n" * 101, "message": "<b>kept</b>"},
        {"name": "Ada", "message": "m" * 1001},
        {"name": "Ada", "message": "hi", "image": b"not an image"},
    ],
)
def test_the_form_with_errors_is_unchanged(client, reference, media_root, data):
    add_entries(3)

    def form():  # a file is read by the request that sends it: a new one for each
        if "image" not in data:
            return data
        return {**data, "image": SimpleUploadedFile("x.jpg", data["image"], content_type="image/jpeg")}

    page = assert_same(client, method="post", data=form)
    assert 'class="errorlist"' in page
    assert not Entry.objects.filter(name__in=["Ada", "n" * 101]).exists()


def test_the_confirmation_is_unchanged(reference):
    """After signing, the page carries a one-time message; the same for both."""
    first, second = (Client(headers={"X-Forwarded-Proto": "https"}) for _ in range(2))
    for browser in (first, second):
        assert browser.post("/", {"name": "Ada", "message": "Twice"}).status_code == 302
    new, old = first.get("/"), second.get(BEFORE_PATH)
    assert b"Thank you for signing, Ada!" in new.content
    assert normalised(new.content) == normalised(old.content)


# --- the cache: used, and never stale ----------------------------------------------------------------


def test_the_entries_are_rendered_once_then_reused(client, reference):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    add_entries(12)
    pages = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            pages.append(normalised(client.get("/").content))
        pages[-1] = (pages[-1], len(queries))
    (first, first_queries), (second, second_queries) = pages
    assert first == second
    # A hit: one query (the page's columns and the count beside them); no objects built.
    assert second_queries == first_queries - 1 == 1


def test_every_change_shows_at_once(client, reference, media_root, django_capture_on_commit_callbacks):
    """Inserted, edited (by the admin's save and by a bare UPDATE, which sends no signal),
    deleted, its image replaced or removed: each shows at the next request, on both pages."""
    from django.core.files.base import ContentFile

    add_entries(12, media_root)

    def both_pages():
        return assert_same(client), assert_same(client, "?page=2")

    both_pages()  # cached
    visitor = Client(headers={"X-Forwarded-Proto": "https"})  # its confirmation is not on client's pages
    assert visitor.post("/", {"name": "Newcomer", "message": "Inserted"}).status_code == 302
    first, second = both_pages()
    assert "Newcomer" in first and "Guest &lt;2&gt; &amp; co" in second  # the last of page 1 moved on

    entry = Entry.objects.get(name="Guest <11> & co")
    entry.message = "Edited in the admin"
    entry.save()
    assert "Edited in the admin" in both_pages()[0]
    Entry.objects.filter(pk=entry.pk).update(name="Renamed by SQL")
    assert "Renamed by SQL" in both_pages()[0]

    with django_capture_on_commit_callbacks(execute=True):
        Entry.objects.get(name="Newcomer").delete()
    first, second = both_pages()
    assert "Newcomer" not in first and "Guest &lt;2&gt; &amp; co" in first

    entry = Entry.objects.get(name="Guest <9> & co")
    old_src = f'src="/media/{entry.image.name}"'
    assert old_src in both_pages()[0]
    with django_capture_on_commit_callbacks(execute=True):
        entry.image.save("new.jpg", ContentFile(make_image(size=(33, 22))))
    first = both_pages()[0]
    assert old_src not in first and f'src="/media/{entry.image.name}" width="33" height="22"' in first
    with django_capture_on_commit_callbacks(execute=True):
        entry.image = None
        entry.save()
    assert first.count('class="entry-image"') - 1 == both_pages()[0].count('class="entry-image"')


def test_a_setting_changed_is_a_new_rendering(client, reference, settings):
    """Settings change only in tests, but then nothing rendered under the old ones is served."""
    add_entries(2)
    assert "up to 5 MB." in assert_same(client)
    settings.IMAGE_UPLOAD_MAX_BYTES = 2 * 1024 * 1024
    settings.TIME_ZONE = "Asia/Kathmandu"
    page = assert_same(client)
    assert "up to 2 MB." in page and "+05:45" in page


@pytest.mark.parametrize("language", ["en-us", "fr", "de", "ja"])
def test_the_date_filters_write_what_date_writes(settings, language):
    from django.template import Context, Template
    from django.utils import translation

    template = Template(
        "{% load guestbook %}{% for d in dates %}{{ d|date:'c' }}|{{ d|iso_datetime }}|"
        "{{ d|date:'j M Y, H:i' }}|{{ d|day_month_year_time }}\n{% endfor %}"
    )
    start = datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    dates = [start + timedelta(days=37 * n, hours=n, minutes=7 * n, microseconds=-n) for n in range(60)]
    for time_zone in ("UTC", "Europe/Paris", "America/St_Johns", "Pacific/Chatham"):
        settings.TIME_ZONE = time_zone
        with translation.override(language):
            for line in template.render(Context({"dates": dates})).splitlines():
                iso, fast_iso, text, fast_text = line.split("|")
                assert (fast_iso, fast_text) == (iso, text)


# --- images on S3: signed links reused, and working ---------------------------------------------------


def test_signed_links_are_reused_and_work(client, reference, settings, moto, load_settings):
    import time
    import urllib.request

    from exampleapp.tests.guestbook import image_src
    from exampleapp.views import ENTRIES_SECONDS
    from exampleproject.parse import SIGNED_URL_SECONDS
    from exampleproject.storage import SIGNED_URL_REUSE_SECONDS

    url = f"s3://testing:testing@guestbook/media?endpoint={moto.endpoint}&region=us-east-1"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": load_settings(STORAGE_URL=url, **PRODUCTION)["STORAGES"]["default"],
    }
    visitor = Client(headers={"X-Forwarded-Proto": "https"})
    image = SimpleUploadedFile("p.jpg", make_image(size=(64, 48)), content_type="image/jpeg")
    assert visitor.post("/", {"name": "Ada", "message": "On S3", "image": image}).status_code == 302
    first = client.get("/").content
    time.sleep(1.1)  # a link signed now would carry another X-Amz-Date
    assert visitor.post("/", {"name": "Grace", "message": "No image"}).status_code == 302
    second = client.get("/").content  # the entries rendered anew (a new row), the link reused
    assert b"Grace" in second and image_src(second) == image_src(first)
    assert "X-Amz-Expires=3600&" in image_src(second)
    with urllib.request.urlopen(image_src(second), timeout=10) as response:
        assert response.status == 200 and response.read()[:2] == b"\xff\xd8"  # the JPEG
    # The same page as the reference (whose links come from the same storage).
    assert normalised(client.get(BEFORE_PATH).content) == normalised(second)
    # A link shown by a cached page still has half an hour to load the image in.
    assert SIGNED_URL_REUSE_SECONDS + ENTRIES_SECONDS <= SIGNED_URL_SECONDS - 30 * 60


# --- across processes: two gunicorn workers, each with its own cache ----------------------------------


def from_both_workers(port):
    """The page from each of gunicorn's two (sync) workers: the first request is held half-sent,
    so that its worker waits on it while the other worker answers the second."""
    import socket
    import time

    from tests.servers import raw_request, read_response

    head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
        held.sendall(head)
        time.sleep(0.5)  # accepted by one worker, which now waits for the rest
        status, _, second = raw_request(port, head + b"\r\n")
        held.sendall(b"\r\n")
        first_status, _, first = read_response(held)
    assert status == first_status == 200
    return first.decode(), second.decode()


def in_the_database(environ, code):
    """Run `code` with the app's models, in a process of its own, against the server's database."""
    import os
    import subprocess
    import sys

    from tests.servers import PRODUCTION_ENV, ROOT

    subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", "from exampleapp.models import Entry\n" + code],
        cwd=ROOT,
        env={**os.environ, **PRODUCTION_ENV, **environ},
        check=True,
        timeout=60,
    )


@pytest.mark.slow  # two gunicorn processes
@pytest.mark.django_db(transaction=False)
def test_two_worker_processes_see_every_change(tmp_path):
    from tests.servers import gunicorn, prepare_web_env

    environ = prepare_web_env("exampleproject_cache", tmp_path)
    in_the_database(environ, "for n in range(12): Entry.objects.create(name=f'guest {n}', message='hi')")
    with gunicorn(environ, workers=2) as port:
        for page in from_both_workers(port):  # both render, and cache, the entries
            assert "guest 11" in page and "guest 1<" not in page
        for code, shown, gone in [
            ("Entry.objects.create(name='newcomer', message='inserted')", "newcomer", "guest 2<"),
            ("Entry.objects.filter(name='guest 11').update(message='edited elsewhere')", "edited elsewhere", None),
            ("Entry.objects.get(name='newcomer').delete()", "guest 2<", "newcomer"),
        ]:
            in_the_database(environ, code)
            for page in from_both_workers(port):
                assert shown in page and (gone is None or gone not in page)
