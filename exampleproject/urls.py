"""
URL configuration for exampleproject.

The probes /healthz and /readyz are answered by exampleapp.health.HealthCheckMiddleware
before URL routing, so that they bypass ALLOWED_HOSTS and the HTTPS redirect.
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("exampleapp.urls")),
]
