"""URLs for the error-report tests (Sentry, ADMINS): the site's own, plus views that fail."""

from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


def boom(request):
    return 1 / 0


urlpatterns = [path("boom/", boom), path("boom-post/", csrf_exempt(boom)), path("", include("exampleproject.urls"))]
