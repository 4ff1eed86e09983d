"""
Jobs per second the database task queue (django-tasks-db, run by manage.py worker) sustains on
PostgreSQL, with 1 and 4 workers: JOBS no-op tasks enqueued, then the workers started with --batch
(each exits when the queue is empty). The rate is jobs over the span from the first task's start to
the last one's end, as the queue recorded them, so the workers' start-up is not counted. What a task
does is not measured: this is the queue's own cost (claim, run, record, in one transaction each).

    .venv/bin/python bench/tasks.py [--jobs 2000]   # PostgreSQL on 127.0.0.1:5432 or BENCH_DATABASE_URL

Bounded: each round gives up after TIMEOUT seconds, and its workers are killed whatever happens.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180

if __name__ != "__main__":
    from django_tasks import task

    @task()
    def noop(number):
        return number


def manage(env, *args, **kwargs):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, **kwargs)


def enqueue(env, jobs):
    code = (
        "from django.db import transaction\n"
        "from django_tasks_db.models import DBTaskResult\n"
        "from bench.tasks import noop\n"
        "DBTaskResult.objects.all().delete()\n"
        "with transaction.atomic():\n"
        f"    for number in range({jobs}):\n"
        "        noop.enqueue(number)\n"
    )
    manage(env, "shell", "-v0", "-c", code, timeout=TIMEOUT)


def span(env):
    """(tasks done, seconds from the first start to the last finish) as the queue recorded them."""
    code = (
        "from django.db.models import Count, Max, Min\n"
        "from django_tasks_db.models import DBTaskResult\n"
        "r = DBTaskResult.objects.filter(status='SUCCESSFUL').aggregate(n=Count('id'), a=Min('started_at'), "
        "b=Max('finished_at'))\n"
        "print(r['n'], (r['b'] - r['a']).total_seconds())\n"
    )
    out = manage(env, "shell", "-v0", "-c", code, capture_output=True, text=True, timeout=60).stdout.split()
    return int(out[0]), float(out[1])


def round_of(env, jobs, workers):
    enqueue(env, jobs)
    command = [sys.executable, "manage.py", "worker", "--batch", "--interval", "0", "--no-startup-delay", "-v0"]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(workers)]
    try:
        for process in processes:
            process.wait(timeout=TIMEOUT)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    done, seconds = span(env)
    assert done == jobs, f"{done} of {jobs} tasks done"
    return jobs / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.servers import PRODUCTION_ENV, fresh_database_url

    default = "postgres://postgres@127.0.0.1:5432/postgres"
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", default)  # fresh_database_url reads it
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ["PATH"],
            **PRODUCTION_ENV,
            "DATA_DIR": tmp,
            "LOG_LEVEL": "WARNING",  # a line per task would cost the workers more than the queue does
            "DATABASE_URL": fresh_database_url("exampleproject_bench_tasks", Path(tmp)),
        }
        assert env["DATABASE_URL"].startswith("postgres"), "PostgreSQL only: set BENCH_DATABASE_URL"
        manage(env, "migrate", "-v0", timeout=TIMEOUT)
        for workers in (1, 4):
            rate = round_of(env, args.jobs, workers)
            print(f"{workers} worker(s): {rate:.0f} jobs/s ({args.jobs} no-op tasks)", flush=True)


if __name__ == "__main__":
    main()
