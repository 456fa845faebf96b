"""Celery beat (django-celery-beat's DatabaseScheduler) and a worker, as real processes, drive a
case past its deadline with a controlled clock, on Redis and on RabbitMQ.

The schedule is a row of ``django_celery_beat.PeriodicTask`` (every second, on the test's
queue) whose ``kwargs`` carry the clock (``{"now": ISO}``): the test moves the clock by
editing the row, exactly as an operator edits a schedule in the admin, and the running beat
reloads it. Each phase waits until beat has sent the sweep several times with the new clock
(read from beat's own log) and the worker is idle, then asserts exactly the reminders and
escalations owed so far: one outbox row per (deadline, kind, occurrence, recipient) and
channel, and one e-mail per e-mail row (counted by Message-ID), however often beat fired.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from processes.rounds.actors import ensure_user
from processes.rounds.importer import import_round
from processes.submission.services import check_completeness, submit_application
from workflow import calendar
from workflow.deadlines import REMINDER_HOUR, occurrences, working_days_before
from workflow.models import Deadline, Notification
from workflow.transitions import perform

from .test_workers import READY_TIMEOUT, REPO, Worker, quiet_database, wait_until, worker_database_url

pytestmark = [pytest.mark.django_db(transaction=True)]


class Beat:
    """One ``celery beat`` subprocess with the database scheduler, ticking at least every second."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.log = worker.tmp / "beat.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "TEST_DATABASE"))}
        env.update(CELERY_BROKER_URL=self.worker.broker_url, DATABASE_URL=worker_database_url(),
                   DJANGO_SETTINGS_MODULE="settings.settings", KELISIM_TEST_QUEUE=self.worker.queue,
                   KELISIM_VAR_DIR=str(self.worker.tmp / "var"), PYTHONUNBUFFERED="1")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tests.brokers.worker_app", "beat",
                 "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1", "-l", "info",
                 "--pidfile", str(self.worker.tmp / "beat.pid")],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"beat exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if "beat: Starting" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        pytest.fail(f"beat did not start within {READY_TIMEOUT} s:\n{self.log.read_text()[-3000:]}")

    def sends(self, name: str) -> int:
        """How many times beat has sent the periodic task ``name`` so far (from its log)."""
        return len(re.findall(rf"Sending due task {re.escape(name)} ", self.log.read_text(errors="replace")))

    def wait_sends(self, name: str, count: int, timeout: float = 40) -> None:
        """Wait until beat has sent ``name`` ``count`` times in all; fail with beat's log."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sends(name) >= count:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"beat sent {name} {self.sends(name)} times, not {count}, within {timeout} s "
                    f"(exit code {self.proc.poll()}):\n{self.log.read_text(errors='replace')[-4000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass


@pytest.fixture
def beat(worker):  # noqa: F811 - the worker fixture (tests/brokers/conftest.py)
    b = Beat(worker)
    try:
        yield b
    finally:
        b.stop()


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(REMINDER_HOUR), tzinfo=calendar._zone(calendar.TIME_ZONE))


def message_ids(mail_dir: Path) -> Counter:
    """How many times each Message-ID was e-mailed (every message in every file written)."""
    ids = Counter()
    separator = "\n" + "-" * 79 + "\n"
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_text(encoding="utf-8").split(separator):
            if chunk.strip():
                ids[str(email.message_from_string(chunk.lstrip("\n"))["Message-ID"])] += 1
    return ids


def test_beat_and_a_worker_drive_a_case_past_its_deadline(worker, beat):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    quiet_database()
    PeriodicTask.objects.update(enabled=False)
    token = uuid.uuid4().hex[:6].upper()
    coordinator = ensure_user(f"coord-{token.lower()}", "coordinator")
    rnd = _own_round(token)
    perform(rnd, "open_applications", actor=coordinator)
    application = rnd.applications.get(ref="A3")
    submit_application(application=application, actor=coordinator)
    deadline = Deadline.objects.get(chain=application.case.ref, closed_at__isnull=True, task_id__isnull=False)
    due_day = deadline.due_at.astimezone(calendar._zone(calendar.TIME_ZONE)).date()
    holders = list(get_user_model().objects.filter(groups__name="coordinator", is_active=True).order_by("pk"))
    assert holders

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    name = f"kelisim-test-sweep-{token}"
    first_clock = _at(working_days_before(due_day, 2)) - dt.timedelta(minutes=1)
    # The schedule exists (with the first clock) before beat starts: django-celery-beat takes
    # its change marker's baseline at its first check after the initial read, so a change
    # saved in between would only be seen at its 5-minute full sync.
    periodic = PeriodicTask.objects.create(name=name, task="workflow.jobs.sweep_deadlines", interval=every_second,
                                           queue=worker.queue, kwargs=json.dumps({"now": first_clock.isoformat()}))
    beat.start()
    owed: set[str] = set()

    def move_clock_to(now: dt.datetime) -> None:
        if json.loads(periodic.kwargs)["now"] != now.isoformat():
            periodic.kwargs = json.dumps({"now": now.isoformat()})
            periodic.save()
        sent_before = beat.sends(name)
        beat.wait_sends(name, sent_before + 3)
        deadline.refresh_from_db()
        if deadline.closed_at is None:
            for occ in occurrences(deadline, now):
                for user in holders:
                    owed.add(f"deadline:{deadline.pk}:{occ.kind}:{occ.occurrence}:{user.pk}")
        wait_until(lambda: set(Notification.objects.filter(channel="email", status="sent")
                               .values_list("key", flat=True)) >= owed, "the owed e-mails", worker=worker)
        worker.wait_idle()

    def assert_exactly_owed() -> None:
        rows = list(Notification.objects.filter(key__startswith=f"deadline:{deadline.pk}:")
                    .values_list("key", "channel", "status"))
        assert Counter((k, c) for k, c, _ in rows) == Counter({(k, c): 1 for k in owed for c in ("in_app", "email")})
        assert {s for _, c, s in rows if c == "email"} <= {"sent"}
        mailed = message_ids(worker.mail_dir)
        assert sum(mailed.values()) == len(owed) and set(mailed.values()) <= {1}

    # 1. A minute before the "-2" reminder is due: beat fires, nothing is owed, nothing is sent.
    move_clock_to(first_clock)
    assert owed == set()
    assert_exactly_owed()
    # 2. The "-2" reminder: one per coordinator, however often beat fires.
    move_clock_to(_at(working_days_before(due_day, 2)))
    assert {key.split(":")[2:4] == ["reminder", "-2"] for key in owed} == {True}
    assert_exactly_owed()
    # 3. One working day after the due day: the work is overdue, the first escalation goes out.
    move_clock_to(_at(calendar.add_working_days(due_day, 1)))
    assert any(":escalation:1:" in key for key in owed)
    assert_exactly_owed()
    application.refresh_from_db()
    assert application.state == "submitted"  # reminders and escalations never move the case
    # 4. The work is done; later beats owe nothing more.
    check_completeness(application=application, actor=coordinator)
    move_clock_to(_at(calendar.add_working_days(due_day, 5)))
    deadline.refresh_from_db()
    assert deadline.closed_at is not None
    assert_exactly_owed()


def _own_round(token: str):
    """The sample round under a code of this test's own (a fresh round, cases and deadlines)."""
    import tempfile

    doc = json.loads((REPO / "samples" / "pilot-selection-2017.json").read_text(encoding="utf-8"))
    doc["round"]["code"] = f"TC-BEAT-{token}"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump(doc, handle, ensure_ascii=False)
    try:
        return import_round(handle.name).round
    finally:
        os.unlink(handle.name)
