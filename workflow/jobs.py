"""Celery tasks of the workflow engine (sweep deadlines, deliver notifications).

``acks_late``: a task whose worker dies is redelivered; both tasks are idempotent (outbox
keys, row locks), so a redelivery sends nothing twice.
"""

from celery import shared_task


def _when(now: str | None):
    import datetime as dt

    return dt.datetime.fromisoformat(now) if now else None


@shared_task(acks_late=True, ignore_result=True)
def sweep_deadlines(now: str | None = None) -> int:
    """Queue the reminders and escalations due at ``now`` (ISO with offset; default the real
    time, which beat uses), then apply the opt-in expiry rules due by then
    (``workflow.deadlines.expire``); return how many outbox rows were created."""
    from .deadlines import expire, sweep

    when = _when(now)
    created = sweep(now=when).created
    expire(now=when)
    return created


@shared_task(acks_late=True, ignore_result=True)
def deliver_notifications(now: str | None = None) -> int:
    """Send the pending e-mail notifications due at ``now``; return how many were sent."""
    from .deadlines import deliver

    return deliver(now=_when(now)).sent
