import functools
import logging

from django.contrib import messages
from django.core.cache import caches
from django.core.cache.backends.base import InvalidCacheBackendError
from django.core.paginator import Paginator
from django.core.signals import setting_changed
from django.db import connections, transaction
from django.db.models import Count, Window
from django.dispatch import receiver
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils import timezone, translation
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods

from exampleapp.forms import EntryForm
from exampleapp.models import Entry
from exampleapp.notifications import notify_admins_of
from exampleproject.middleware import STORAGE_ERRORS

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
                    notify_admins_of(entry)  # enqueued in the entry's transaction: both or neither
            except STORAGE_ERRORS as exc:
                # The image could not be stored (S3 unreachable, a full disk): nothing is
                # saved, and the form comes back with what was typed and a clear message.
                logger.warning("storage unavailable for an image upload: %s: %s", type(exc).__name__, exc)
                form.add_error(
                    "image",
                    "The image could not be stored just now. Your name and message "
                    "are kept below: please attach the image again in a moment.",
                )
                status = 503
            else:
                messages.success(request, f"Thank you for signing, {entry.name}!")
                # Post/redirect/get: reloading the page does not sign twice.
                return redirect("exampleapp:index")
    page, entries_key = page_of_entries(request.GET.get("page"))
    return render(
        request,
        "exampleapp/index.html",
        {
            # What a visitor typed, and its errors, on every request; the blank form once.
            "form_html": form_fields_html(form) if form else blank_form_html(),
            "page": page,
            "entries_key": entries_key,
            "entries_seconds": ENTRIES_SECONDS,
        },
        status=status,
    )


def blank_form_html():
    """The unsigned form's fields, rendered once per process: they are the same for every
    visitor (the CSRF token, per request, is outside them). Invalidated by a new process (a
    deploy: the code and settings that render them), and by a setting changed (in tests)."""
    page_parts = caches["page_parts"]
    html = page_parts.get(BLANK_FORM_KEY)
    if html is None:
        html = form_fields_html(EntryForm())
        page_parts.set(BLANK_FORM_KEY, html, None)
    return html


def form_fields_html(form):
    return render_to_string("exampleapp/entry_form.html", {"form": form})


def page_of_entries(requested):
    """The page of entries asked for, as Paginator.get_page finds it (page 1 for anything but
    a whole number, the last page for one past the end), and the key its rendering is cached
    under: what it is rendered from. That is the number of entries (the pagination), the page's
    number, every column of its rows, and the time zone and language its dates are written in.
    Any insert, edit or delete, however it is made (the form, the admin, SQL), changes the key,
    so nothing has to invalidate the cache, and every process sees the change at its next
    request. The page's objects are only built on a miss, when the template iterates it.

    Usually one query: the page's rows, each beside the count of all entries (page_rows_sql).
    COUNT runs alone only when that finds no rows: no entries yet, or a page past the end.
    (On a miss the template reads the objects with a query of their own: a change landing
    between the two is cached under the older key, which the next request no longer asks
    for, unless the rows return to exactly that state within ENTRIES_SECONDS.)"""
    paginator = Paginator(Entry.objects.all(), ENTRIES_PER_PAGE)
    try:
        number = int(requested)
    except (TypeError, ValueError):
        number = 1
    # Past page 10,000 (a huge OFFSET may overflow the database's integer) or below 1,
    # Paginator checks the number against the count first.
    rows = page_rows(number) if 1 <= number <= 10_000 else []
    if rows:
        paginator.count = rows[0][0]  # Paginator's cached_property, known: no COUNT
        page = paginator.page(number)
    else:
        page = paginator.get_page(requested)
        rows = page_rows(page.number)
    key_rows = [row[1:] for row in rows]
    return page, [
        paginator.count,
        page.number,
        key_rows,
        timezone.get_current_timezone_name(),
        translation.get_language(),
    ]


def page_rows(number):
    sql, params = page_rows_sql(number)
    with connections[Entry.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# The 100 pages most recently asked for, a few hundred bytes each: readers rarely go far back.
@functools.lru_cache(maxsize=100)
def page_rows_sql(number):
    """The SQL (and parameters) of page `number`'s rows, as the database returns them (they are
    only compared), each with the count of all entries beside it (COUNT(*) OVER ()). Built by
    the ORM once per process and page: building it cost more CPU than running it. Invalidated
    by a new process only: the SQL depends on nothing but the code."""
    columns = [field.attname for field in Entry._meta.concrete_fields]
    start = (number - 1) * ENTRIES_PER_PAGE
    rows = Entry.objects.annotate(total=Window(Count("*"))).values_list("total", *columns)
    return rows[start : start + ENTRIES_PER_PAGE].query.sql_with_params()


@receiver(setting_changed)
def forget_what_settings_rendered(setting, **kwargs):
    """Settings change only in tests; what was rendered under the old ones is dropped."""
    try:
        caches["page_parts"].clear()
    except InvalidCacheBackendError:  # a test's CACHES without it
        pass


@require_http_methods(["GET", "HEAD"])
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask every site for /favicon.ico (the admin's pages name no icon): send them
    to the hashed SVG. Not permanent: the hashed name changes when the file does."""
    return redirect(static("exampleapp/favicon.svg"))
