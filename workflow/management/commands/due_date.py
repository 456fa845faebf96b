"""``python manage.py due_date START N [--calendar-days]``: the deadline N days after START.

Prints the due date (ISO), the end of that day as an aware ``Asia/Almaty`` timestamp and the
non-working days of the Kazakh calendar after START up to the due date (skipped in working-day
mode, counted with ``--calendar-days``), one ``YYYY-MM-DD reason`` line each; exit 0. START is
an ISO date (``2017-03-17``) or an ISO datetime with a UTC offset (converted to its Almaty
date). Exit 2 for a START that is not ISO, an N that is not a non-negative integer, or a date
outside the years the ``holidays`` package covers. A due date in a year for which ``holidays``
knows no government transfer decree is flagged on stderr.
"""

import re
from datetime import date, datetime

import holidays
from django.core.management.base import BaseCommand, CommandError

from workflow import calendar


def _parse_start(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"START must be an ISO date (YYYY-MM-DD), got {text!r}", returncode=2) from None
    if moment.tzinfo is None:
        raise CommandError(f"START {text!r} is a datetime without a UTC offset: give a date or an offset",
                           returncode=2)
    return moment


def _parse_count(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise CommandError(f"N must be a non-negative integer, got {text!r}", returncode=2)
    n = int(text)
    if n < 0:
        raise CommandError(f"N must be a non-negative integer, got {n}", returncode=2)
    return n


class Command(BaseCommand):
    help = "Print the due date N working days (or calendar days) after START on Kazakhstan's calendar."

    def add_arguments(self, parser):
        parser.add_argument("start", metavar="START", help="ISO date, e.g. 2017-03-17")
        parser.add_argument("n", metavar="N", help="number of working days (calendar days with --calendar-days)")
        parser.add_argument("--calendar-days", action="store_true",
                            help="count calendar days instead of working days")

    def handle(self, *args, start, n, calendar_days=False, **options):
        start = _parse_start(start)
        n = _parse_count(n)
        try:
            deadline = calendar.due_at(start, n, calendar_days=calendar_days)
            first = calendar.local_date(start)
            due = deadline.date()
            # n == 0 in working-day mode moves a non-working START itself forward: list it too.
            off_days = calendar.non_working_days(first, due, include_start=n == 0 and not calendar_days)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        unit = "calendar" if calendar_days else "working"
        day_word = "day" if n == 1 else "days"
        self.stdout.write(f"due date: {due.isoformat()} ({n} {unit} {day_word} after {first.isoformat()})")
        self.stdout.write(f"due at: {deadline.isoformat()} {calendar.TIME_ZONE}")
        self.stdout.write("non-working days counted:" if calendar_days else "skipped non-working days:")
        for day, reason in off_days:
            self.stdout.write(f"  {day.isoformat()} {reason}")
        if not off_days:
            self.stdout.write("  (none)")
        if due.year > calendar.TRANSFERS_KNOWN_THROUGH:
            self.stderr.write(
                f"note: holidays {holidays.__version__} knows no government transfer of days off after "
                f"{calendar.TRANSFERS_KNOWN_THROUGH}; {due.year} uses the statutory holidays and weekend rule only"
            )
