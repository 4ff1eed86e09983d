"""
`manage.py waitfordb`: wait until the database accepts connections, for a bounded time.

bin/boot (the web process) and bin/release run it first, because on a fresh `docker-compose up` or a
platform restart the database may come up after the app. It logs what it waits for
(never the password), and fails with one clear line when the time is up.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections


def describe(database):
    """The database as an operator recognises it: engine and address, no credentials."""
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite3 at {database['NAME']}"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{engine} at {database.get('HOST') or 'localhost'}{port}/{database['NAME']}"


class Command(BaseCommand):
    help = "Wait until the default database accepts connections; exit 1 after --timeout seconds."

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout",
            type=float,
            default=settings.DATABASE_WAIT_TIMEOUT,
            help="seconds to wait (default: DATABASE_WAIT_TIMEOUT, %(default)s)",
        )

    def handle(self, *args, timeout, **options):
        connection = connections["default"]
        where = describe(connection.settings_dict)
        started = time.monotonic()
        next_log = started
        waited = False
        while True:
            try:
                connection.ensure_connection()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except Exception as exc:
                connection.close()
                elapsed = time.monotonic() - started
                problem = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                if elapsed >= timeout:
                    raise CommandError(
                        f"the database ({where}) did not answer within {timeout:g} s; last error: {problem}"
                    ) from None  # the message says it all; a traceback would bury it
                waited = True
                if time.monotonic() >= next_log:
                    self.stderr.write(
                        f"waitfordb: waiting for the database ({where}): {problem} [{elapsed:.0f}/{timeout:g} s]"
                    )
                    next_log += 5
                time.sleep(min(0.5, max(0.0, timeout - elapsed)))
            else:
                connection.close()
                if waited:  # the wait was logged, so is its end
                    self.stderr.write(
                        f"waitfordb: the database ({where}) is up after {time.monotonic() - started:.1f} s"
                    )
                return
