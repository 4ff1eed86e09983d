"""The admin: the project's own pages, whatever apps are installed."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_admin_requires_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_login(client, admin_password):
    login = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": admin_password})
    assert login.status_code == 302 and login["Location"] == "/admin/"
    assert "Site administration" in client.get("/admin/").content.decode()
    wrong = client.post("/admin/login/", {"username": "admin", "password": "not-the-password"})
    assert wrong.status_code == 200 and "Please enter the correct username and password" in wrong.content.decode()


def test_admin_static_files_resolve(client, admin_password):
    client.post("/admin/login/", {"username": "admin", "password": admin_password})
    page = client.get("/admin/").content.decode()
    # Manifest storage: hashed names that WhiteNoise serves with far-future caching.
    css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page).group(1)
    response = client.get(css)
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
