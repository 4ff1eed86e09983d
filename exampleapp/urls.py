from django.urls import path

from exampleapp import views

app_name = "exampleapp"

urlpatterns = [
    path("", views.index, name="index"),
    path("favicon.ico", views.favicon, name="favicon"),
]
