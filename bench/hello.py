"""The app-server ceiling: a bare WSGI callable, for gunicorn with the same workers."""


def application(environ, start_response):
    body = b"Hello, world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
