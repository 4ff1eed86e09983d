"""The project's URLs, and the page as it was before at bench.before.BEFORE_PATH."""

from django.urls import path

from bench.before import BEFORE_PATH, views
from exampleproject.urls import urlpatterns as project_urlpatterns

urlpatterns = [path(BEFORE_PATH.strip("/") + "/", views.index), *project_urlpatterns]
