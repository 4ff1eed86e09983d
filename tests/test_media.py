"""Uploaded files (media): the local filesystem served at /media/ (by Django when nothing is in
front; nginx's side is in tests/test_web.py), STORAGE_URL, and S3 through django-storages
against moto's S3 server, started on 127.0.0.1 by the test. What an app stores there, and how,
is the app's (the example app's: exampleapp/tests/test_uploads.py)."""

import contextlib
import io
import json
import time
import urllib.request

import pytest
from PIL import Image

from tests.servers import MotoServer, gunicorn, readiness_until, request
from tests.test_settings import PRODUCTION, configuration_error

# --- images for the tests ----------------------------------------------------------------------


def make_image(fmt="JPEG", size=(640, 480), mode="RGB", gps=False, orientation=None, **save):
    """An image file's bytes: a gradient (so that scaling and re-encoding are visible), with
    a photo's EXIF (a GPS position, a camera, the orientation) when asked."""
    image = Image.linear_gradient("L").resize(size).convert(mode)
    exif = Image.Exif()
    if gps:
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}  # GPSInfo
    if orientation:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif, **save)
    return buffer.getvalue()


def opened(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def media_root(settings, tmp_path):
    """The default storage on the local filesystem, in a temporary directory."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    settings.IMAGE_DECODE_LOCK = str(tmp_path / "image-decode.lock")  # not the shared WEB_RUN_DIR's
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    yield root


pytestmark = pytest.mark.django_db


def test_a_stored_file_is_served_at_media_without_nginx(client, media_root):
    (media_root / "entries").mkdir(parents=True)
    (media_root / "entries" / "0123abcd.jpg").write_bytes(make_image())
    response = client.get("/media/entries/0123abcd.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert opened(b"".join(response.streaming_content)).size == (640, 480)
    outside = client.get("/media/../manage.py")
    assert outside.status_code in (400, 404) and b"django" not in outside.content
    assert client.get("/media/entries/missing.jpg").status_code == 404


# --- settings: STORAGE_URL --------------------------------------------------------------------------


def test_storage_defaults_to_the_data_directory(load_settings, tmp_path):
    s = load_settings(**PRODUCTION)
    assert s["STORAGES"]["default"] == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "data" / "media")},
    }
    assert s["MEDIA_ROOT"] == tmp_path / "data" / "media" and s["MEDIA_URL"] == "/media/"
    assert s["SECURE_CSP"]["img-src"] == ["'self'", "data:"]


def test_file_url_moves_the_media_directory(load_settings):
    s = load_settings(STORAGE_URL="file:///srv/guestbook%20media", **PRODUCTION)
    assert s["STORAGES"]["default"]["OPTIONS"] == {"location": "/srv/guestbook media"}
    assert str(s["MEDIA_ROOT"]) == "/srv/guestbook media"


S3_CASES = [
    # (STORAGE_URL, options expected, the origin images load from)
    (
        "s3://AKIAEXAMPLE:se%2Fcr%2Bet@guestbook-media?region=eu-west-1",
        {
            "bucket_name": "guestbook-media",
            "access_key": "AKIAEXAMPLE",
            "secret_key": "se/cr+et",
            "region_name": "eu-west-1",
            "endpoint_url": None,
            "location": "",
            "querystring_auth": True,
        },
        "https://guestbook-media.s3.eu-west-1.amazonaws.com",
    ),
    (
        "s3://guestbook-media/uploads/prod",
        {
            "bucket_name": "guestbook-media",
            "access_key": None,
            "secret_key": None,
            "region_name": None,
            "location": "uploads/prod",
        },
        "https://guestbook-media.s3.amazonaws.com",
    ),
    (
        "s3://key:secret@media?endpoint=https://acct.r2.cloudflarestorage.com&region=auto",
        {"bucket_name": "media", "endpoint_url": "https://acct.r2.cloudflarestorage.com", "region_name": "auto"},
        "https://acct.r2.cloudflarestorage.com",
    ),
    (
        "s3://key:secret@media?region=us-east-1&custom_domain=media.example.com",
        {"custom_domain": "media.example.com", "querystring_auth": False},
        "https://media.example.com",
    ),
]


@pytest.mark.parametrize("url, expected, origin", S3_CASES)
def test_s3_urls(load_settings, url, expected, origin):
    from exampleproject.storage import S3Storage

    s = load_settings(STORAGE_URL=url, **PRODUCTION)
    storage = s["STORAGES"]["default"]
    assert storage["BACKEND"] == "exampleproject.storage.S3Storage"
    assert {k: storage["OPTIONS"][k] for k in expected} == expected
    assert storage["OPTIONS"]["default_acl"] is None
    assert s["MEDIA_ORIGIN"] == origin
    assert s["SECURE_CSP"]["img-src"] == ["'self'", "data:", origin]
    # The origin allowed is the one the storage's own URLs use.
    with_defaults = {"access_key": "AKIAEXAMPLE", "secret_key": "example", **storage["OPTIONS"]}
    if not with_defaults["access_key"]:
        with_defaults.update(access_key="AKIAEXAMPLE", secret_key="example")
    url_of_a_file = S3Storage(**with_defaults).url("entries/0123.jpg")
    assert url_of_a_file.startswith(origin + "/")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("ftp://files.example.com/media", "STORAGE_URL: expected s3://key:secret@bucket?region=... or file:///path"),
        ("file://relative/path", "STORAGE_URL: a file:// URL needs an absolute path"),
        ("s3://key:hunter2@?region=eu-west-1", "STORAGE_URL: names no bucket"),
        ("s3://key:hunter2@bucket?regoin=eu-west-1", "STORAGE_URL: unknown option regoin; the options are"),
        ("s3://key@bucket", "STORAGE_URL: give both the access key and the secret"),
        ("s3://key:hunter2@bucket?endpoint=minio:9000", "STORAGE_URL: endpoint is not a URL"),
        (
            "s3://key:hunter2@bucket?custom_domain=https://cdn.example.com",
            "STORAGE_URL: custom_domain 'https://cdn.example.com' is not a host name",
        ),
    ],
)
def test_bad_storage_urls_named(load_settings, value, expected):
    message = configuration_error(load_settings, **{**PRODUCTION, "STORAGE_URL": value})
    assert expected in message
    assert "hunter2" not in message


# --- S3, for real: moto's S3 server on 127.0.0.1 ------------------------------------------------------


@pytest.fixture
def moto():
    server = MotoServer().start()
    server.client().create_bucket(Bucket="guestbook")
    yield server
    server.stop()


def readiness(port):
    status, _, body = request(port, "/readyz")
    return status, json.loads(body)


def test_s3_signed_links_are_reused_and_work(settings, moto, load_settings):
    """exampleproject.storage.S3Storage: a file saved through the default storage lands in the
    bucket under the prefix; its signed link is reused (not signed anew a second later), it
    loads, and the object is private without the signature."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from exampleproject.parse import SIGNED_URL_SECONDS
    from exampleproject.storage import SIGNED_URL_REUSE_SECONDS

    url = f"s3://testing:testing@guestbook/media?endpoint={moto.endpoint}&region=us-east-1"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": load_settings(STORAGE_URL=url, **PRODUCTION)["STORAGES"]["default"],
    }
    name = default_storage.save("entries/0123abcd.jpg", ContentFile(make_image(size=(64, 48))))
    (key,) = [o["Key"] for o in moto.client().list_objects_v2(Bucket="guestbook")["Contents"]]
    assert key == f"media/{name}"
    first = default_storage.url(name)
    time.sleep(1.1)  # a link signed now would carry another X-Amz-Date
    assert default_storage.url(name) == first
    assert first.startswith(f"{moto.endpoint}/guestbook/{key}?") and "X-Amz-Expires=3600&" in first
    with urllib.request.urlopen(first, timeout=10) as response:
        assert response.status == 200 and opened(response.read()).size == (64, 48)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(first.split("?")[0], timeout=10)
    assert refused.value.code == 403
    # A reused link still has at least half an hour left.
    assert SIGNED_URL_REUSE_SECONDS <= SIGNED_URL_SECONDS - 30 * 60


@contextlib.contextmanager
def s3_outage(media_env):
    """gunicorn on S3 (moto) that goes away: yields (port, back) once readiness has named
    `storage`; back() brings S3 back and waits for readiness."""
    server = MotoServer().start()
    server.client().create_bucket(Bucket="guestbook")
    url = f"s3://testing:testing@guestbook?endpoint={server.endpoint}&region=us-east-1"

    def back():
        server.start()  # moto keeps nothing: the bucket is made again
        server.client().create_bucket(Bucket="guestbook")
        assert readiness_until(port, 200)[0] == 200

    try:
        with gunicorn({**media_env, "STORAGE_URL": url}) as port:
            assert readiness(port)[0] == 200
            server.stop()
            started = time.monotonic()
            status, _, body = readiness_until(port, 503)
            assert status == 503 and json.loads(body)["failed"] == ["storage"], body
            assert time.monotonic() - started < 10  # the answer each worker reuses, then a 1 s check
            yield port, back
    finally:
        if server.process.poll() is None:
            server.stop()


def test_s3_stopping_and_returning(media_env):
    """S3 unreachable: readiness names `storage` within the storage's timeouts, pages that
    store nothing still render; S3 back: ready again, without a restart."""
    with s3_outage(media_env) as (port, back):
        assert request(port, "/admin/login/", headers={"X-Forwarded-Proto": "https"})[0] == 200
        back()


def test_storage_is_not_checked_when_local(media_env):
    with gunicorn(media_env) as port:
        status, body = readiness(port)
        assert status == 200 and set(body["checks"]) == {"database"}
