"""URL configuration for exampleproject. The probes are answered before routing, by
exampleproject.middleware.HealthCheckMiddleware."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from exampleproject.media import media

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("exampleapp.urls")),
]

# nginx serves /media/ in the image; this serves it wherever nothing is in front of Django.
if settings.MEDIA_ON_DISK:
    urlpatterns.append(path(f"{settings.MEDIA_URL[1:]}<path:path>", media, name="media"))
