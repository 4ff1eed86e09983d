"""The guestbook in the image: signed with a photo through 4001, re-encoded by the image's
trimmed Pillow, stored in /app/data/media and served by nginx. The image itself, whatever
the app, is tested in tests/test_image.py."""

from exampleapp.tests.guestbook import MARKER, image_src, signed_post, with_metadata
from tests.servers import PROXY_LINE, PROXY_PORT, http_request, raw_request
from tests.test_image import container, docker, docker_daemon, image  # noqa: F401  (fixtures)
from tests.test_media import make_image, opened


def test_container_stores_and_serves_images(container):
    photo = make_image(size=(3000, 2000), gps=True, orientation=6, quality=95)
    assert raw_request(PROXY_PORT, signed_post("Pictured", image=photo), PROXY_LINE)[0] == 302
    src = image_src(raw_request(PROXY_PORT, http_request("GET", "/"), PROXY_LINE)[2])
    status, headers, body = raw_request(PROXY_PORT, http_request("GET", src), PROXY_LINE)
    # Turned upright (EXIF orientation), scaled to 2048 px, its metadata dropped.
    assert status == 200 and opened(body).size == (1365, 2048) and not opened(body).getexif()
    assert headers["content-security-policy"] == ["default-src 'none'; sandbox"]
    listing = docker("exec", container, "ls", "/app/data/media/entries").stdout.split()
    assert src.rsplit("/", 1)[1] in listing


def test_container_stores_image_data_only(container):
    """The image's trimmed Pillow converts a profile to sRGB and drops every metadata slot."""
    for fmt in ("JPEG", "PNG", "WEBP"):
        assert raw_request(PROXY_PORT, signed_post("Marked", image=with_metadata(fmt)), PROXY_LINE)[0] == 302
        src = image_src(raw_request(PROXY_PORT, http_request("GET", "/"), PROXY_LINE)[2])
        status, _, body = raw_request(PROXY_PORT, http_request("GET", src), PROXY_LINE)
        assert status == 200 and opened(body).format == fmt and MARKER not in body
        assert "icc_profile" not in opened(body).info
