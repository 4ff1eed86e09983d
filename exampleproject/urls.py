"""
URL configuration for exampleproject.

The probes /healthz and /readyz are answered by exampleproject.health.HealthCheckMiddleware
before URL routing, so that they bypass ALLOWED_HOSTS and the HTTPS redirect.
"""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from exampleproject.media import media

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("exampleapp.urls")),
]

# Images on the local filesystem (STORAGE_URL unset or file://): nginx serves /media/ in
# the image; this route serves them wherever nothing is in front of Django.
if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    urlpatterns.append(path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media, name="media"))
