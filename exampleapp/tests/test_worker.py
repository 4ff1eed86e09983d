"""The admins' email as a task (exampleapp/notifications.py), run by real worker processes
(manage.py worker) against a real SMTP server (aiosmtpd), on the suite's database engine
(DATABASE_URL: PostgreSQL, MariaDB, or SQLite unset): a web process or a worker killed, a mail
server down, two workers at once. Delivery is at least once; these runs deliver exactly once."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from exampleapp.tests.test_notifications import sign
from tests.servers import PRODUCTION_ENV, ROOT, free_port, fresh_database_url, gunicorn

pytestmark = pytest.mark.engine  # the queue locks rows as each engine allows (slow: conftest.py)


class Mailbox:
    """aiosmtpd on `host`:`port`: keeps what it accepts. While `hold` is set, a message is answered
    only when it is cleared, and then refused (451): the sender never saw it accepted."""

    def __init__(self, port=None, host="127.0.0.1"):
        from aiosmtpd.controller import Controller

        self.port, self.messages, self.offered, self.hold = port or free_port(), [], 0, threading.Event()
        self.delay, self.url = 0, f"smtp://{host}:{self.port}"
        self.controller = Controller(self, hostname=host, port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):
        self.offered += 1
        if self.hold.is_set():
            while self.hold.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 held, try again"
        await asyncio.sleep(self.delay)
        self.messages.append(envelope.content.decode())
        return "250 OK"

    def subjects(self):
        return sorted(line for m in self.messages for line in m.splitlines() if line.startswith("Subject:"))

    def stop(self):
        self.controller.stop()


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


@pytest.fixture
def site(tmp_path, service_env):
    """A fresh, migrated database on the suite's engine, and the variables its processes need."""
    env = {
        "PATH": os.environ["PATH"],
        **PRODUCTION_ENV,
        "STATIC_ROOT": service_env["STATIC_ROOT"],
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": fresh_database_url("exampleproject_worker", tmp_path),
        "ADMINS": "ops@example.com",
        "DEFAULT_FROM_EMAIL": "guestbook@example.com",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    return env


class Workers:
    """manage.py worker processes, each killed at the end whatever happens (the fixture)."""

    def __init__(self):
        self.processes = []

    def start(self, env, *args):
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.2", "--no-startup-delay", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


@pytest.fixture
def workers():
    started = Workers()
    yield started
    started.stop_all()


def manage(env, code):
    """Python run by `manage.py shell` against the site's database; returns its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def sign_entries(env, names):
    """Entries saved, each with its email enqueued in its transaction, as the form does."""
    manage(
        env,
        "from django.db import transaction\n"
        "from exampleapp.models import Entry\n"
        "from exampleapp.notifications import notify_admins_of\n"
        f"for name in {list(names)!r}:\n"
        "    with transaction.atomic():\n"
        "        notify_admins_of(Entry.objects.create(name=name, message='Hello by mail'))\n",
    )


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def emailed_once(mailbox, *names, seconds=60):
    """Waits for the admins' email about each of `names`' entries: one each, and no other."""
    wait_for(lambda: len(mailbox.messages) >= len(names), seconds)
    time.sleep(2)  # time enough for a second send to arrive
    expected = sorted(f"Subject: [exampleproject] New guestbook entry from {name}" for name in names)
    assert mailbox.subjects() == expected
    assert all("To: ops@example.com" in message for message in mailbox.messages)


def smtp_env(site, mailbox):
    return {**site, "EMAIL_URL": mailbox.url}


def task_rows(env):
    """(status, number of workers that claimed it) of every task, as the worker left them."""
    out = manage(
        env,
        "from django_tasks_db.models import DBTaskResult\n"
        "for row in DBTaskResult.objects.order_by('enqueued_at'): print(row.status, len(row.worker_ids))",
    )
    return [(status, int(count)) for status, count in (line.split() for line in out.splitlines())]


def test_a_post_is_emailed_by_the_worker_even_if_the_web_process_is_killed(site, mailbox, workers):
    env = smtp_env(site, mailbox)
    with gunicorn(env) as port:
        assert sign(port, name="Mail Tester")[0] == 302
        # The response came: the entry and its task are committed. Nothing is sent from the web.
        gunicorn_pids = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
        for pid in gunicorn_pids.stdout.split():
            os.kill(int(pid), signal.SIGKILL)
    time.sleep(0.5)
    assert mailbox.messages == []
    worker = workers.start(env)
    wait_for(lambda: mailbox.messages)
    assert mailbox.subjects() == ["Subject: [exampleproject] New guestbook entry from Mail Tester"]
    assert "To: ops@example.com" in mailbox.messages[0] and "Hello by mail" in mailbox.messages[0]
    wait_for(lambda: task_rows(env) == [("SUCCESSFUL", 1)])
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    log = worker.stdout.read()
    assert " INFO exampleproject.worker: task email_admins id=" in log and " SUCCESSFUL in " in log, log
    emailed = manage(env, "from exampleapp.models import Entry; print(Entry.objects.get().admins_emailed_at)")
    assert emailed.strip() != "None"


def test_a_worker_killed_mid_task_leaves_it_to_the_next(site, mailbox, workers):
    env = smtp_env(site, mailbox)
    mailbox.hold.set()  # the first delivery hangs in DATA, the worker waiting for the reply
    sign_entries(env, ["Ada"])
    first = workers.start(env)
    wait_for(lambda: mailbox.offered == 1)
    first.kill()  # SIGKILL, mid-task: its transaction is rolled back by the database
    first.wait(timeout=10)
    mailbox.hold.clear()
    workers.start(env)
    wait_for(lambda: mailbox.messages)
    time.sleep(1)
    assert mailbox.subjects() == ["Subject: [exampleproject] New guestbook entry from Ada"]
    assert task_rows(env) == [("SUCCESSFUL", 1)]  # the killed claim left no trace


def test_sigterm_lets_the_running_task_finish(site, mailbox, workers):
    env = smtp_env(site, mailbox)
    mailbox.delay = 2  # the mail server takes 2 s to accept
    sign_entries(env, ["Grace"])
    worker = workers.start(env)
    wait_for(lambda: mailbox.offered == 1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert mailbox.subjects() == ["Subject: [exampleproject] New guestbook entry from Grace"]
    assert task_rows(env) == [("SUCCESSFUL", 1)]


def test_mail_server_down_then_up_every_email_arrives_once(site, workers):
    port = free_port()  # nothing listens there yet: connection refused
    env = {**site, "EMAIL_URL": f"smtp://127.0.0.1:{port}"}
    names = ["Ada", "Grace", "Linus"]
    sign_entries(env, names)
    worker = workers.start(env)
    time.sleep(3)  # the first attempts and the 1 s retries fail; the next wait 5 s
    mailbox = Mailbox(port)
    try:
        wait_for(lambda: len(mailbox.messages) >= 3, seconds=30)
        time.sleep(1)
        assert mailbox.subjects() == [f"Subject: [exampleproject] New guestbook entry from {n}" for n in names]
    finally:
        mailbox.stop()
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)
    rows = task_rows(env)
    assert [row for row in rows if row[0] == "SUCCESSFUL"] == [("SUCCESSFUL", 1)] * 3
    assert {row[0] for row in rows} == {"SUCCESSFUL", "FAILED"} and len(rows) >= 6
    log = worker.stdout.read()
    assert "FAILED (ConnectionRefusedError: [Errno 111] Connection refused), run again in 1 s as " in log


def test_a_rolled_back_transaction_enqueues_nothing(site):
    out = manage(
        site,
        "from django.db import transaction\n"
        "from django_tasks_db.models import DBTaskResult\n"
        "from exampleapp.models import Entry\n"
        "from exampleapp.notifications import notify_admins_of\n"
        "try:\n"
        "    with transaction.atomic():\n"
        "        notify_admins_of(Entry.objects.create(name='Ada', message='Hi'))\n"
        "        print(DBTaskResult.objects.count())\n"
        "        raise RuntimeError\n"
        "except RuntimeError:\n"
        "    pass\n"
        "print(Entry.objects.count(), DBTaskResult.objects.count())\n",
    )
    assert out.split() == ["1", "0", "0"]


def test_two_workers_never_run_the_same_task(site, mailbox, workers):
    """Each task is claimed under a row lock (PostgreSQL and MariaDB: FOR UPDATE SKIP LOCKED; SQLite
    locks the whole database, so its workers take turns) and sent once."""
    env = smtp_env(site, mailbox)
    mailbox.delay = 0.1
    names = [f"Signer {i:02}" for i in range(20)]
    sign_entries(env, names)
    for _ in range(2):
        workers.start(env)
    wait_for(lambda: len(mailbox.messages) >= len(names), seconds=60)
    time.sleep(1)
    assert mailbox.subjects() == [f"Subject: [exampleproject] New guestbook entry from {n}" for n in names]
    assert task_rows(env) == [("SUCCESSFUL", 1)] * len(names)


def test_the_worker_deletes_tasks_finished_long_ago(site, workers):
    """The queue's table keeps a finished task KEEP_FINISHED_DAYS for the admin, then the worker deletes
    it: one finished 15 days ago goes, one finished yesterday and one not yet run stay."""
    sign_entries(site, ["Old", "Recent", "Waiting"])
    manage(
        site,
        "import datetime\n"
        "from django.utils import timezone\n"
        "from django_tasks_db.models import DBTaskResult\n"
        "old, recent, _ = DBTaskResult.objects.order_by('enqueued_at')\n"
        "for row, days in ((old, 15), (recent, 1)):\n"
        "    DBTaskResult.objects.filter(pk=row.pk).update(\n"
        "        status='SUCCESSFUL', finished_at=timezone.now() - datetime.timedelta(days=days))\n",
    )
    # A queue with nothing in it, once through (--batch): the worker prunes, runs nothing, and exits.
    worker = workers.start(site, "--queue-name", "nothing-queued", "--batch")
    output = worker.communicate(timeout=60)[0]
    assert "deleted 1 tasks finished over 14 days ago" in output, output
    assert sorted(status for status, _ in task_rows(site)) == ["READY", "SUCCESSFUL"]
