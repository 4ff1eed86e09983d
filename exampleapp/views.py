from django.contrib import messages
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from exampleapp.forms import EntryForm
from exampleapp.models import Entry
from exampleapp.notifications import notify_admins_of

ENTRIES_PER_PAGE = 10


@require_http_methods(["GET", "HEAD", "POST"])
def index(request):
    """The guestbook: the latest entries, a page at a time, and the form to sign it."""
    if request.method == "POST":
        form = EntryForm(request.POST)
        if form.is_valid():
            entry = form.save()
            notify_admins_of(entry)
            messages.success(request, f"Thank you for signing, {entry.name}!")
            # Post/redirect/get: reloading the page does not sign twice.
            return redirect("exampleapp:index")
    else:
        form = EntryForm()
    page = Paginator(Entry.objects.all(), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "exampleapp/index.html", {"form": form, "page": page})


@require_http_methods(["GET", "HEAD"])
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask every site for /favicon.ico (the admin's pages name no icon): send them
    to the hashed SVG. Not permanent: the hashed name changes when the file does."""
    return redirect(static("exampleapp/favicon.svg"))
