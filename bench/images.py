"""
What an image attachment costs a worker: time and peak memory to check and re-encode
typical uploads (exampleapp/images.py), each in a fresh process, median of 5.

    .venv/bin/python bench/images.py          (make bench-images)

Prints one line per upload, and the ratio against decoding at full scale (Pillow's draft
mode off), the cost the JPEG fast path avoids; then the worst cases an attacker can send
within the limits, each format and mode at its most expensive.
"""

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5

UPLOADS = [
    # (name, Pillow format, size in pixels)
    ("phone photo, 12 MP JPEG", "JPEG", (4032, 3024)),
    ("camera photo, 24 MP JPEG", "JPEG", (6000, 4000)),
    ("screenshot, 2.5K PNG", "PNG", (2560, 1440)),
    ("web image, 1600 px WebP", "WEBP", (1600, 1067)),
]

# The worst an upload can cost within the limits (5 MB, 40 megapixels): one colour, so that a
# few kB decode to the most pixels, in each format and mode whose decoding costs the most.
WORST = [
    # (name, Pillow format, mode, size in pixels, save options)
    ("WebP RGBA lossless, 40 MP", "WEBP", "RGBA", (6324, 6324), {"lossless": True}),
    ("WebP RGB, 40 MP", "WEBP", "RGB", (6324, 6324), {}),
    ("PNG RGBA, 40 MP", "PNG", "RGBA", (7300, 5400), {}),
    ("PNG 16-bit grey, 40 MP", "PNG", "I;16", (7300, 5400), {}),
    ("PNG palette, 40 MP", "PNG", "P", (7300, 5400), {}),
    ("JPEG progressive, 40 MP", "JPEG", "RGB", (7300, 5400), {"progressive": True}),
    ("JPEG progressive 4:4:4, 12 MP", "JPEG", "RGB", (4032, 3024), {"progressive": True, "subsampling": 0}),
    ("JPEG CMYK, 40 MP", "JPEG", "CMYK", (7300, 5400), {}),
]

# One measurement in a fresh process: peak memory is the process's own.
CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.update(ENV_FILE="", DEBUG="true", DJANGO_SETTINGS_MODULE="exampleproject.settings")
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from exampleapp import images
if sys.argv[3] == "full":
    from PIL import JpegImagePlugin
    JpegImagePlugin.JpegImageFile.draft = lambda self, mode, size: None
data = open(sys.argv[2], "rb").read()
from django.core.exceptions import ValidationError
field = images.ImageAttachmentField(required=False)
def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
upload = SimpleUploadedFile("upload", data, "application/octet-stream")
open("/proc/self/clear_refs", "w").write("5")  # resets the peak (VmHWM) to the current size
before = rss_kb("VmRSS:")
started = time.perf_counter()
try:
    stored_kb = field.clean(upload).size / 1024
except ValidationError:
    stored_kb = -1  # refused
seconds = time.perf_counter() - started
extra_mb = (rss_kb("VmHWM:") - before) / 1024
print(json.dumps({"ms": seconds * 1000, "extra_mb": extra_mb, "stored_kb": stored_kb}))
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


def measure(path, mode):
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT), str(path), mode], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


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
        print(f"\n{'worst case':32} {'bytes':>8} {'time':>8} {'memory':>9}   stored or refused")
        for name, fmt, mode, size, options in WORST:
            path = Path(tmp) / f"worst.{fmt.lower()}"
            buffer = io.BytesIO()
            Image.new(mode, size, 3 if mode in ("P", "I;16") else (10, 200, 30, 128)[: len(mode)]).save(
                buffer, fmt, **options
            )
            path.write_bytes(buffer.getvalue())
            ours = measure(path, "ours")
            stored = "refused" if ours["stored_kb"] < 0 else f"{ours['stored_kb']:.0f}kB"
            size_mb = os.path.getsize(path) / 1e6
            print(f"{name:32} {size_mb:6.2f}MB {ours['ms']:6.0f}ms {ours['extra_mb']:6.0f} MB   {stored}", flush=True)


if __name__ == "__main__":
    main()
