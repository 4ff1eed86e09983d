"""
Image attachments: what the guestbook accepts, and what it stores.

Only a real JPEG, PNG or WebP image passes, within a size in bytes and in pixels. It is
then re-encoded: a photo's metadata (its GPS position, the camera, comments, its colour
profile, once its colours are in sRGB) is dropped, a large image is scaled down, and nothing
but image data reaches the storage, whatever else the upload carried.
"""

import io
import math

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.functional import lazy
from PIL import Image, ImageCms, ImageOps

# Pillow format -> file extension and content type of what is stored.
ACCEPTED = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
ACCEPT_ATTRIBUTE = ",".join(content_type for _, content_type in ACCEPTED.values())
# Larger images are refused before decoding. A baseline JPEG this size decodes at reduced
# scale (72 MB at most); a WebP or PNG does not, and can cost far more than a worker is given
# (bench/README.md, "Image attachments": measured, not yet bounded).
MAX_PIXELS = 40_000_000
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
        "%(limit)d megapixels.",
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
                raise ValidationError(
                    messages["too_many_pixels"],
                    code="too_many_pixels",
                    params={"width": width, "height": height, "limit": MAX_PIXELS // 1_000_000},
                )
            extension, content_type = ACCEPTED[image.format]
            output_format = image.format
            icc_profile = image.info.get("icc_profile")
            # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still gives (nearly) the size
            # stored. The 5% of slack lets a 4032 px phone photo decode at half scale and be
            # stored at 2016 px: 2-3 times less time and memory (bench/images.py).
            scale = MAX_SIDE / max(width, height) * DRAFT_SLACK
            if scale < 1:
                image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
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
