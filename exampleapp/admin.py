from django.contrib import admin
from django.db import models

from exampleapp.images import ImageAttachmentField
from exampleapp.models import Entry


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    # Blank "emailed": the admins' email is not sent yet; its attempts are under Task Results.
    list_display = ["name", "short_message", "has_image", "created_at", "admins_emailed_at"]
    search_fields = ["name", "message"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at"]
    # Images added here are checked and re-encoded as the guestbook's form does.
    formfield_overrides = {models.ImageField: {"form_class": ImageAttachmentField}}

    @admin.display(description="message")
    def short_message(self, entry):
        return entry.message if len(entry.message) <= 60 else entry.message[:59] + "…"

    @admin.display(description="image", boolean=True)
    def has_image(self, entry):
        return bool(entry.image)
