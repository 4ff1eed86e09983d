"""The guestbook page renders the same bytes as before its rendering was cached (the reference,
bench/before, served by bench.settings' URLs), for the same data: entries with and without images,
every kind of page, the form blank and with errors, in several time zones. The CSRF token differs
on every request by design, so it is normalised before comparing; nothing else is."""

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bench.before import BEFORE_PATH
from exampleapp.models import Entry
from tests.test_media import make_image, media_root  # noqa: F401  (a fixture)

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


def add_entries(count, media_root=None, start=datetime(2026, 3, 28, 22, 5, 9, 123456, tzinfo=dt_timezone.utc)):
    """`count` entries a few hours and days apart (across a DST change, midnights, single-digit
    days), with names and messages that need escaping and line breaks; every third with an image."""
    for number in range(count):
        image = None
        if media_root is not None and number % 3 == 0:
            image = SimpleUploadedFile(f"p{number}.jpg", make_image(size=(40 + number, 30)), content_type="image/jpeg")
        entry = Entry.objects.create(name=f"Guest <{number}> & co", image=image,
                                     message=f"Line one of {number}.\nLine two \"quoted\".\n\nA new paragraph.")
        # created_at is set on insert (auto_now_add): moved afterwards, as fixed data.
        Entry.objects.filter(pk=entry.pk).update(created_at=start + timedelta(hours=17 * number, minutes=number))


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu"])
def test_pages_are_unchanged(client, reference, settings, media_root, time_zone):
    settings.TIME_ZONE = time_zone
    assert "No entries yet" in assert_same(client)
    add_entries(23, media_root)
    for query in ("", "?page=2", "?page=3", "?page=99", "?page=abc"):
        page = assert_same(client, query)
        assert page.count('class="card entry"') == (3 if query in ("?page=3", "?page=99") else 10)
    assert 'class="entry-image"' in assert_same(client, "?page=2")


@pytest.mark.parametrize("data", [
    {"name": "", "message": ""},
    {"name": "n" * 101, "message": "<b>kept</b>"},
    {"name": "Ada", "message": "m" * 1001},
    {"name": "Ada", "message": "hi", "image": b"not an image"},
])
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
