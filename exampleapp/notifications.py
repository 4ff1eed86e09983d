"""
Email the site's ADMINS when someone signs the guestbook: a task, enqueued in the transaction that saves
the entry (no entry without its email, no email for an entry rolled back) and sent by the worker
(bin/worker), so the request never waits for the mail server and no email is lost with a web process.

At least once, and once where it can be: the send is recorded on the entry in the transaction that runs
the task (exampleproject/management/commands/worker.py), so a task run again finds it sent. Only a worker
killed after the mail server accepted the email, and before that commit, sends it twice.
A mail server that refuses or does not answer (EMAIL_TIMEOUT bounds each attempt) is tried again after
RETRY_DELAYS; each failed attempt is a failed task in the admin (Task results), with its error.
Nothing is sent when ADMINS is empty.
"""

import smtplib

from django.conf import settings
from django.core.mail import mail_admins
from django.utils import timezone
from django_tasks import task

from exampleapp.models import Entry
from exampleproject.tasks import Retry

# Seconds before each further attempt: a mail server down for up to 45 minutes loses nothing.
RETRY_DELAYS = (1, 5, 30, 120, 600, 1800)


def notify_admins_of(entry):
    """Enqueue the email; call it inside the transaction that saves `entry`."""
    if settings.ADMINS:
        email_admins.enqueue(entry.pk)


@task()
def email_admins(entry_id, attempt=1):
    # Locked until the task's transaction ends: a second task for the entry waits, then finds it sent.
    entry = Entry.objects.select_for_update().filter(pk=entry_id).first()
    if entry is None:
        return "entry deleted"
    if entry.admins_emailed_at:
        return "already sent"
    # One line: a name that carries CR/LF must not inject mail headers.
    subject = "New guestbook entry from " + " ".join(entry.name.split())
    body = f"{entry.name} signed the guestbook (entry {entry.pk}):\n\n{entry.message}\n"
    try:
        mail_admins(subject, body)
    except (smtplib.SMTPException, OSError) as exc:
        if attempt > len(RETRY_DELAYS):
            raise
        raise Retry(RETRY_DELAYS[attempt - 1], attempt=attempt + 1) from exc
    entry.admins_emailed_at = timezone.now()
    entry.save(update_fields=["admins_emailed_at"])
    return "sent"
