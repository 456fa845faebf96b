"""Celery tasks of the workflow engine (sweep deadlines, deliver notifications).

``acks_late``: a task whose worker dies is redelivered; both tasks are idempotent (outbox
keys, row locks), so a redelivery sends nothing twice.
"""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def sweep_deadlines() -> int:
    """Queue the reminders and escalations due now; return how many rows were created."""
    from .deadlines import sweep

    return sweep().created


@shared_task(acks_late=True, ignore_result=True)
def deliver_notifications() -> int:
    """Send the pending e-mail notifications; return how many were sent."""
    from .deadlines import deliver

    return deliver().sent
