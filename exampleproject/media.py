"""Uploaded files from MEDIA_ROOT, when stored on disk, wherever nothing is in front of Django (runserver,
gunicorn alone on a PORT platform); in the image nginx serves them, with the same headers."""

from django.conf import settings
from django.views.decorators.http import require_http_methods
from django.views.static import serve

from exampleproject.web import MEDIA_HEADERS


@require_http_methods(["GET", "HEAD"])
def media(request, path):
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    for name, value in MEDIA_HEADERS.items():
        response[name] = value
    return response
