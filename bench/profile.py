"""
Where a request for the guestbook page spends its time, in-process: Django's WSGI handler
called directly (as gunicorn's workers call it), on PostgreSQL with the benchmark's 50
entries, for the page as it was before its rendering was cached (bench.before, at
/before/) and as it is now (/). Run it with `make bench-profile` (about a minute).

1. CPU per request, unprofiled: the median of several rounds of a few hundred requests,
   each path in turn, so that the machine's drift falls on both alike.
2. Where it goes: pyinstrument samples the same requests; each sample is put down to the
   innermost part of the request it falls in (the rules below), and each part is shown as
   milliseconds of the request (its share of the samples times the CPU per request).
3. The same with every entry's image on S3 (moto's server on 127.0.0.1, django-storages
   signing a URL per image): the page's cost against the page without images. The page as
   it was is measured with django-storages' own S3Storage, which signs every link anew, as
   it was then; the page now with exampleproject.storage's, which reuses them.

Writes the figures as JSON to stdout's last line, and bench/profile.md.
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import PRODUCTION_ENV, MotoServer, fresh_database_url, public_tmp_dir  # noqa: E402

ENTRIES = 50
BEFORE, AFTER = "/before/", "/"

# (part of the request, priority, file path fragment, function names or None for all). Each
# sample goes to the part of the innermost frame that names one of at least the priority of the
# part enclosing it: the template engine's own code called by a form's widgets counts as the
# form, the ORM called from a template as the ORM, Django's utilities as whatever called them.
RULES = [
    ("PostgreSQL round trips", 3, "django/db/backends/utils.py", {"_execute"}),
    ("PostgreSQL round trips", 3, "django/db/backends/postgresql/base.py", {"is_usable"}),
    ("ORM: queries built, rows to objects", 2, "django/db/", None),
    ("paginator", 2, "django/core/paginator.py", None),
    ("S3: signing image URLs", 2, "botocore/", None),
    ("S3: signing image URLs", 2, "storages/", None),
    ("S3: signing image URLs", 2, "exampleproject/storage.py", None),
    ("dates formatted", 2, "django/utils/dateformat.py", None),
    ("dates formatted", 2, "django/template/defaultfilters.py", {"date"}),
    ("dates formatted", 2, "django/utils/formats.py", None),
    ("dates formatted", 2, "django/utils/timezone.py", None),
    ("form rendered (widgets' templates)", 2, "django/forms/", None),
    ("{% url %} and {% static %}", 2, "django/urls/", None),
    ("{% url %} and {% static %}", 2, "django/templatetags/static.py", None),
    ("{% url %} and {% static %}", 2, "django/contrib/staticfiles/", None),
    ("CSRF token and cookie", 2, "django/middleware/csrf.py", None),
    ("fragment cache (key, get)", 2, "django/core/cache/", None),
    ("fragment cache (key, get)", 2, "django/templatetags/cache.py", None),
    ("messages, session", 2, "django/contrib/messages/", None),
    ("messages, session", 2, "django/contrib/sessions/", None),
    ("templates (other)", 1, "django/template/", None),
    ("templates (other)", 1, "django/utils/html.py", None),
    ("views (the app's own code)", 1, "exampleapp/", None),
    ("views (the app's own code)", 1, "bench/before/", None),
    ("middleware and handler", 0, "django/", None),
    ("middleware and handler", 0, "whitenoise/", None),
    ("middleware and handler", 0, "exampleproject/", None),
]
OTHER = "other (WSGI, standard library)"


def part_of(frame):
    path = frame.file_path or ""
    for name, priority, fragment, functions in RULES:
        if fragment in path and (functions is None or frame.function in functions):
            return name, priority
    return None


def attribute(frame, parts, enclosing=(OTHER, -1)):
    """Each frame's own time to its part (see RULES)."""
    found = part_of(frame)
    mine = found if found and found[1] >= enclosing[1] else enclosing
    own = frame.time - sum(child.time for child in frame.children)
    parts[mine[0]] = parts.get(mine[0], 0.0) + own
    for child in frame.children:
        attribute(child, parts, mine)


def environ(path, query=""):
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def child(args):
    """In a fresh process with the benchmark's settings: seed, time, profile; print JSON."""
    import django

    django.setup()
    from django.conf import settings

    if args.signing_anew:  # before any storage is built from the setting
        settings.STORAGES["default"]["BACKEND"] = "storages.backends.s3.S3Storage"
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from PIL import Image
    from pyinstrument import Profiler

    from exampleapp.forms import EntryForm

    call_command("migrate", verbosity=0)
    for number in range(ENTRIES):
        data = {"name": f"Guest {number}", "message": "A message of a typical length. " * 4}
        files = {}
        if args.images:  # through the form, as a visitor's upload: checked, re-encoded, its size kept
            photo = io.BytesIO()
            Image.new("RGB", (64, 48), (number * 5, 90, 160)).save(photo, "JPEG")
            files["image"] = SimpleUploadedFile("photo.jpg", photo.getvalue(), content_type="image/jpeg")
        form = EntryForm(data, files)
        assert form.is_valid(), form.errors
        form.save()
    application = get_wsgi_application()

    def get(path):
        status = []
        body = b"".join(application(environ(path), lambda s, h, exc_info=None: status.append(s)))
        assert status == ["200 OK"], (path, status, body[:500])
        return body

    paths = args.paths
    for path in paths:
        for _ in range(args.warm):  # warm: connections, templates, caches
            get(path)
    samples = {path: [] for path in paths}
    for _ in range(args.rounds):
        for path in paths:
            started = time.process_time()
            for _ in range(args.requests):
                get(path)
            samples[path].append((time.process_time() - started) / args.requests * 1000)
    result = {"images": bool(args.images), "entries_with_images": ENTRIES if args.images else 0, "paths": {}}
    for path in paths:
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(args.requests):
            get(path)
        profiler.stop()
        parts = {}
        attribute(profiler.last_session.root_frame(), parts)
        total = sum(parts.values())
        cpu_ms = statistics.median(samples[path])
        result["paths"][path] = {
            "cpu_ms": cpu_ms,
            "rounds_ms": samples[path],
            "parts_ms": {k: v / total * cpu_ms for k, v in parts.items()},
            "bytes": len(get(path)),
        }
    print(json.dumps(result))


def run(images, database_url, args, paths=(BEFORE, AFTER), signing_anew=False):
    """One child process on a fresh database; returns its JSON."""
    env = {
        **os.environ,
        **PRODUCTION_ENV,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": args.static_root,
        "DATA_DIR": tempfile.mkdtemp(prefix="bench-profile-"),
    }
    moto = None
    if images:
        moto = MotoServer().start()
        moto.client().create_bucket(Bucket="guestbook")
        env["STORAGE_URL"] = f"s3://testing:testing@guestbook/media?endpoint={moto.endpoint}&region=us-east-1"
    try:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                *(["--images"] if images else []),
                *(["--signing-anew"] if signing_anew else []),
                "--paths",
                *paths,
                "--requests",
                str(args.requests),
                "--rounds",
                str(args.rounds),
                "--warm",
                str(args.warm),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    except subprocess.CalledProcessError as failed:
        sys.exit(f"bench/profile.py: the child failed:\n{failed.stdout}\n{failed.stderr}")
    finally:
        if moto:
            moto.stop()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round and per profile")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per path; the median is reported")
    parser.add_argument("--warm", type=int, default=50, help="requests per path before measuring")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--signing-anew", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="*", default=[BEFORE, AFTER], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exampleproject")
    if not base.startswith("postgres"):
        sys.exit("bench: BENCH_DATABASE_URL must be a PostgreSQL URL")
    os.environ["DATABASE_URL"] = base
    args.static_root = str(public_tmp_dir("bench-static-") / "static")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, **PRODUCTION_ENV, "STATIC_ROOT": args.static_root},
    )
    results = {}
    for name, images, paths, signing_anew in [
        ("plain", False, (BEFORE, AFTER), False),
        ("s3_before", True, (BEFORE,), True),
        ("s3", True, (AFTER,), False),
    ]:
        url = fresh_database_url("exampleproject_profile", Path(tempfile.mkdtemp()))
        results[name] = run(images, url, args, paths, signing_anew)
    from bench.report import write_profile

    write_profile(results, args)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
