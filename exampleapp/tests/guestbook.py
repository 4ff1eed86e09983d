"""Signing the guestbook as a browser does, for the tests that run it through real servers."""

import io
import re
from urllib.parse import quote_plus

from PIL import Image

from tests.servers import PROXY_LINE, PROXY_PORT, csrf_token, http_request, multipart, raw_request


def signed_post(name, port=PROXY_PORT, proxy_line=PROXY_LINE, image=None):
    """A guestbook signature ready to send, with the CSRF token and cookie a browser
    gets with the form (fetched through the same port); with `image` (a JPEG's bytes),
    sent as a browser sends a form with a file."""
    _, headers, body = raw_request(port, http_request("GET", "/"), proxy_line)
    return signature(headers, body, name, image=image)


def signature(page_headers, page, name, message="in flight", image=None):
    """The guestbook post a browser sends after the page (`page_headers`, as raw_request
    returns them, and its body): the form's CSRF token and the cookie that came with it."""
    token = csrf_token(page)
    cookie = page_headers["set-cookie"][0].split(";")[0]
    if image is None:
        content_type = "application/x-www-form-urlencoded"
        form = f"csrfmiddlewaretoken={token}&name={name}&message={quote_plus(message)}".encode()
    else:
        content_type, form = multipart(
            {"csrfmiddlewaretoken": token, "name": name, "message": message},
            [("image", "photo.jpg", "image/jpeg", image)],
        )
    return http_request(
        "POST",
        "/",
        body=form,
        headers=[f"Cookie: {cookie}", f"Content-Type: {content_type}", "Referer: https://localhost/"],
    )


def image_src(page):
    """The first entry image's address on a guestbook page."""
    match = re.search(rb'<img class="entry-image" src="([^"]+)"', page)
    return match.group(1).decode().replace("&amp;", "&") if match else None


MARKER = b"ATTACKER-CHOSEN-BYTES"


def with_metadata(fmt, mode="RGB"):
    """An image whose every metadata slot its format has holds MARKER: comments, text chunks,
    XMP, EXIF, and an ICC profile (a real one, with MARKER in it and after it)."""
    from PIL import ImageCms, PngImagePlugin

    image = Image.new(mode, (64, 48), (200, 30, 30, 255)[: len(mode)] if mode != "L" else 120)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    icc = profile.replace(b"sRGB", MARKER[:4], 1) + MARKER  # trailing bytes a parser ignores
    exif = Image.Exif()
    exif[0x010E] = MARKER.decode()  # ImageDescription
    options = {"icc_profile": icc, "exif": exif.tobytes(), "xmp": b"<x:xmpmeta>" + MARKER + b"</x:xmpmeta>"}
    if fmt == "JPEG":
        options["comment"] = MARKER
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", MARKER.decode())
        info.add_text("Description", MARKER.decode(), zip=True)
        info.add_itxt("XML:com.adobe.xmp", MARKER.decode())
        options["pnginfo"] = info
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# The uploads whose decoding costs the most per byte sent: each format and mode at its costliest,
# one colour, so that a few kB decode to as many pixels as asked (bench/images.py measures them).
COSTLIEST = {
    "WebP with alpha": ("WEBP", "RGBA", {"lossless": True}),
    "WebP": ("WEBP", "RGB", {}),
    "PNG with alpha": ("PNG", "RGBA", {}),
    "PNG grey with alpha": ("PNG", "LA", {}),
    "PNG": ("PNG", "RGB", {}),
    "16-bit PNG": ("PNG", "I;16", {}),
    "progressive JPEG": ("JPEG", "RGB", {"progressive": True}),
    "progressive JPEG 4:4:4": ("JPEG", "RGB", {"progressive": True, "subsampling": 0}),
    "progressive CMYK JPEG": ("JPEG", "CMYK", {"progressive": True}),
}


def plain_image(fmt, mode, options, pixels):
    """A one-colour image of about `pixels` pixels, 4:3: (bytes, (width, height))."""
    width = round((pixels * 4 / 3) ** 0.5)
    size = (width, round(pixels / width))
    buffer = io.BytesIO()
    Image.new(mode, size, 3 if mode in ("P", "I;16") else (10, 200, 30, 128)[: len(mode)]).save(buffer, fmt, **options)
    return buffer.getvalue(), size


def costliest(kind, pixels):
    """A COSTLIEST kind of image of about `pixels` pixels: (bytes, content type)."""
    fmt, mode, options = COSTLIEST[kind]
    return plain_image(fmt, mode, options, pixels)[0], f"image/{fmt.lower()}"


def megapixels_allowed(page):
    """The limit a refusal names ("please attach one of up to 5.2 megapixels"), in pixels."""
    match = re.search(rb"please attach one of up to ([0-9.]+) megapixels", page)
    return float(match[1]) * 1e6 if match else None
