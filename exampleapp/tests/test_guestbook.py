"""The guestbook: listing, pagination, signing, validation, CSRF and the admin."""

import re

import pytest
from django.test import Client

from exampleapp.models import Entry
from exampleapp.views import ENTRIES_PER_PAGE
from tests.servers import csrf_token

pytestmark = pytest.mark.django_db


def sign(client, **data):
    return client.post("/", {"name": "Ada", "message": "Hello!", **data})


def names_on(response):
    return re.findall(r'<strong class="entry-name">([^<]*)</strong>', response.content.decode())


def test_empty_guestbook(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No entries yet" in response.content.decode()
    assert '<form method="post"' in response.content.decode()


def test_lists_newest_first(client):
    for name in ("first", "second", "third"):
        Entry.objects.create(name=name, message="hi")
    assert names_on(client.get("/")) == ["third", "second", "first"]


def test_pagination(client):
    for number in range(ENTRIES_PER_PAGE * 2 + 5):
        Entry.objects.create(name=f"guest {number}", message="hi")
    first = client.get("/")
    assert len(names_on(first)) == ENTRIES_PER_PAGE
    assert names_on(first)[0] == "guest 24"
    assert "Page 1 of 3" in first.content.decode()
    assert 'href="?page=2"' in first.content.decode()
    last = client.get("/?page=3")
    assert names_on(last) == [f"guest {n}" for n in range(4, -1, -1)]
    assert 'href="?page=2"' in last.content.decode() and "?page=4" not in last.content.decode()
    # Out-of-range and non-numeric pages fall back to the last and first page.
    assert names_on(client.get("/?page=99")) == names_on(last)
    assert names_on(client.get("/?page=abc")) == names_on(first)


def test_signing_redirects_and_shows_the_entry(client):
    response = sign(client, name="  Grace  ", message="Nice site.\nSee you!")
    assert response.status_code == 302
    assert response["Location"] == "/"
    entry = Entry.objects.get()
    assert (entry.name, entry.message) == ("Grace", "Nice site.\nSee you!")
    page = client.get("/").content.decode()
    assert "Thank you for signing, Grace!" in page
    assert "<p>Nice site.<br>See you!</p>" in page
    # The confirmation is shown once.
    assert "Thank you for signing" not in client.get("/").content.decode()


@pytest.mark.parametrize(
    "data, field, error",
    [
        ({"name": ""}, "name", "Please enter your name."),
        ({"name": "   "}, "name", "Please enter your name."),
        ({"message": ""}, "message", "Please write a message."),
        ({"message": " \n "}, "message", "Please write a message."),
        ({"name": "n" * 101}, "name", "Please keep your name to 100 characters (it has 101)."),
        ({"message": "m" * 1001}, "message", "Please keep your message to 1000 characters (it has 1001)."),
    ],
)
def test_validation_errors_shown_in_the_form(client, data, field, error):
    response = sign(client, **data)
    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(rf'<ul class="errorlist" id="id_{field}_errors"><li>{re.escape(error)}</li>', page)
    assert not Entry.objects.exists()


def test_limits_are_inclusive(client):
    assert sign(client, name="n" * 100, message="m" * 1000).status_code == 302
    assert Entry.objects.count() == 1


def test_input_kept_after_an_error(client):
    page = sign(client, name="Linus", message="").content.decode()
    assert 'value="Linus"' in page


def test_html_is_shown_escaped(client):
    sign(client, name="<b>bold</b>", message="<script>alert(1)</script>")
    page = client.get("/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_csrf_enforced():
    browser = Client(enforce_csrf_checks=True, headers={"X-Forwarded-Proto": "https"})
    refused = browser.post("/", {"name": "Mallory", "message": "forged"})
    assert refused.status_code == 403
    assert not Entry.objects.exists()
    # A real browser first loads the form, which carries the token.
    form = browser.get("/").content.decode()
    token = csrf_token(form)
    accepted = browser.post(
        "/",
        {"name": "Alice", "message": "real", "csrfmiddlewaretoken": token},
        headers={"Referer": "https://testserver/"},
    )
    assert accepted.status_code == 302
    assert Entry.objects.get().name == "Alice"


def test_other_methods_refused(client):
    assert client.put("/").status_code == 405
    assert client.delete("/").status_code == 405


# --- the admin -----------------------------------------------------------------------


def test_admin_requires_login(client):
    response = client.get("/admin/exampleapp/entry/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_login_list_and_add(client, admin_password):
    login = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": admin_password})
    assert login.status_code == 302 and login["Location"] == "/admin/"
    Entry.objects.create(name="Listed", message="a" * 80)
    changelist = client.get("/admin/exampleapp/entry/?q=Listed").content.decode()
    assert "Listed" in changelist
    assert "a" * 59 + "…" in changelist
    added = client.post("/admin/exampleapp/entry/add/", {"name": "From admin", "message": "Added there."})
    assert added.status_code == 302
    assert Entry.objects.filter(name="From admin").exists()


def test_favicon_ico_redirects_to_the_hashed_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert re.fullmatch(r"/static/exampleapp/favicon\.[0-9a-f]{12}\.svg", response["Location"])
    assert "max-age=86400" in response["Cache-Control"]
    assert client.get(response["Location"]).status_code == 200
