"""The WSGI callable gunicorn serves (conf/gunicorn.conf.py), with REMOTE_ADDR the client's."""

import ipaddress
import os

from django.core.wsgi import get_wsgi_application

from exampleproject import web

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")


def routers_address(forwarded_for):
    """The last X-Forwarded-For entry, the one the router wrote; the entries before are the client's
    (docs/decisions.md, "The client's address and the POST limit under bin/gunicorn")."""
    try:
        return str(ipaddress.ip_address(forwarded_for.rsplit(",", 1)[-1].strip()))
    except ValueError:
        return None


def with_client_address(application, behind_router=bool(web.GUNICORN_PORT)):
    """Behind bin/web, gunicorn listens on a unix socket that only nginx reaches, so its REMOTE_ADDR
    is empty: the client's address is nginx's X-Real-IP (from the PROXY line on 4001, the peer on
    4000), which nginx sets itself over whatever a client sent. Under bin/gunicorn the peer is the
    router, which names the client in X-Forwarded-For; without that header the peer stays."""

    def wsgi(environ, start_response):
        if behind_router:
            environ["REMOTE_ADDR"] = routers_address(environ.get("HTTP_X_FORWARDED_FOR", "")) or environ["REMOTE_ADDR"]
        elif not environ.get("REMOTE_ADDR") and environ.get("HTTP_X_REAL_IP"):
            environ["REMOTE_ADDR"] = environ["HTTP_X_REAL_IP"]
        return application(environ, start_response)

    return wsgi


application = with_client_address(get_wsgi_application())
