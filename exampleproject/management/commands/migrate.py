"""
`manage.py migrate`, made safe to run twice at once.

A deploy's release step may run on two machines at the same time (a retried deploy, two
instances starting). Django's migrate is not safe then: both would apply the same
migration. This wraps it in a lock held on the database itself (a PostgreSQL advisory
lock, a MariaDB/MySQL named lock, a file lock beside a SQLite database), so the second
one waits, then finds nothing left to do.
"""

import contextlib
import fcntl
import zlib

from django.core.management.commands import migrate
from django.db import connections

LOCK_NAME = "exampleproject.migrate"
PG_LOCK_KEY = zlib.crc32(LOCK_NAME.encode())  # advisory locks take a number


@contextlib.contextmanager
def migration_lock(alias):
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
            cursor.execute("SELECT GET_LOCK(%s, -1)", [LOCK_NAME])  # -1: wait as long as it takes
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
        with migration_lock(options["database"]):
            return super().handle(*args, **options)
