"""``python manage.py send_reminders [--dry-run] [--at ISO]``: sweep deadlines, deliver e-mail.

The embedded mode's replacement for Celery beat: queue the reminders and escalations due now
(exactly once each), apply the rounds' opt-in expiry rules (``workflow.deadlines.expire``)
and send the pending e-mail notifications. ``--dry-run`` lists what would be queued or
taken and writes nothing. Exit 2 for a bad ``--at``.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from workflow.deadlines import deliver, expire, sweep


class Command(BaseCommand):
    help = "Queue due reminders and escalations and send pending e-mail (embedded mode)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be sent, write nothing")
        parser.add_argument("--at", help="pretend it is this ISO time (with offset), e.g. for a check by hand")

    def handle(self, *args, dry_run=False, at=None, **options):
        now = timezone.now()
        if at:
            try:
                now = dt.datetime.fromisoformat(at)
            except ValueError as exc:
                raise CommandError(f"--at {at!r} is not an ISO date-time", returncode=2) from exc
            if timezone.is_naive(now):
                raise CommandError("--at needs a UTC offset, e.g. 2017-06-01T09:30+06:00", returncode=2)
        result = sweep(now=now, dry_run=dry_run)
        for deadline_id, kind, occurrence, username in result.owed:
            self.stdout.write(f"{kind:<10} deadline {deadline_id} #{occurrence} -> {username}")
        expired = expire(now=now, dry_run=dry_run)
        for deadline_id, transition_name in expired.taken:
            self.stdout.write(f"{'expiry':<10} deadline {deadline_id} -> {transition_name}")
        for deadline_id, transition_name, reason in expired.refused:
            self.stdout.write(f"{'expiry':<10} deadline {deadline_id} -> {transition_name} {reason}")
        if dry_run:
            self.stdout.write(f"dry run: {len(result.owed)} message(s) due, {len(expired.taken)} expiry rule(s) "
                              "due, nothing written")
            return
        delivered = deliver(now=now)
        self.stdout.write(f"queued {result.created} new message row(s); e-mail sent {delivered.sent}, "
                          f"retrying {delivered.retried}, failed {delivered.failed}")
