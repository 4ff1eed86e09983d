from django.apps import AppConfig


class ExampleappConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "exampleapp"
    verbose_name = "Guestbook"
