from django import forms

from exampleapp.images import ImageAttachmentField
from exampleapp.models import Entry


class EntryForm(forms.ModelForm):
    """Signing the guestbook: name and message required, lengths as the model allows; an
    image may be attached."""

    image = ImageAttachmentField(required=False)

    class Meta:
        model = Entry
        fields = ["name", "message", "image"]
        widgets = {
            "name": forms.TextInput(attrs={"autocomplete": "name"}),
            "message": forms.Textarea(attrs={"rows": 4}),
        }
        error_messages = {
            "name": {
                "required": "Please enter your name.",
                "max_length": "Please keep your name to %(limit_value)d characters (it has %(show_value)d).",
            },
            "message": {
                "required": "Please write a message.",
                "max_length": "Please keep your message to %(limit_value)d characters (it has %(show_value)d).",
            },
        }
