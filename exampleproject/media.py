"""
Uploaded files from MEDIA_ROOT, when the storage is the local filesystem: served by nginx
in the image (conf/nginx-media.conf), and by the view below wherever nothing is in front of
Django (runserver; gunicorn alone on a PORT platform), with the headers that file lists.
"""

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.http import require_http_methods
from django.views.static import serve

NGINX_MEDIA_CONF = settings.BASE_DIR / "conf" / "nginx-media.conf"


def media_headers(path=NGINX_MEDIA_CONF):
    """The headers of uploaded files, read from nginx's own include, their one source."""
    headers = {}
    for line in path.read_text().splitlines():
        if line.strip().startswith("add_header"):
            match = re.fullmatch(r'add_header ([\w-]+) "([^"]*)"(?: always)?;', line.strip())
            if not match:
                raise ImproperlyConfigured(f'{path.name}: expected add_header Name "value" [always];, got {line!r}')
            headers[match[1]] = match[2]
    return headers


MEDIA_HEADERS = media_headers()


@require_http_methods(["GET", "HEAD"])
def media(request, path):
    """A file from MEDIA_ROOT, with the headers nginx sends for it."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    for name, value in MEDIA_HEADERS.items():
        response[name] = value
    return response
