from django.db import models
from django.db.models import Q


class Entry(models.Model):
    """One signature in the guestbook."""

    name = models.CharField(max_length=100)
    message = models.TextField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

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
