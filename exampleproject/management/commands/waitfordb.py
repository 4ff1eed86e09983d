"""`manage.py waitfordb`, run by bin/boot and bin/release: the database may come up after the app, so this
waits for it, logging what it waits for (never the password); bin/boot's --release-on-start then migrates."""

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections


def describe(database):
    """Engine and address, no credentials."""
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite3 at {database['NAME']}"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{engine} at {database.get('HOST') or 'localhost'}{port}/{database['NAME']}"


class Command(BaseCommand):
    help = "Wait up to DATABASE_WAIT_TIMEOUT seconds for the database to answer; exit 1 if it does not."

    def add_arguments(self, parser):
        parser.add_argument("--release-on-start", action="store_true", help="then migrate if RELEASE_ON_START")

    def handle(self, *args, release_on_start, **options):
        timeout = settings.DATABASE_WAIT_TIMEOUT
        connection = connections["default"]
        where = describe(connection.settings_dict)
        started = next_log = time.monotonic()
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                break
            except Exception as exc:
                elapsed = time.monotonic() - started
                problem = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
                if elapsed >= timeout:
                    raise CommandError(
                        f"the database ({where}) did not answer within {timeout:g} s; last error: {problem}"
                    ) from None  # the message says it all; a traceback would bury it
                if time.monotonic() >= next_log:
                    self.stderr.write(
                        f"waitfordb: waiting for the database ({where}): {problem} [{elapsed:.0f}/{timeout:g} s]"
                    )
                    next_log += 5
                time.sleep(min(0.5, timeout - elapsed))
            finally:
                connection.close()
        if next_log > started:  # the wait was logged, so is its end
            self.stderr.write(f"waitfordb: the database ({where}) is up after {time.monotonic() - started:.1f} s")
        if release_on_start and settings.RELEASE_ON_START:
            self.stderr.write("waitfordb: RELEASE_ON_START: applying migrations before serving")
            call_command("migrate_with_lock", interactive=False)
