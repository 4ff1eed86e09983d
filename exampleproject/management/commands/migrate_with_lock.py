"""`manage.py migrate_with_lock`: Django's `migrate` holding a lock on the database, so that two releases at once
(a retried deploy, RELEASE_ON_START) apply each migration once: the second waits, then finds nothing left to do."""

import contextlib
import fcntl
import zlib

from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import connections

LOCK_NAME = "exampleproject.migrate"
# MariaDB's GET_LOCK cannot wait forever (a negative timeout returns NULL at once): it waits in rounds.
MYSQL_WAIT_SECONDS = 30


@contextlib.contextmanager
def migration_lock(alias, log=lambda message: None):
    """A PostgreSQL advisory lock, a MariaDB/MySQL named lock, or a file lock beside a SQLite database."""
    connection = connections[alias]
    key = zlib.crc32(LOCK_NAME.encode())  # advisory locks take a number
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        with open(f"{connection.settings_dict['NAME']}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        elif connection.vendor == "mysql":
            while True:
                cursor.execute("SELECT GET_LOCK(%s, %s)", [LOCK_NAME, MYSQL_WAIT_SECONDS])
                (got,) = cursor.fetchone()
                if got == 1:
                    break
                if got is None:  # an error, not a time-out: never migrate without the lock
                    raise CommandError(f"could not take the migration lock {LOCK_NAME!r} (GET_LOCK returned NULL)")
                log(f"migrate_with_lock: another release holds {LOCK_NAME!r}; still waiting")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            elif connection.vendor == "mysql":
                cursor.execute("SELECT RELEASE_LOCK(%s)", [LOCK_NAME])


class Command(migrate.Command):
    help = migrate.Command.help + " Holds a database lock while it runs, so concurrent runs apply each migration once."

    def handle(self, *args, **options):
        with migration_lock(options["database"], log=self.stderr.write):
            return super().handle(*args, **options)
