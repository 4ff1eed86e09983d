import uuid

from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, pre_save
from django.dispatch import receiver


def image_path(entry, filename):
    """A random name under entries/: nothing of the visitor's file name is kept, no two
    uploads collide, and a name never changes meaning (so it may be cached for good)."""
    extension = filename.rsplit(".", 1)[-1].lower()
    return f"entries/{uuid.uuid4().hex}.{extension}"


class Entry(models.Model):
    """One signature in the guestbook."""

    name = models.CharField(max_length=100)
    message = models.TextField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Optional; checked and re-encoded by the form (exampleapp/images.py). Its size is
    # kept, so pages give <img> its width and height without reading the file.
    image = models.ImageField(upload_to=image_path, blank=True, width_field="image_width", height_field="image_height")
    image_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    image_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # When the admins were emailed about it (exampleapp/notifications.py): a task run twice sends once.
    admins_emailed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "entries"
        constraints = [
            # The form strips blanks and requires both; the database holds to it as well.
            models.CheckConstraint(condition=~Q(name=""), name="entry_name_not_empty"),
            models.CheckConstraint(condition=~Q(message=""), name="entry_message_not_empty"),
        ]

    def __str__(self):
        return f"{self.name} ({self.created_at:%Y-%m-%d %H:%M})"


def _delete_after_commit(storage, name):
    transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=Entry)
def delete_image(sender, instance, **kwargs):
    """A deleted entry takes its image along, once the deletion is committed."""
    if instance.image:
        _delete_after_commit(instance.image.storage, instance.image.name)


@receiver(pre_save, sender=Entry)
def delete_replaced_image(sender, instance, **kwargs):
    """An image replaced or cleared (in the admin) is deleted once the change is committed,
    so the storage holds no file that no entry shows."""
    if instance.pk is None:
        return
    previous = sender.objects.filter(pk=instance.pk).values_list("image", flat=True).first()
    if previous and previous != instance.image.name:
        _delete_after_commit(instance.image.storage, previous)
