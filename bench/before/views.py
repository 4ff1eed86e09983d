"""
The guestbook page as it was before its rendering was cached: the view and the template of
commit 246257f, verbatim but for the template's name (its base.html is unchanged, and
shared). Served only by bench.settings, at bench.before.BEFORE_PATH, never in production:
the benchmark measures it against "/" in the same processes, and exampleapp/tests/test_page_cache.py
checks that both render the same bytes for the same data.
"""

from django.core.paginator import Paginator
from django.shortcuts import render

from exampleapp.forms import EntryForm
from exampleapp.models import Entry

ENTRIES_PER_PAGE = 10


def index(request):
    """The old view: the form, bound on POST (a valid one is not saved: this reference
    only renders), and the page of entries, all rendered on every request."""
    form = EntryForm(request.POST, request.FILES) if request.method == "POST" else EntryForm()
    if form.is_bound:
        form.is_valid()
    page = Paginator(Entry.objects.all(), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "before/index.html", {"form": form, "page": page})
