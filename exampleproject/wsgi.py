"""The WSGI callable gunicorn serves (conf/gunicorn.conf.py), with REMOTE_ADDR the client's."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")


def with_client_address(application):
    """Behind bin/web, gunicorn listens on a unix socket that only nginx reaches, so its REMOTE_ADDR
    is empty: the client's address is nginx's X-Real-IP (from the PROXY line on 4001, the peer on
    4000), which nginx sets itself over whatever a client sent. Over TCP (bin/gunicorn) the peer stays."""

    def wsgi(environ, start_response):
        if not environ.get("REMOTE_ADDR") and environ.get("HTTP_X_REAL_IP"):
            environ["REMOTE_ADDR"] = environ["HTTP_X_REAL_IP"]
        return application(environ, start_response)

    return wsgi


application = with_client_address(get_wsgi_application())
