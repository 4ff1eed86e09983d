"""
Image attachments: what the guestbook accepts, and what it stores.

Only a real JPEG, PNG or WebP image passes, within a size in bytes and in pixels. It is
then re-encoded: a photo's metadata (its GPS position, the camera, comments, its colour
profile, once its colours are in sRGB) is dropped, a large image is scaled down, and nothing
but image data reaches the storage, whatever else the upload carried. An image whose decoding
would need more memory than a container keeps for it is refused from its header, and decodes
take turns (docs/decisions.md, "Decoding in bounded memory").
"""

import contextlib
import fcntl
import io
import math
import time
from pathlib import Path

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.functional import lazy
from PIL import Image, ImageCms, ImageOps

# Pillow format -> file extension and content type of what is stored.
ACCEPTED = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
ACCEPT_ATTRIBUTE = ",".join(content_type for _, content_type in ACCEPTED.values())
# Larger images are refused before decoding, as is any whose decoding would need more memory
# than settings.IMAGE_DECODE_MAX_MB (decode_megabytes()).
MAX_PIXELS = 40_000_000
# The peak of a check and re-encode, from the header alone: MB, plus bytes per pixel decoded, by
# format and mode; measured by bench/images.py, rounded up (docs/decisions.md, "Decoding in bounded memory").
DECODE_BASE_MB = 24
BYTES_PER_PIXEL = {
    "WEBP": 20,  # always decoded to RGB(A) on a canvas, which Pillow copies
    ("PNG", "RGBA"): 11,  # with alpha, scaling premultiplies a copy
    ("PNG", "LA"): 11,
    ("PNG", "RGB"): 6,
    ("PNG", "I;16"): 3,
    ("PNG", "L"): 1.5,
    ("PNG", "P"): 1.5,
    ("PNG", "1"): 1.5,
    "JPEG": 6,  # at the reduced scale it is decoded at (draft())
}
# A progressive or multi-scan JPEG also holds every DCT coefficient: 2 bytes a sample.
COEFFICIENT_BYTES = 2
# How long an upload waits for another's decoding to end before the form asks to try again.
DECODE_WAIT_SECONDS = 2
# Longest side of what is stored: sharp on any screen the page is shown on, and a
# fraction of a phone photo's bytes.
MAX_SIDE = 2048
# A JPEG may be decoded at reduced scale to as little as 95% of MAX_SIDE: see reencoded().
DRAFT_SLACK = 0.95
SRGB = ImageCms.createProfile("sRGB")
# Visually lossless for photos, a third of the size of quality 95.
QUALITY = 85


def megabytes(size):
    return f"{size / 1024 / 1024:.1f} MB".replace(".0 MB", " MB")


class ImageAttachmentField(forms.ImageField):
    """An optional image: checked (bytes, type, pixels, decodable) and re-encoded."""

    default_error_messages = {
        "invalid_image": "This file is not an image, or it is damaged. Please attach a JPEG, PNG or WebP image.",
        "too_large": "The image is %(size)s; please attach one of up to %(limit)s.",
        "type": "Please attach a JPEG, PNG or WebP image (this one is %(format)s).",
        "animated": "Please attach a still image: animated images are not accepted.",
        "too_many_pixels": "The image is %(width)d × %(height)d pixels; please attach one of up to "
        "%(limit)s megapixels.",
        "busy": "Another image is being processed; please send the form again in a moment.",
    }

    def __init__(self, **kwargs):
        # Lazy: the limit shown is the setting's value when the form is shown.
        kwargs.setdefault(
            "help_text", lazy(lambda: f"Optional. JPEG, PNG or WebP, up to {megabytes(self.max_bytes())}.", str)()
        )
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        # The browser's file picker offers only the types accepted (Django's: image/*).
        return {**super().widget_attrs(widget), "accept": ACCEPT_ATTRIBUTE}

    @staticmethod
    def max_bytes():
        return settings.IMAGE_UPLOAD_MAX_BYTES

    def to_python(self, data):
        # The size first: a file too large is refused before Pillow reads it.
        if data and data.size > self.max_bytes():
            raise ValidationError(
                self.error_messages["too_large"],
                code="too_large",
                params={"size": megabytes(data.size), "limit": megabytes(self.max_bytes())},
            )
        # Django's ImageField: Pillow must recognise and verify the file.
        upload = super().to_python(data)
        if upload is None:
            return None
        return reencoded(upload, self.error_messages)


def in_srgb(image, icc_profile):
    """The image's colours converted from its own profile to sRGB, the web's default, so that the
    uploaded profile (bytes the uploader chose) is not stored; unchanged if the profile is unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.profileToProfile(image, source, SRGB, outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image


def bytes_per_pixel(image, scans):
    """What checking and re-encoding an opened image takes beyond DECODE_BASE_MB: bytes per pixel it is
    decoded at (a JPEG's reduced size, once draft() set it), and per pixel of its full size."""
    if image.format != "JPEG":
        # An unlisted PNG mode is costed as the costliest listed.
        return BYTES_PER_PIXEL.get(image.format) or BYTES_PER_PIXEL.get((image.format, image.mode), 11), 0
    if not (image.info.get("progressive") or scans > 1):
        return BYTES_PER_PIXEL["JPEG"], 0
    # libjpeg then buffers the whole image's coefficients at full size: per component, its share
    # of the samples (4:2:0 subsampling: 1 + 1/4 + 1/4).
    h_max, v_max = max(h for _, h, _, _ in image.layer), max(v for _, _, v, _ in image.layer)
    return BYTES_PER_PIXEL["JPEG"], COEFFICIENT_BYTES * sum(h * v for _, h, v, _ in image.layer) / (h_max * v_max)


def decode_megabytes(image, pixels, scans):
    """The peak, in MB, of checking and re-encoding this opened image (`pixels`: its full size)."""
    decoded, full = bytes_per_pixel(image, scans)
    return DECODE_BASE_MB + (image.width * image.height * decoded + pixels * full) / 2**20


@contextlib.contextmanager
def decode_slot(messages):
    """One decode at a time per container, whose memory holds one (settings.IMAGE_DECODE_MAX_MB): an
    flock on a file all workers share, released when its holder ends, even killed."""
    path = Path(settings.IMAGE_DECODE_LOCK)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path, "a")  # closed below, which releases the lock
    except OSError as exc:  # not an image's fault: an error, not the form's "damaged image"
        raise RuntimeError(f"WEB_RUN_DIR: cannot open the image decode lock {path}: {exc.strerror}") from None
    with lock:
        deadline = time.monotonic() + DECODE_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ValidationError(messages["busy"], code="busy") from None
                time.sleep(0.05)
        yield


def refuse_too_many_pixels(messages, width, height, limit):
    raise ValidationError(
        messages["too_many_pixels"],
        code="too_many_pixels",
        params={"width": width, "height": height, "limit": f"{limit / 1e6:.3g}"},
    )


def reencoded(upload, messages):
    """The upload as a new file holding only the image, in the same format."""
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            if image.format not in ACCEPTED:
                raise ValidationError(messages["type"], code="type", params={"format": image.format or "unknown"})
            if getattr(image, "n_frames", 1) > 1:
                raise ValidationError(messages["animated"], code="animated")
            width, height = image.size
            if width * height > MAX_PIXELS:
                refuse_too_many_pixels(messages, width, height, MAX_PIXELS)
            extension, content_type = ACCEPTED[image.format]
            output_format = image.format
            icc_profile = image.info.get("icc_profile")
            # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still gives (nearly) the size
            # stored. The 5% of slack lets a 4032 px phone photo decode at half scale and be
            # stored at 2016 px: 2-3 times less time and memory (bench/images.py).
            scale = MAX_SIDE / max(width, height) * DRAFT_SLACK
            if scale < 1:
                image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            upload.seek(0)
            scans = upload.read().count(b"\xff\xda") if image.format == "JPEG" else 1
            needed = decode_megabytes(image, width * height, scans)
            if needed > settings.IMAGE_DECODE_MAX_MB:
                # The pixels of this format and mode that fit even when decoded at full size.
                per_pixel = sum(bytes_per_pixel(image, scans))
                fits = (settings.IMAGE_DECODE_MAX_MB - DECODE_BASE_MB) * 2**20 / per_pixel
                refuse_too_many_pixels(messages, width, height, fits)
            with decode_slot(messages):
                # Scale first (in place, within a square box, so turning after is the same), then
                # turn the small image as the camera meant (EXIF orientation); the EXIF is dropped.
                image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
                image = ImageOps.exif_transpose(image)
                if output_format == "JPEG" and image.mode not in ("RGB", "L"):
                    image = image.convert("RGB")
                elif output_format == "WEBP" and image.mode not in ("RGB", "RGBA"):
                    image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
                if icc_profile:
                    image = in_srgb(image, icc_profile)
                # Pillow writes some of what it read (a JPEG's comment, a PNG's profile) again: not here.
                image.info = {}
                buffer = io.BytesIO()
                # PNG at zlib's default level: "optimize" made a 2560x1440 screenshot take 2.3 s
                # of a worker for a few percent fewer bytes (bench/images.py).
                options = {} if output_format == "PNG" else {"quality": QUALITY}
                if output_format == "JPEG":
                    options["progressive"] = True
                image.save(buffer, output_format, **options)
    except ValidationError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValidationError(messages["invalid_image"], code="invalid_image") from exc
    return SimpleUploadedFile(f"image.{extension}", buffer.getvalue(), content_type=content_type)
