"""Image attachments: what the guestbook's form (and the admin) accepts and stores, on the
local filesystem and on S3 (moto's S3 server, started on 127.0.0.1 by the test), and what a
visitor gets when the storage fails. The storage itself is the project's: tests/test_media.py."""

import io
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image, ImageChops

from exampleapp.models import Entry
from exampleapp.tests.guestbook import COSTLIEST, MARKER, costliest, image_src, megapixels_allowed, with_metadata
from tests.servers import csrf_token, gunicorn, multipart, request, require
from tests.test_media import make_image, media_root, moto, opened, readiness, s3_outage  # noqa: F401  (fixtures)


def sign_with(client, data, name="photo.jpg", content_type="image/jpeg", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(name, data, content_type=content_type)
    return client.post("/", {"name": "Ada", "message": "With a picture", "image": upload, **fields})


def stored_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- the form: what is accepted, and what is stored ----------------------------------------------

pytestmark = pytest.mark.django_db


def test_a_photo_is_stored_turned_scaled_and_without_metadata(client, media_root):
    # A 3000x2000 phone photo taken upright (EXIF orientation 6: turn 90 degrees clockwise).
    photo = make_image(size=(3000, 2000), gps=True, orientation=6, quality=95)
    response = sign_with(client, photo)
    assert response.status_code == 302, response.content.decode()[:2000]

    entry = Entry.objects.get()
    assert re.fullmatch(r"entries/[0-9a-f]{32}\.jpg", entry.image.name)
    (path,) = stored_files(media_root)
    stored = opened(path.read_bytes())
    assert stored.format == "JPEG"
    assert stored.size == (1365, 2048) == (entry.image_width, entry.image_height)  # upright, longest side 2048
    assert not stored.getexif(), "EXIF (GPS position, camera) must not be stored"
    assert "exif" not in stored.info and "xmp" not in stored.info
    assert path.stat().st_size < len(photo) / 2

    page = client.get("/").content.decode()
    assert (
        f'<img class="entry-image" src="/media/{entry.image.name}" width="1365" height="2048" '
        'alt="Image attached by Ada"'
    ) in page


@pytest.mark.parametrize(
    "fmt, mode, name, content_type",
    [
        ("JPEG", "RGB", "a.jpg", "image/jpeg"),
        ("JPEG", "L", "a.jpg", "image/jpeg"),
        ("PNG", "RGB", "a.png", "image/png"),
        ("PNG", "RGBA", "a.png", "image/png"),
        ("WEBP", "RGB", "a.webp", "image/webp"),
        ("WEBP", "RGBA", "a.webp", "image/webp"),
    ],
)
def test_only_image_data_is_stored(client, media_root, fmt, mode, name, content_type):
    """Whatever metadata an upload carries (comments, text chunks, XMP, EXIF, an ICC profile),
    the stored file holds none of it: only the pixels, colours converted to sRGB."""
    upload = with_metadata(fmt, mode)
    assert upload.count(MARKER) >= 3
    response = sign_with(client, upload, name=name, content_type=content_type)
    assert response.status_code == 302, response.content.decode()[:2000]
    (path,) = stored_files(media_root)
    stored = path.read_bytes()
    assert MARKER not in stored and MARKER[:4] not in stored
    image = opened(stored)
    assert image.format == fmt and "icc_profile" not in image.info and not image.getexif()
    assert not {"comment", "xmp", "Comment", "Description", "XML:com.adobe.xmp"} & image.info.keys()


def test_the_stored_image_is_served_at_its_link(client, media_root):
    """The entry's link is the project's /media/ route (tests/test_media.py checks its headers)."""
    assert sign_with(client, make_image()).status_code == 302
    entry = Entry.objects.get()
    response = client.get(entry.image.url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert opened(b"".join(response.streaming_content)).size == (640, 480)


@pytest.mark.parametrize(
    "fmt, mode, content_type",
    [
        ("PNG", "RGBA", "image/png"),
        ("WEBP", "RGB", "image/webp"),
        ("PNG", "P", "image/png"),
        ("JPEG", "L", "image/jpeg"),
    ],
)
def test_png_and_webp_keep_their_format(client, media_root, fmt, mode, content_type):
    data = make_image(fmt, size=(300, 200), mode=mode)
    assert sign_with(client, data, name=f"x.{fmt.lower()}", content_type=content_type).status_code == 302
    (path,) = stored_files(media_root)
    stored = opened(path.read_bytes())
    assert stored.format == fmt and stored.size == (300, 200)
    assert path.suffix == {"PNG": ".png", "WEBP": ".webp", "JPEG": ".jpg"}[fmt]
    if mode == "RGBA":
        assert stored.mode == "RGBA"


def animated_png():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def big_png():
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, "PNG")  # 48 megapixels, a few kilobytes
    return buffer.getvalue()


def gif():
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make, name, expected",
    [
        (lambda: b"<script>alert(1)</script>", "photo.png", "This file is not an image, or it is damaged."),
        (lambda: make_image()[:2000], "cut.jpg", "This file is not an image, or it is damaged."),
        (lambda: b"%PDF-1.4\n" + b"0" * 100, "photo.jpg", "This file is not an image, or it is damaged."),
        (gif, "anim.gif", "Please attach a JPEG, PNG or WebP image (this one is GIF)."),
        (animated_png, "anim.png", "Please attach a still image: animated images are not accepted."),
        (big_png, "big.png", "The image is 8000 × 6000 pixels; please attach one of up to 40 megapixels."),
    ],
)
def test_what_is_not_a_usable_image_is_refused_by_name(client, media_root, make, name, expected):
    response = sign_with(client, make(), name=name, message="Kept after the error")
    page = response.content.decode()
    assert response.status_code == 200
    assert expected in page.replace("&#x27;", "'")
    assert 'value="Ada"' in page and "Kept after the error" in page  # nothing typed is lost
    assert not Entry.objects.exists()
    assert stored_files(media_root) == []


def test_a_file_too_large_is_refused_before_it_is_read(client, media_root, settings):
    settings.IMAGE_UPLOAD_MAX_BYTES = 1024 * 1024
    noise = Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000))
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=100)
    data = buffer.getvalue()
    assert len(data) > 1024 * 1024
    response = sign_with(client, data)
    assert response.status_code == 200
    megabytes = f"{len(data) / 1024 / 1024:.1f} MB"
    assert f"The image is {megabytes}; please attach one of up to 1 MB." in response.content.decode()
    assert "up to 1 MB." in response.content.decode()  # the help text follows the setting
    assert not Entry.objects.exists()


@pytest.mark.parametrize("kind", COSTLIEST)
def test_an_image_that_would_not_fit_in_memory_is_refused_before_decoding(client, media_root, settings, kind):
    """Within the 40 megapixels, an image whose decoding would take more than the memory a decode
    has is refused from its header, naming the limit for its format; just under that limit, it is stored."""
    from exampleapp import images

    settings.IMAGE_DECODE_MAX_MB = 128
    data, content_type = costliest(kind, 39_900_000)
    refused = sign_with(client, data, name="big", content_type=content_type, message="Kept after the error")
    allowed = megapixels_allowed(refused.content)
    assert allowed and allowed < 39_000_000, refused.content.decode()[:2000]
    assert 'value="Ada"' in refused.content.decode() and "Kept after the error" in refused.content.decode()
    data, content_type = costliest(kind, allowed * 0.97)
    assert sign_with(client, data, name="fits", content_type=content_type).status_code == 302
    assert len(stored_files(media_root)) == 1
    # The limit follows the setting: with twice the memory beyond the base, twice the pixels, or all 40 MP.
    settings.IMAGE_DECODE_MAX_MB = 2 * 128 - images.DECODE_BASE_MB
    doubled = megapixels_allowed(sign_with(client, costliest(kind, 39_900_000)[0]).content)
    assert doubled is None or doubled == pytest.approx(2 * allowed, rel=0.05)


@pytest.mark.parametrize("size, stored", [((7300, 5450), False), ((3400, 2550), True)])
def test_a_jpeg_in_several_scans_is_costed_as_a_progressive_one(client, media_root, settings, tmp_path, size, stored):
    """A baseline JPEG with a scan per component makes libjpeg buffer every coefficient, as a progressive one
    does (267 MB at 40 megapixels, bench/images.py): the same bound applies. libjpeg-turbo's cjpeg writes one."""
    require("cjpeg", "it writes the JPEG in several scans (Debian: libjpeg-turbo-progs)")
    settings.IMAGE_DECODE_MAX_MB = 128
    Image.new("RGB", size, (10, 200, 30)).save(tmp_path / "plain.ppm")
    (tmp_path / "scans").write_text("0;\n1;\n2;\n")
    scans = ["-sample", "1x1", "-scans", tmp_path / "scans", tmp_path / "plain.ppm"]
    data = subprocess.run(["cjpeg", *scans], capture_output=True, check=True).stdout
    assert data.count(b"\xff\xda") == 3 and b"\xff\xc2" not in data  # three scans, not progressive
    response = sign_with(client, data)
    assert (response.status_code == 302) == stored
    if not stored:
        assert "please attach one of up to 9.09 megapixels" in response.content.decode()


def test_an_upload_waits_its_turn_to_decode(client, media_root, settings, tmp_path, monkeypatch):
    """One decode at a time: while another worker holds the lock, an upload waits, then asks to try again,
    keeping what was typed; the lock is free again once its holder is killed."""
    from exampleapp import images

    settings.IMAGE_DECODE_LOCK = str(tmp_path / "run" / "image-decode.lock")
    monkeypatch.setattr(images, "DECODE_WAIT_SECONDS", 0.5)
    (tmp_path / "run").mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, settings.IMAGE_DECODE_LOCK], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        busy = sign_with(client, make_image(), message="Kept while busy").content.decode()
        assert 0.5 <= time.monotonic() - started < 5
        assert "Another image is being processed; please send the form again in a moment." in busy
        assert "Kept while busy" in busy and not Entry.objects.exists()
    finally:
        holder.kill()
        holder.wait()
    assert sign_with(client, make_image()).status_code == 302


HOLD_LOCK = """
import fcntl, sys, time
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_the_limit_shown_is_the_one_applied(client, media_root):
    page = client.get("/").content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert 'accept="image/jpeg,image/png,image/webp"' in page
    assert "Optional. JPEG, PNG or WebP, up to 5 MB." in page


def test_signing_without_an_image_still_works(client, media_root):
    assert client.post("/", {"name": "Ada", "message": "No picture"}).status_code == 302
    assert not Entry.objects.get().image
    assert "entry-image" not in client.get("/").content.decode()


def test_a_storage_failure_keeps_what_was_typed(client, settings, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the media directory should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(blocked)}},
    }
    response = sign_with(client, make_image(), message="Not lost")
    page = response.content.decode()
    assert response.status_code == 503
    assert "The image could not be stored just now." in page
    assert 'value="Ada"' in page and "Not lost" in page
    assert not Entry.objects.exists()


def test_deleting_an_entry_deletes_its_image(client, media_root, django_capture_on_commit_callbacks):
    assert sign_with(client, make_image()).status_code == 302
    assert len(stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        Entry.objects.get().delete()
    assert stored_files(media_root) == []


def test_a_replaced_or_cleared_image_is_deleted(client, media_root, django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    assert sign_with(client, make_image()).status_code == 302
    entry = Entry.objects.get()
    (first,) = stored_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        entry.image.save("new.jpg", ContentFile(make_image(size=(320, 240))))
    (second,) = stored_files(media_root)
    assert second != first
    with django_capture_on_commit_callbacks(execute=True):
        entry.name = "Renamed"
        entry.save()  # the image unchanged: kept
    assert stored_files(media_root) == [second]
    with django_capture_on_commit_callbacks(execute=True):
        entry.image = None
        entry.save()
    assert stored_files(media_root) == []


# --- S3, for real ------------------------------------------------------------------------------------


def post_image(port, data, name="Ada"):
    """Sign the guestbook with an image through the real server; returns (status, body)."""
    https = {"X-Forwarded-Proto": "https"}
    _, headers, body = request(port, "/", headers=https)
    token = csrf_token(body)
    cookie = headers["set-cookie"].split(";")[0]
    content_type, form = multipart(
        {"csrfmiddlewaretoken": token, "name": name, "message": "Stored in S3"},
        [("image", "photo.jpg", "image/jpeg", data)],
    )
    status, _, body = request(
        port,
        "/",
        method="POST",
        body=form,
        headers={**https, "Cookie": cookie, "Content-Type": content_type, "Referer": f"https://127.0.0.1:{port}/"},
    )
    return status, body


def test_images_go_to_s3_and_pages_link_to_them(moto, media_env):
    url = f"s3://testing:testing@guestbook/media?endpoint={moto.endpoint}&region=us-east-1"
    with gunicorn({**media_env, "STORAGE_URL": url}) as port:
        status, body = readiness(port)
        assert status == 200 and body["checks"]["storage"]["status"] == "ok", body

        status, body = post_image(port, make_image(size=(2400, 1600), gps=True))
        assert status == 302, body.decode()[:2000]

        # The object is in the bucket, re-encoded, under the configured prefix.
        (key,) = [o["Key"] for o in moto.client().list_objects_v2(Bucket="guestbook")["Contents"]]
        assert re.fullmatch(r"media/entries/[0-9a-f]{32}\.jpg", key)
        stored = opened(moto.client().get_object(Bucket="guestbook", Key=key)["Body"].read())
        assert stored.size == (2048, 1365) and not stored.getexif()

        # The page links to it with a signed URL, which the browser may load (CSP).
        status, headers, page = request(port, "/", headers={"X-Forwarded-Proto": "https"})
        src = image_src(page)
        assert src.startswith(f"{moto.endpoint}/guestbook/{key}?") and "X-Amz-Signature=" in src
        assert f"img-src 'self' data: {moto.endpoint};" in headers["content-security-policy"]
        with urllib.request.urlopen(src, timeout=10) as response:
            assert (
                ImageChops.difference(opened(response.read()).convert("RGB"), stored.convert("RGB")).getbbox() is None
            )
        # Without the signature, the object is private.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(src.split("?")[0], timeout=10)
        assert refused.value.code == 403


def test_s3_stopping_and_returning(media_env):
    """S3 unreachable: readiness names `storage`, a post with an image answers 503 and keeps
    what was typed, the guestbook still renders; S3 back: all well again, without a restart."""
    with s3_outage(media_env) as (port, back):
        status, page = post_image(port, make_image(), name="Grace")
        assert status == 503
        assert b"The image could not be stored just now." in page and b'value="Grace"' in page
        assert request(port, "/", headers={"X-Forwarded-Proto": "https"})[0] == 200
        back()
        assert post_image(port, make_image(), name="Grace")[0] == 302


def test_the_admin_checks_and_reencodes_images_too(admin_client, media_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    entry = Entry.objects.create(name="Ada", message="Hello")
    url = f"/admin/exampleapp/entry/{entry.pk}/change/"
    https = {"headers": {"X-Forwarded-Proto": "https"}}
    page = admin_client.get(url, **https).content.decode()
    assert 'accept="image/jpeg,image/png,image/webp"' in page
    bad = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
    response = admin_client.post(url, {"name": "Ada", "message": "Hello", "image": bad}, **https)
    assert "This file is not an image, or it is damaged." in response.content.decode()
    photo = SimpleUploadedFile("p.jpg", make_image(size=(4000, 3000), gps=True), content_type="image/jpeg")
    response = admin_client.post(url, {"name": "Ada", "message": "Hello", "image": photo}, **https)
    assert response.status_code == 302
    entry.refresh_from_db()
    # Decoded at half scale (exampleapp/images.py, DRAFT_SLACK): 2000 px is within 5% of 2048.
    assert (entry.image_width, entry.image_height) == (2000, 1500)
    with entry.image.open("rb") as stored:
        assert not opened(stored.read()).getexif()
