"""`manage.py worker` (bin/worker): django-tasks-db's db_worker, with each task run inside the transaction
that claims it (docs/decisions.md, "The task queue"):

- at least once: a worker killed mid-task (SIGKILL, a lost node) holds an open transaction, which the
  database rolls back when its connection drops, so the task is ready again for the next worker; db_worker
  would leave it marked running for good;
- never twice at once: the task's row stays locked (SELECT ... FOR UPDATE SKIP LOCKED) until it is done;
- its writes and its result commit together: an email recorded as sent is one whose task succeeded.

The price: a task holds a transaction for as long as it runs, so tasks must be short (seconds); on SQLite
(development) that transaction blocks every other write meanwhile. SIGTERM lets the running task finish;
a second SIGTERM, or SIGKILL, cuts it off and it runs again. One log line per task: name, id, outcome,
duration (db_worker's signals, which log two lines and a traceback, are not sent). Finished tasks stay
in the admin KEEP_FINISHED_DAYS, then the worker deletes them (at start, then hourly), so the table
does not grow with every task ever run, on a platform with no scheduler as on one with."""

import datetime
import logging
import time

from django.db import OperationalError, close_old_connections, transaction
from django.utils import timezone
from django_tasks_db.compat import TaskContext
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from exampleproject.tasks import Retry

logger = logging.getLogger("exampleproject.worker")

KEEP_FINISHED_DAYS = 14  # django-tasks-db's prune_db_task_results default
PRUNE_EVERY_SECONDS = 3600


class Worker(db_worker.Worker):
    def run(self):
        logger.info("worker %s: queues %s", self.worker_id, ",".join(self.queue_names))
        pruned_at = None
        while self.running:
            close_old_connections()  # a connection older than CONN_MAX_AGE, or broken, is replaced
            if pruned_at is None or time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                self.prune()
                pruned_at = time.monotonic()
            tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
            if not self.process_all_queues:
                tasks = tasks.filter(queue_name__in=self.queue_names)
            if self.excluded_queue_names:
                tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
            claimed = locked = None
            try:
                with exclusive_transaction(tasks.db):
                    claimed = tasks.get_locked()
                    if claimed is not None:
                        claimed.claim(self.worker_id)
                        self.run_task(claimed, tasks.db)
            except OperationalError as exc:
                # SQLite busy, or MariaDB's lock wait timeout: another worker holds the lock; try again.
                if not is_locked_database_exception(exc):
                    raise
                locked = True
            if self.batch and claimed is None and not locked:
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                return
            if self.running and claimed is None:
                time.sleep(self.interval)

    def prune(self):
        """Deletes the tasks finished more than KEEP_FINISHED_DAYS ago; several workers may, harmlessly."""
        cutoff = timezone.now() - datetime.timedelta(days=KEEP_FINISHED_DAYS)
        finished = DBTaskResult.objects.finished().filter(backend_name=self.backend_name, finished_at__lt=cutoff)
        if deleted := finished.delete()[0]:
            logger.info(
                "worker %s: deleted %d tasks finished over %d days ago", self.worker_id, deleted, KEEP_FINISHED_DAYS
            )

    def run_task(self, db_result, using):
        started = time.monotonic()
        name, outcome, level = db_result.task_path, "SUCCESSFUL", logging.INFO
        self.running_task = True
        try:
            task = db_result.task
            name, result = task.name, db_result.task_result
            args = (TaskContext(task_result=result), *result.args) if task.takes_context else result.args
            with transaction.atomic(using=using):  # a failing task's writes roll back, not its result's
                value = task.call(*args, **result.kwargs)
            db_result.set_successful(value)
        except (KeyboardInterrupt, SystemExit):
            outcome, level = "INTERRUPTED: it runs again", logging.WARNING
            raise  # a forced stop: the claim rolls back, and the task is ready again
        except Exception as exc:
            db_result.set_failed(exc)
            outcome, level = f"FAILED ({type(exc).__name__}: {exc})", logging.ERROR
            if isinstance(exc, Retry):
                run_after = timezone.now() + datetime.timedelta(seconds=exc.after)
                again = task.using(run_after=run_after).enqueue(*result.args, **{**result.kwargs, **exc.kwargs})
                cause = exc.__cause__ or exc
                outcome, level = f"FAILED ({type(cause).__name__}: {cause}), {exc} as {again.id}", logging.WARNING
        finally:
            self.running_task = False
            self._run_tasks += 1
            logger.log(level, "task %s id=%s %s in %.3f s", name, db_result.id, outcome, time.monotonic() - started)


class Command(db_worker.Command):
    help = "Run the tasks the app enqueues, each in the transaction that claims it; SIGTERM stops after the current one"

    def handle(self, **options):
        db_worker.Worker = Worker  # db_worker's handle() builds its module's Worker: this process runs ours
        super().handle(**options)
