"""`manage.py nginxconf`: conf/nginx*.conf with each ${NAME} filled in from its one home (exampleproject/web.py,
settings), and nginx-media.conf, written to the run directory for bin/web (docs/decisions.md, "nginxconf")."""

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from exampleproject import web

CONF_DIR = settings.BASE_DIR / "conf"
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")  # capitals: nginx's own $variables are lower case


def nginx_values():
    return {
        "CPUS": web.CPUS,
        "RUN_DIR": web.RUN_DIR,
        "SOCKET_PATH": web.SOCKET_PATH,
        "GRACEFUL_TIMEOUT": web.GRACEFUL_TIMEOUT,
        "PROXY_TIMEOUT": web.TIMEOUT + 5,
        "PROBES": " ".join(f"{path} 1;" for path in web.PROBES),
        "MAX_BODY_BYTES": 2 * settings.IMAGE_UPLOAD_MAX_BYTES,
        "SECURE_SSL_REDIRECT": int(settings.SECURE_SSL_REDIRECT),
        # The key limit_req counts by: the client's address for a POST; "" (not counted) otherwise.
        "POST_LIMIT_KEY": "$binary_remote_addr" if web.POSTS_PER_MINUTE else '""',
        "POSTS_PER_MINUTE": max(1, web.POSTS_PER_MINUTE),
        "POST_BURST": web.POST_BURST,
        "POST_AT_ONCE": web.POST_AT_ONCE,
        # The balancer's networks: realip believes their PROXY headers; a `geo` block marks their connections.
        "REAL_IP_FROM": " ".join(f"set_real_ip_from {network};" for network in web.BALANCER_IPS),
        "BALANCER_IPS": " ".join(f"{network} 0;" for network in web.BALANCER_IPS),
        # A `hostnames` map's entries (.example.com: it and its subdomains, as in Django).
        "ALLOWED_HOSTS": "default 1;"
        if "*" in settings.ALLOWED_HOSTS
        else " ".join(["default 0;", *(f'"{host.lower()}" 1;' for host in settings.ALLOWED_HOSTS)]),
        "STATIC_URL": settings.STATIC_URL,
        "STATIC_ROOT": settings.STATIC_ROOT,
        "MEDIA_URL": settings.MEDIA_URL,
    }


def render(values):
    """{file name: text}: each conf/nginx*.conf filled in, and nginx-media.conf for MEDIA_URL."""
    files = {}
    for source in sorted(CONF_DIR.glob("nginx*.conf")):
        text = source.read_text()
        if unknown := sorted(set(PLACEHOLDER.findall(text)) - values.keys()):
            raise CommandError(f"conf/{source.name}: no value for {', '.join(unknown)} (nginxconf.nginx_values)")
        files[source.name] = PLACEHOLDER.sub(lambda match: str(values[match[1]]), text)
    # Files on disk with the media view's headers; else Django answers MEDIA_URL like any other path.
    # Cached only when found; the rest on nginx's error pages too.
    always = {name: "" if name == "Cache-Control" else " always" for name in web.MEDIA_HEADERS}
    headers = [f'add_header {name} "{value}"{always[name]};' for name, value in web.MEDIA_HEADERS.items()]
    media = [f"alias {settings.MEDIA_ROOT}/;", *headers] if settings.MEDIA_ON_DISK else ["include nginx-proxy.conf;"]
    files["nginx-media.conf"] = "\n".join(media) + "\n"
    return files


class Command(BaseCommand):
    help = "Write conf/nginx*.conf, filled in, to the run directory; print it and gunicorn's socket."

    def handle(self, *args, **options):
        run_dir = Path(web.RUN_DIR)
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, text in render(nginx_values()).items():
            (run_dir / name).write_text(text)
        self.stdout.write(f"{run_dir} {web.SOCKET_PATH}")
