"""URLs for the Sentry test: the site's own, plus a view that fails."""

from django.urls import include, path


def boom(request):
    return 1 / 0


urlpatterns = [path("boom/", boom), path("", include("exampleproject.urls"))]
