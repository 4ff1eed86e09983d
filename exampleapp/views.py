import logging

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods
from django.views.static import serve

from exampleapp.forms import EntryForm
from exampleapp.models import Entry
from exampleapp.notifications import notify_admins_of
from exampleproject.services import STORAGE_ERRORS

logger = logging.getLogger(__name__)

ENTRIES_PER_PAGE = 10


@require_http_methods(["GET", "HEAD", "POST"])
def index(request):
    """The guestbook: the latest entries, a page at a time, and the form to sign it."""
    status = 200
    if request.method == "POST":
        form = EntryForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                with transaction.atomic():
                    entry = form.save()
            except STORAGE_ERRORS as exc:
                # The image could not be stored (S3 unreachable, a full disk): nothing is
                # saved, and the form comes back with what was typed and a clear message.
                logger.warning("storage unavailable for an image upload: %s: %s", type(exc).__name__, exc)
                form.add_error("image", "The image could not be stored just now. Your name and message "
                                        "are kept below: please attach the image again in a moment.")
                status = 503
            else:
                notify_admins_of(entry)
                messages.success(request, f"Thank you for signing, {entry.name}!")
                # Post/redirect/get: reloading the page does not sign twice.
                return redirect("exampleapp:index")
    else:
        form = EntryForm()
    page = Paginator(Entry.objects.all(), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "exampleapp/index.html", {"form": form, "page": page}, status=status)


@require_http_methods(["GET", "HEAD"])
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask every site for /favicon.ico (the admin's pages name no icon): send them
    to the hashed SVG. Not permanent: the hashed name changes when the file does."""
    return redirect(static("exampleapp/favicon.svg"))


# The headers of every uploaded file served from MEDIA_ROOT, by this view or by nginx
# (conf/nginx-media.conf is rendered from this list).
MEDIA_HEADERS = {
    # Names are random and never reused (exampleapp.models.image_path): cache for a year.
    "Cache-Control": "public, max-age=31536000, immutable",
    # Never sniffed as another type, never rendered as a page, whatever a file holds.
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


@require_http_methods(["GET", "HEAD"])
def media(request, path):
    """Uploaded images from MEDIA_ROOT, when nothing in front serves /media/ (runserver;
    gunicorn alone on a PORT platform). In the image, nginx serves them with the same
    headers and Django never sees /media/."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    for name, value in MEDIA_HEADERS.items():
        response[name] = value
    return response
