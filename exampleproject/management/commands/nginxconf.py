"""
`manage.py nginxconf OUTPUT`: render conf/nginx.conf for this container.

The values nginx must share with gunicorn (socket path, timeouts) come from
conf/gunicorn.conf.py, and those it shares with Django (STATIC_ROOT, MEDIA_ROOT, the
upload limit, the HTTPS redirect) from settings, and the headers of uploaded files from
the view that serves them without nginx: each value has one source.
"""

import glob
import runpy
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.template import Context, Engine

from exampleproject.media import MEDIA_HEADERS

CONF_DIR = Path(settings.BASE_DIR) / "conf"
MODULES_DIR = "/etc/nginx/modules-enabled"


def nginx_context():
    gunicorn = runpy.run_path(str(CONF_DIR / "gunicorn.conf.py"))
    modules = sorted(glob.glob(f"{MODULES_DIR}/*.conf"))
    return {
        "modules": modules,
        "brotli": any("brotli-static" in module for module in modules),
        "cpus": gunicorn["cpus"],
        "run_dir": gunicorn["run_dir"],
        "socket_path": gunicorn["socket_path"],
        "timeout": gunicorn["timeout"],
        "proxy_read_timeout": gunicorn["timeout"] + 5,
        "graceful_timeout": gunicorn["graceful_timeout"],
        "static_url": "/" + settings.STATIC_URL.lstrip("/"),
        "static_root": Path(settings.STATIC_ROOT),
        "https_redirect": settings.SECURE_SSL_REDIRECT,
        # Local uploads only: with S3, pages link to the bucket.
        "media_url": "/" + settings.MEDIA_URL.lstrip("/"),
        "media_root": Path(settings.MEDIA_ROOT)
        if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")
        else None,
        "media_headers": MEDIA_HEADERS,
        "max_body_bytes": 2 * settings.IMAGE_UPLOAD_MAX_BYTES,
    }


def render_nginx_conf():
    engine = Engine(dirs=[str(CONF_DIR)], autoescape=False)
    return engine.get_template("nginx.conf").render(Context(nginx_context(), autoescape=False))


class Command(BaseCommand):
    help = "Render conf/nginx.conf with this container's values, to OUTPUT ('-' for stdout)."

    def add_arguments(self, parser):
        parser.add_argument("output")

    def handle(self, *args, output, **options):
        text = render_nginx_conf()
        if output == "-":
            self.stdout.write(text, ending="")
        else:
            Path(output).write_text(text)
