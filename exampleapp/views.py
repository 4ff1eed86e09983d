import logging

from django.conf import settings
from django.contrib import messages
from django.core.cache import caches
from django.core.cache.backends.base import InvalidCacheBackendError
from django.core.paginator import Paginator
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils import timezone, translation
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods
from django.views.static import serve

from exampleapp.forms import EntryForm
from exampleapp.models import Entry
from exampleapp.notifications import notify_admins_of
from exampleproject.services import STORAGE_ERRORS

logger = logging.getLogger(__name__)

ENTRIES_PER_PAGE = 10
# A cached page of entries is rendered anew after this long even if no row changed: it bounds
# the age of the signed image links in it (with exampleproject/storage.py's 15 minutes of
# reuse, a link is at most 30 minutes into its hour when a page shows it).
ENTRIES_SECONDS = 15 * 60
BLANK_FORM_KEY = "guestbook:blank-form"


@require_http_methods(["GET", "HEAD", "POST"])
def index(request):
    """The guestbook: the latest entries, a page at a time, and the form to sign it."""
    status = 200
    form = None
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
    page = Paginator(Entry.objects.all(), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "exampleapp/index.html", {
        # What a visitor typed, and its errors, on every request; the blank form once.
        "form_html": form_fields_html(form) if form else blank_form_html(),
        "page": page,
        "entries_key": rows_key(page),
        "entries_seconds": ENTRIES_SECONDS,
    }, status=status)


def blank_form_html():
    """The unsigned form's fields, rendered once per process: they are the same for every
    visitor (the CSRF token, per request, is outside them). Invalidated by a new process (a
    deploy: the code and settings that render them), and by a setting changed (in tests)."""
    render_cache = caches["render"]
    html = render_cache.get(BLANK_FORM_KEY)
    if html is None:
        html = form_fields_html(EntryForm())
        render_cache.set(BLANK_FORM_KEY, html, None)
    return html


def form_fields_html(form):
    return render_to_string("exampleapp/entry_form.html", {"form": form})


def rows_key(page):
    """What the page's entries are rendered from, and so the key the rendered entries are
    cached under: the number of entries (the pagination), the page's number, every column of
    its rows, and the time zone and language its dates are written in. Any insert, edit or
    delete, however it is made (the form, the admin, SQL), changes it, so nothing has to
    invalidate the cache and every process sees the change at its next request. It costs one
    small query: the page's columns, with no objects built; the objects only on a miss."""
    columns = [field.attname for field in Entry._meta.concrete_fields]
    rows = list(page.object_list.values_list(*columns))
    return [page.paginator.count, page.number, rows, timezone.get_current_timezone_name(), translation.get_language()]


@receiver(setting_changed)
def forget_what_settings_rendered(setting, **kwargs):
    """Settings change only in tests; what was rendered under the old ones is dropped."""
    try:
        caches["render"].clear()
    except InvalidCacheBackendError:  # a test's CACHES without it
        pass


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
