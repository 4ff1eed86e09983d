"""bin/release, the release step: it may run twice at once (a retried deploy, instances
migrating as they start), and each migration must still be applied exactly once."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import PRODUCTION_ENV, ROOT, fresh_database_url


@pytest.mark.engine
def test_two_releases_at_once_apply_each_migration_once(tmp_path):
    """Both runs succeed on a fresh database of the suite's engine; the lock makes the
    second wait, then find nothing left to do."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        **PRODUCTION_ENV,
        "DATABASE_URL": fresh_database_url("exampleproject_release", tmp_path),
        "DATA_DIR": str(tmp_path),
    }
    runs = [
        subprocess.Popen(
            ["bin/release"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    both = "".join(outputs)
    applied = [line.split()[1] for line in both.splitlines() if line.strip().startswith("Applying ")]
    from tests.servers import apps_with_migrations

    assert {f"{app}.0001_initial..." for app in apps_with_migrations()} <= set(applied)
    assert len(applied) == len(set(applied)), both  # none twice
    assert sum("No migrations to apply." in output for output in outputs) == 1, both


@pytest.mark.django_db
def test_mariadb_lock_waits_in_rounds_and_says_so(monkeypatch):
    """MariaDB's GET_LOCK cannot wait forever (a negative timeout returns NULL at once), so
    the lock is taken in rounds: a release behind another one waits, logging, then goes on."""
    import threading

    from django.db import connection

    from exampleproject.management.commands import migrate_with_lock

    if connection.vendor != "mysql":
        pytest.skip("MariaDB/MySQL only: the suite runs on " + connection.vendor)
    monkeypatch.setattr(migrate_with_lock, "MYSQL_WAIT_SECONDS", 1)
    import pymysql

    settings = connection.settings_dict
    holder = pymysql.connect(
        user=settings["USER"], password=settings["PASSWORD"] or "", host=settings["HOST"], port=int(settings["PORT"])
    )
    with holder.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 0)", [migrate_with_lock.LOCK_NAME])
        assert cursor.fetchone() == (1,)
    threading.Timer(2.5, holder.close).start()  # the other release ends after about 2.5 s
    logged = []
    with migrate_with_lock.migration_lock("default", log=logged.append):
        pass
    assert len(logged) >= 2 and "another release holds 'exampleproject.migrate'" in logged[0]
