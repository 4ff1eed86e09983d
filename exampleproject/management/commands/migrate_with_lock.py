"""
`manage.py migrate_with_lock`: Django's `migrate`, holding a lock while it runs.

A deploy's release step may run on two machines at the same time (a retried deploy,
instances migrating as they start: RELEASE_ON_START). Django's migrate is not safe then:
both would apply the same migration. This holds a lock on the database itself (a
PostgreSQL advisory lock, a MariaDB/MySQL named lock, a file lock beside a SQLite
database), so the second run waits, then finds nothing left to do. It takes migrate's
options; Django's own `migrate` stays as it is, for development.
"""

import contextlib
import fcntl
import zlib

from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import connections

LOCK_NAME = "exampleproject.migrate"
PG_LOCK_KEY = zlib.crc32(LOCK_NAME.encode())  # advisory locks take a number
# MariaDB's GET_LOCK has no "wait forever" (a negative timeout returns NULL at once, where
# MySQL waits): wait in rounds of this many seconds, saying so between them.
MYSQL_WAIT_SECONDS = 30


def mysql_get_lock(cursor, log):
    while True:
        cursor.execute("SELECT GET_LOCK(%s, %s)", [LOCK_NAME, MYSQL_WAIT_SECONDS])
        (got,) = cursor.fetchone()
        if got == 1:
            return
        if got is None:  # an error, not a time-out: never migrate without the lock
            raise CommandError(f"could not take the migration lock {LOCK_NAME!r} (GET_LOCK returned NULL)")
        log(f"migrate_with_lock: another release holds {LOCK_NAME!r}; still waiting")


@contextlib.contextmanager
def migration_lock(alias, log=lambda message: None):
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [PG_LOCK_KEY])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [PG_LOCK_KEY])
    elif connection.vendor == "mysql":
        with connection.cursor() as cursor:
            mysql_get_lock(cursor, log)
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [LOCK_NAME])
    elif connection.vendor == "sqlite" and not connection.is_in_memory_db():
        with open(f"{connection.settings_dict['NAME']}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
    else:
        yield


class Command(migrate.Command):
    help = migrate.Command.help + " Holds a database lock while it runs, so concurrent runs apply each migration once."

    def handle(self, *args, **options):
        with migration_lock(options["database"], log=self.stderr.write):
            return super().handle(*args, **options)
