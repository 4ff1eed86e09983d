"""
What an image attachment costs a worker: time and peak memory to check and re-encode
typical uploads (exampleapp/images.py), each in a fresh process, median of 5.

    .venv/bin/python bench/images.py          (make bench-images)

Prints one line per upload, and the ratio against decoding at full scale (Pillow's draft
mode off), the cost the JPEG fast path avoids; then the worst cases an attacker can send,
each format and mode at its most expensive: at 40 megapixels (refused unless it fits the
decode memory, settings.IMAGE_DECODE_MAX_MB), and at the largest size accepted, with the
estimate (exampleapp/images.py, decode_megabytes) that the peak must stay under.
"""

import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUNS = 5

from exampleapp.tests.guestbook import COSTLIEST, plain_image  # noqa: E402  (the uploads the tests send)

UPLOADS = [
    # (name, Pillow format, size in pixels)
    ("phone photo, 12 MP JPEG", "JPEG", (4032, 3024)),
    ("camera photo, 24 MP JPEG", "JPEG", (6000, 4000)),
    ("screenshot, 2.5K PNG", "PNG", (2560, 1440)),
    ("web image, 1600 px WebP", "WEBP", (1600, 1067)),
]

# The worst an upload can cost within the limits (5 MB, 40 megapixels): the tests' costliest kinds
# (one colour, so that a few kB decode to the most pixels), and those the bound lets through whole.
# Each at 40 MP, then at the largest size accepted: {name: (Pillow format, mode, save options)}.
WORST = {
    **COSTLIEST,
    "PNG palette": ("PNG", "P", {}),
    "JPEG baseline": ("JPEG", "RGB", {}),
    "JPEG CMYK": ("JPEG", "CMYK", {}),
}

# One measurement in a fresh process: peak memory is the process's own.
CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.update(ENV_FILE="", DEBUG="true", DJANGO_SETTINGS_MODULE="exampleproject.settings")
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from exampleapp import images
if sys.argv[3] == "full":  # no draft, and no memory bound, which would refuse the full-scale decode
    from django.conf import settings
    from PIL import JpegImagePlugin
    JpegImagePlugin.JpegImageFile.draft = lambda self, mode, size: None
    settings.IMAGE_DECODE_MAX_MB = 10**6
data = open(sys.argv[2], "rb").read()
from django.core.exceptions import ValidationError
field = images.ImageAttachmentField(required=False)
def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
estimates = []
estimate = images.decode_megabytes
images.decode_megabytes = lambda *args: estimates.append(estimate(*args)) or estimates[-1]
upload = SimpleUploadedFile("upload", data, "application/octet-stream")
open("/proc/self/clear_refs", "w").write("5")  # resets the peak (VmHWM) to the current size
before = rss_kb("VmRSS:")
started = time.perf_counter()
refused = ""
try:
    stored_kb = field.clean(upload).size / 1024
except ValidationError as error:
    stored_kb, refused = -1, error.messages[0]
seconds = time.perf_counter() - started
extra_mb = (rss_kb("VmHWM:") - before) / 1024
estimate_mb = estimates[0] if estimates else 0
print(json.dumps({"ms": seconds * 1000, "extra_mb": extra_mb, "stored_kb": stored_kb, "estimate_mb": estimate_mb,
                  "refused": refused, "budget_mb": images.settings.IMAGE_DECODE_MAX_MB}))
"""


def sample(fmt, size):
    """A photo-like image: a gradient with noise, so that it compresses as photos do."""
    width, height = size
    noise = Image.effect_noise(size, 20).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.blend(gradient, noise, 0.15)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 85} if fmt != "PNG" else {}))
    return buffer.getvalue()


def measure(path, mode, runs=RUNS):
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT), str(path), mode], capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout))
    medians = {key: statistics.median(run[key] for run in results) for key in ("ms", "extra_mb", "stored_kb")}
    return {**results[0], **medians}


def worst(path, fmt, mode, options, pixels):
    """A one-colour image of about this many pixels, written to path; returns its size."""
    data, size = plain_image(fmt, mode, options, pixels)
    path.write_bytes(data)
    return size


def largest_accepted(path, fmt, mode, options):
    """The largest size of this kind that is accepted, within 2%: between the limit its refusal names
    (which holds even decoded at full scale, so a JPEG decoded smaller may pass above it) and 40 MP."""
    refused = measure(path, "ours", runs=1)
    if not refused["refused"]:
        return None
    low, high = float(re.search(r"up to ([0-9.]+) megapixels", refused["refused"])[1]) * 1e6 * 0.99, 40e6
    accepted = worst(path, fmt, mode, options, low)
    assert not measure(path, "ours", runs=1)["refused"], f"{fmt} {mode}: refused under the limit it names"
    while high / low > 1.02:
        middle = (low * high) ** 0.5
        size = worst(path, fmt, mode, options, middle)
        if measure(path, "ours", runs=1)["refused"]:
            high = middle
        else:
            low, accepted = middle, size
    return accepted


def main():
    print(f"{'upload':28} {'bytes':>8} {'time':>8} {'memory':>9} {'stored':>8}   vs full-scale decode")
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, size in UPLOADS:
            path = Path(tmp) / f"upload.{fmt.lower()}"
            path.write_bytes(sample(fmt, size))
            ours = measure(path, "ours")
            line = (
                f"{name:28} {os.path.getsize(path) / 1e6:6.1f}MB {ours['ms']:6.0f}ms "
                f"{ours['extra_mb']:6.0f} MB {ours['stored_kb']:6.0f}kB"
            )
            if fmt == "JPEG":
                full = measure(path, "full")
                less_memory = full["extra_mb"] / max(ours["extra_mb"], 1)
                line += f"   {full['ms'] / ours['ms']:.1f}x faster, {less_memory:.1f}x less memory"
            print(line, flush=True)
        print(
            f"\n{'worst case':24} {'size':>11} {'bytes':>8} {'time':>8} {'peak':>8} {'estimate':>9}   stored or refused"
        )
        for name, (fmt, mode, options) in WORST.items():
            path = Path(tmp) / f"worst.{fmt.lower()}"
            sizes = [worst(path, fmt, mode, options, 40e6)]
            if (accepted := largest_accepted(path, fmt, mode, options)) is not None:
                sizes.append(accepted)
            for size in sizes:
                worst(path, fmt, mode, options, size[0] * size[1])
                ours = measure(path, "ours")
                stored = "refused" if ours["stored_kb"] < 0 else f"{ours['stored_kb']:.0f} kB"
                print(
                    f"{name:24} {size[0] * size[1] / 1e6:8.1f} MP {os.path.getsize(path) / 1e6:6.2f}MB "
                    f"{ours['ms']:6.0f}ms {ours['extra_mb']:5.0f} MB {ours['estimate_mb']:6.0f} MB   {stored}",
                    flush=True,
                )
        print(f"(a decode may take {ours['budget_mb']} MB here: settings.IMAGE_DECODE_MAX_MB)")


if __name__ == "__main__":
    main()
