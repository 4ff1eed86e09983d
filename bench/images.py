"""
What an image attachment costs a worker: time and peak memory to check and re-encode
typical uploads (exampleapp/images.py), each in a fresh process, median of 5.

    .venv/bin/python bench/images.py          (make bench-images)

Prints one line per upload, and the ratio against decoding at full scale (Pillow's draft
mode off), the cost the JPEG fast path avoids.
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
field = images.ImageAttachmentField(required=False)
def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
upload = SimpleUploadedFile("upload", data, "application/octet-stream")
open("/proc/self/clear_refs", "w").write("5")  # resets the peak (VmHWM) to the current size
before = rss_kb("VmRSS:")
started = time.perf_counter()
stored = field.clean(upload)
seconds = time.perf_counter() - started
extra_mb = (rss_kb("VmHWM:") - before) / 1024
print(json.dumps({"ms": seconds * 1000, "extra_mb": extra_mb, "stored_kb": stored.size / 1024}))
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


if __name__ == "__main__":
    main()
