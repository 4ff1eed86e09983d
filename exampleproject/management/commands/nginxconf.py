"""
`manage.py nginxconf`: nginx's configuration for bin/web, in gunicorn's run directory.

conf/nginx*.conf are nginx's own syntax with ${NAME} placeholders for the values nginx shares
with gunicorn (conf/gunicorn.conf.py: socket, run directory, timeouts, CPUs) and with Django
(settings: static and media paths, the HTTPS redirect, the upload limit), filled in here from
that one source. The official nginx image does this with envsubst; envsubst is not in the image,
would replace nginx's own $variables unless given each name, and leaves a misspelt name empty,
where this fails naming it.
"""

import re
import runpy
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

CONF_DIR = Path(settings.BASE_DIR) / "conf"
# Capitals only: nginx's own variables ($uri, ${host}) are lower case.
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def nginx_values():
    """Each placeholder's value, from its one source."""
    gunicorn = runpy.run_path(str(CONF_DIR / "gunicorn.conf.py"))
    local_media = settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")
    return {
        "CPUS": gunicorn["cpus"],
        "RUN_DIR": gunicorn["run_dir"],
        "SOCKET_PATH": gunicorn["socket_path"],
        "GRACEFUL_TIMEOUT": gunicorn["graceful_timeout"],
        "PROXY_TIMEOUT": gunicorn["timeout"] + 5,  # 5 s longer than gunicorn: nginx.conf says why
        "MAX_BODY_BYTES": 2 * settings.IMAGE_UPLOAD_MAX_BYTES,
        "SECURE_SSL_REDIRECT": int(settings.SECURE_SSL_REDIRECT),
        "STATIC_URL": "/" + settings.STATIC_URL.lstrip("/"),
        "STATIC_ROOT": settings.STATIC_ROOT,
        "MEDIA_URL": "/" + settings.MEDIA_URL.lstrip("/"),
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        # With S3 (or any other storage), Django answers /media/ as it does any other path.
        "MEDIA_CONF": "nginx-media.conf" if local_media else "nginx-proxy.conf",
    }


def render(values):
    """{file name: text} for each conf/nginx*.conf, its placeholders filled in."""
    files = {}
    for source in sorted(CONF_DIR.glob("nginx*.conf")):
        text = source.read_text()
        unknown = sorted(set(PLACEHOLDER.findall(text)) - values.keys())
        if unknown:
            raise CommandError(f"conf/{source.name}: no value for {', '.join(unknown)} (nginxconf.nginx_values)")
        files[source.name] = PLACEHOLDER.sub(lambda match: str(values[match[1]]), text)
    return files


class Command(BaseCommand):
    help = "Write conf/nginx*.conf, filled in, to gunicorn's run directory; print it and gunicorn's socket."

    def handle(self, *args, **options):
        values = nginx_values()
        run_dir = Path(values["RUN_DIR"])
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, text in render(values).items():
            (run_dir / name).write_text(text)
        self.stdout.write(f"{run_dir} {values['SOCKET_PATH']}")
