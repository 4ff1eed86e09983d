"""
Email the site's ADMINS when someone signs the guestbook.

Sent after the entry is committed, from a background thread: a slow or failing mail
server (EMAIL_TIMEOUT bounds each attempt) never delays or fails the visitor's request.
A failure is logged. Nothing is sent when ADMINS is empty.
"""

import logging
import threading

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction

logger = logging.getLogger(__name__)


def notify_admins_of(entry):
    if not settings.ADMINS:
        return
    # One line: a name that carries CR/LF must not inject mail headers.
    subject = "New guestbook entry from " + " ".join(entry.name.split())
    body = f"{entry.name} signed the guestbook:\n\n{entry.message}\n"
    transaction.on_commit(lambda: threading.Thread(target=send, args=(subject, body), daemon=True).start())


def send(subject, body):
    try:
        mail_admins(subject, body)
    except Exception as exc:
        logger.warning("could not email the admins about a new entry: %s: %s", type(exc).__name__, exc)
