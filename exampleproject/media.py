"""
Uploaded files from MEDIA_ROOT, when the storage is the local filesystem: served by nginx
in the image (conf/nginx-media.conf, written from MEDIA_HEADERS), and by the view below
wherever nothing is in front of Django (runserver; gunicorn alone on a PORT platform).
"""

from django.conf import settings
from django.views.decorators.http import require_http_methods
from django.views.static import serve

# The headers of every uploaded file served from MEDIA_ROOT, by this view or by nginx.
MEDIA_HEADERS = {
    # An upload's name is never reused for other content (apps name files at random, as the
    # example app's image_path does): cache for a year.
    "Cache-Control": "public, max-age=31536000, immutable",
    # Never sniffed as another type, never rendered as a page, whatever a file holds.
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


@require_http_methods(["GET", "HEAD"])
def media(request, path):
    """A file from MEDIA_ROOT, with the headers nginx sends for it."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    for name, value in MEDIA_HEADERS.items():
        response[name] = value
    return response
