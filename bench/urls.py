"""The project's URLs, and the page as it was before at bench.before.BEFORE_PATH."""

from django.urls import path

from bench import before
from exampleproject.urls import urlpatterns as project_urlpatterns

urlpatterns = [path(before.BEFORE_PATH.strip("/") + "/", before.index), *project_urlpatterns]
