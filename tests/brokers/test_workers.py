"""A real Celery worker on a real broker: deadlines swept, e-mail sent once, even after a crash.

Each test starts ``celery worker --pool=solo`` as a subprocess (its own process group, killed
in a finalizer) on Redis and on RabbitMQ, with the test's database and a file e-mail backend
writing to the test's temporary directory. The test process publishes the tasks with
``apply_async`` through the project's Celery app switched to the broker (eager off), then polls
the database. The worker uses the real clock, so the expected messages are computed with
``workflow.deadlines.occurrences`` at the real time, before and after the run; if a 09:00
Almaty boundary falls in between (a few seconds a day) the test is skipped, not guessed.

Each test has its own queue (``KELISIM_TEST_QUEUE``, see ``worker_app.py``), deleted at the end.
"""

from __future__ import annotations

import datetime as dt
import email
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import kombu.pools
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from workflow import calendar
from workflow.deadlines import occurrences, open_deadline, working_days_before
from workflow.models import Deadline, Notification

pytestmark = [pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
ALMATY = calendar.TIME_ZONE
READY_TIMEOUT = 40
WAIT_TIMEOUT = 40


# --------------------------------------------------------------------------- the worker


def worker_database_url() -> str:
    """A DATABASE_URL for the subprocess that opens the test database (not the main one)."""
    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(sd["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("the SQLite test database is in memory; tests/brokers/conftest.py should make it a file")
        return f"sqlite:///{name}"
    if connection.vendor == "postgresql":
        auth = sd["USER"] or ""
        if sd.get("PASSWORD"):
            auth += f":{sd['PASSWORD']}"
        return f"postgres://{auth}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{sd['NAME']}"
    pytest.skip(f"no worker database URL for {connection.vendor}")


class Worker:
    """One ``celery worker`` subprocess on ``queue``; ``start``/``kill``/``stop``."""

    def __init__(self, app, broker_url: str, queue: str, tmp: Path):
        self.app, self.broker_url, self.queue, self.tmp = app, broker_url, queue, tmp
        self.mail_dir = tmp / "mail"
        self.mail_dir.mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def node(self) -> str:
        return f"{self.queue}-{self.starts}@{socket_host()}"

    def start(self) -> None:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "TEST_DATABASE"))}
        env.update(CELERY_BROKER_URL=self.broker_url, DATABASE_URL=worker_database_url(),
                   DJANGO_SETTINGS_MODULE="settings.settings", KELISIM_TEST_QUEUE=self.queue,
                   EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                   EMAIL_FILE_PATH=str(self.mail_dir), KELISIM_VAR_DIR=str(self.tmp / "var"),
                   MEDIA_ROOT=str(self.tmp / "media"), PYTHONUNBUFFERED="1")
        self.log = self.tmp / f"worker-{self.starts}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tests.brokers.worker_app", "worker", "--pool=solo",
                 "-Q", self.queue, "-n", self.node, "--without-mingle", "--without-gossip", "--without-heartbeat",
                 "-l", "warning"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the worker exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if self.app.control.ping(destination=[self.node], timeout=0.5):
                return
        self.stop()
        pytest.fail(f"the worker did not answer a ping within {READY_TIMEOUT} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (a crash: no warm shutdown, no ack)."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass

    def idle(self) -> bool:
        """Nothing left in the queue, and nothing running or prefetched by the worker."""
        from amqp.exceptions import ChannelError

        try:
            with self.app.connection_for_write() as conn, conn.channel() as channel:
                if channel.queue_declare(queue=self.queue, passive=True).message_count:
                    return False
        except ChannelError:  # Redis: an emptied queue's list no longer exists
            pass
        inspect = self.app.control.inspect(destination=[self.node], timeout=2.0)
        active, reserved = inspect.active(), inspect.reserved()
        if active is None or reserved is None:
            return False
        return not active.get(self.node) and not reserved.get(self.node)

    def wait_idle(self, timeout: float = WAIT_TIMEOUT) -> None:
        """Wait until the worker is idle twice in a row (everything sent has been processed)."""
        end, streak = time.monotonic() + timeout, 0
        while time.monotonic() < end:
            streak = streak + 1 if self.idle() else 0
            if streak >= 2:
                return
            time.sleep(0.3)
        pytest.fail(f"the worker was still busy after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def send(self, name: str) -> None:
        from workflow import jobs

        getattr(jobs, name.rsplit(".", 1)[-1]).apply_async(queue=self.queue)

    def delete_queue(self) -> None:
        try:
            with self.app.connection_for_write() as conn, conn.channel() as channel:
                channel.queue_delete(queue=self.queue)
        except Exception:  # noqa: BLE001 - cleanup only
            pass


def socket_host() -> str:
    import socket

    return socket.gethostname()


@pytest.fixture
def celery_on_broker(broker_url, settings):
    """The project's Celery app publishing to ``broker_url`` (not eager); restored afterwards."""
    from settings.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}

    def reset_pools():  # what Celery itself does after a fork: forget the cached connections
        app._pool = None
        app.amqp._producer_pool = None
        try:
            del app.control.mailbox.producer_pool
        except AttributeError:
            pass

    reset_pools()
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    yield app
    reset_pools()
    app.conf.update(saved)
    kombu.pools.reset()  # close this test's broker connections (the next test makes new pools)


@pytest.fixture
def worker(celery_on_broker, broker_url, tmp_path):
    """A started worker on a fresh queue; killed and its queue deleted at the end."""
    w = Worker(celery_on_broker, broker_url, f"kelisim-test-{uuid.uuid4().hex[:10]}", tmp_path)
    try:
        w.start()
        yield w
    finally:
        w.kill()
        w.delete_queue()


# --------------------------------------------------------------------------- data and checks


def quiet_database() -> None:
    """Close the sample cycle's deadlines and drop its notifications: only this test's count."""
    Deadline.objects.filter(closed_at__isnull=True).update(closed_at=timezone.now())
    Notification.objects.all().delete()


def make_deadlines(token: str, *, extra_owed: int = 0) -> list[Deadline]:
    """Deadlines relative to the real today (Almaty): overdue, reminders owed, not yet due, closed."""
    users = get_user_model().objects
    responsible = users.create_user(f"resp-{token}", f"resp-{token}@example.kz")
    boss = users.create_user(f"boss-{token}", f"boss-{token}@example.kz")
    today = timezone.now().astimezone(calendar._zone(ALMATY)).date()
    specs = [
        ("overdue", calendar.due_at(working_days_before(today, 10), 0)),  # an escalation is owed
        ("soon", calendar.due_at(today, 1)),  # the -2 reminder (yesterday's working day) is owed
        ("in2", calendar.due_at(today, 2)),  # the -2 reminder is owed from 09:00 today
        ("later", calendar.due_at(today, 20)),  # nothing owed yet
    ] + [(f"bulk{i}", calendar.due_at(today, 1)) for i in range(extra_owed)]
    deadlines = [open_deadline(chain=f"case-{token}", label=f"{name} {token}", due_at=due, responsible=responsible,
                               escalate_to=boss, language="en") for name, due in specs]
    closed = open_deadline(chain=f"case-{token}", label=f"closed {token}", due_at=specs[0][1],
                           responsible=responsible, escalate_to=boss, language="en")
    closed.closed_at = timezone.now()
    closed.save(update_fields=["closed_at"])
    return deadlines + [closed]


def owed_keys(deadlines: list[Deadline], now: dt.datetime) -> set[str]:
    keys = set()
    for deadline in deadlines:
        if deadline.closed_at:
            continue
        for occ in occurrences(deadline, now):
            user = deadline.escalate_to if occ.kind == "escalation" else deadline.responsible
            keys.add(f"deadline:{deadline.pk}:{occ.kind}:{occ.occurrence}:{user.pk}")
    return keys


def mail_subjects(mail_dir: Path) -> Counter:
    """How many times each subject was e-mailed (every message in every file the backend wrote)."""
    subjects = Counter()
    separator = "\n" + "-" * 79 + "\n"
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_text(encoding="utf-8").split(separator):
            if chunk.strip():
                subjects[str(email.message_from_string(chunk.lstrip("\n"))["Subject"])] += 1
    return subjects


def wait_until(check, what: str, timeout: float = WAIT_TIMEOUT, worker: Worker | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    log = worker.log.read_text()[-3000:] if worker else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{log}")


def all_email_sent(expected: set[str]):
    def check():
        rows = Notification.objects.filter(channel=Notification.Channel.EMAIL)
        return (set(rows.values_list("key", flat=True)) >= expected
                and not rows.exclude(status=Notification.Status.SENT).exists())
    return check


def assert_exactly_once(expected: set[str], mail_dir: Path, *, allow_duplicate: int = 0) -> None:
    rows = list(Notification.objects.values_list("key", "channel", "status", "subject"))
    # one in-app and one e-mail row per owed message, nothing else, every e-mail sent
    assert Counter((k, c) for k, c, _, _ in rows) == Counter(
        {(k, c): 1 for k in expected for c in (Notification.Channel.IN_APP, Notification.Channel.EMAIL)})
    assert {s for _, c, s, _ in rows if c == Notification.Channel.EMAIL} == {Notification.Status.SENT}
    subjects = {subject for _, c, _, subject in rows if c == Notification.Channel.EMAIL}
    mailed = mail_subjects(mail_dir)
    assert set(mailed) == subjects, "e-mails written do not match the e-mail rows"
    duplicates = {s: n for s, n in mailed.items() if n > 1}
    assert sum(n - 1 for n in duplicates.values()) <= allow_duplicate, f"e-mailed more than once: {duplicates}"


def expected_or_skip(deadlines, before: dt.datetime, after: dt.datetime) -> set[str]:
    expected = owed_keys(deadlines, before)
    if expected != owed_keys(deadlines, after):
        pytest.skip("a 09:00 Almaty boundary passed during the run; what was owed changed mid-test")
    assert any(":escalation:" in key for key in expected)
    assert any(":reminder:" in key for key in expected)
    return expected


# --------------------------------------------------------------------------- tests


def test_sweep_and_deliver_on_a_real_worker(worker):
    """Overdue work escalates, due-soon work is reminded, the rest is left alone; one e-mail each."""
    quiet_database()
    deadlines = make_deadlines(uuid.uuid4().hex[:8])
    before = timezone.now()
    worker.send("workflow.jobs.sweep_deadlines")
    worker.send("workflow.jobs.deliver_notifications")
    expected = owed_keys(deadlines, before)
    wait_until(all_email_sent(expected), "the owed e-mails to be sent", worker=worker)
    worker.wait_idle()
    expected = expected_or_skip(deadlines, before, timezone.now())
    assert_exactly_once(expected, worker.mail_dir)


def test_redelivered_tasks_send_nothing_twice(worker):
    """The sweep and the delivery each arrive twice (a broker redelivery): still one e-mail each."""
    quiet_database()
    deadlines = make_deadlines(uuid.uuid4().hex[:8])
    before = timezone.now()
    for name in ("sweep_deadlines", "sweep_deadlines", "deliver_notifications", "deliver_notifications"):
        worker.send(f"workflow.jobs.{name}")
    expected = owed_keys(deadlines, before)
    wait_until(all_email_sent(expected), "the owed e-mails to be sent", worker=worker)
    worker.wait_idle()
    # and once more after everything settled: a late duplicate changes nothing
    worker.send("workflow.jobs.sweep_deadlines")
    worker.send("workflow.jobs.deliver_notifications")
    worker.wait_idle()
    expected = expected_or_skip(deadlines, before, timezone.now())
    assert_exactly_once(expected, worker.mail_dir)


def test_worker_killed_mid_run_loses_and_duplicates_nothing(worker):
    """SIGKILL while the e-mail goes out, restart, run the jobs again: every message, once.

    The kill comes as soon as the first e-mail file appears, i.e. during the delivery of the
    batch (a hundred e-mails). The outbox rows are never duplicated. E-mail is at-least-once:
    a message written by the backend just before the kill, whose row had not committed yet,
    is sent again after the restart, so at most one duplicate e-mail is tolerated (see report).
    """
    quiet_database()
    deadlines = make_deadlines(uuid.uuid4().hex[:8], extra_owed=100)
    before = timezone.now()
    worker.send("workflow.jobs.sweep_deadlines")
    wait_until(lambda: any(worker.mail_dir.glob("*.log")), "the first e-mail", worker=worker)
    worker.kill()
    pending_at_kill = Notification.objects.filter(channel=Notification.Channel.EMAIL,
                                                  status=Notification.Status.PENDING).count()
    worker.start()
    # the next beat ticks (RabbitMQ also redelivers the unacknowledged delivery by itself)
    worker.send("workflow.jobs.sweep_deadlines")
    worker.send("workflow.jobs.deliver_notifications")
    expected = owed_keys(deadlines, before)
    wait_until(all_email_sent(expected), "the owed e-mails to be sent after the restart", worker=worker)
    worker.wait_idle()
    expected = expected_or_skip(deadlines, before, timezone.now())
    assert len(expected) > 100
    assert_exactly_once(expected, worker.mail_dir, allow_duplicate=1)
    # not a vacuous crash test: report how far the first worker got (visible with -rP)
    print(f"e-mail rows pending when the worker was killed: {pending_at_kill} of {len(expected)}")


def test_a_restarted_worker_sends_what_the_killed_one_left_without_being_asked(worker, monkeypatch):
    """A worker died with e-mail pending (its delivery lost with it); a new worker starts and
    nothing is queued: it queues a delivery itself (``worker_ready``, settings/celery.py), so
    the pending e-mail goes out at once, not when Redis gives a killed task back (its
    visibility timeout, an hour) or at the next periodic delivery. Every message once.

    Deterministic, whatever the machine's speed: the worker is killed first, then the rows are
    written with their delivery suppressed, as a crash between the sweep's commit and the
    delivery would leave them. (Killing in the middle of a delivery is the test above; on a
    fast machine the whole batch could be out before the kill, leaving nothing to recover.)"""
    from workflow import deadlines as module

    quiet_database()
    deadlines = make_deadlines(uuid.uuid4().hex[:8], extra_owed=20)
    before = timezone.now()
    worker.kill()
    with monkeypatch.context() as patch:  # the rows are written here, their delivery is lost
        patch.setattr(module, "_queue_delivery", lambda: None)
        assert module.sweep().created > 0
    expected = owed_keys(deadlines, before)
    assert Notification.objects.filter(channel=Notification.Channel.EMAIL,
                                       status=Notification.Status.PENDING).count() == len(expected) > 20
    worker.start()  # nothing sent to the queue
    wait_until(all_email_sent(expected), "the e-mails left pending to be sent after the restart", worker=worker)
    worker.wait_idle()
    expected = expected_or_skip(deadlines, before, timezone.now())
    assert_exactly_once(expected, worker.mail_dir)


def test_a_sweep_that_creates_nothing_delivers_the_pending_email(worker, monkeypatch):
    """Rows left pending (a delivery lost with its worker) are sent after the next sweep even
    though it creates no row: the sweep queues a delivery whenever e-mail is pending."""
    from workflow import deadlines as module

    quiet_database()
    deadlines = make_deadlines(uuid.uuid4().hex[:8])
    before = timezone.now()
    with monkeypatch.context() as patch:  # the rows are written here, their delivery is lost
        patch.setattr(module, "_queue_delivery", lambda: None)
        assert module.sweep().created > 0
    expected = owed_keys(deadlines, before)
    assert Notification.objects.filter(channel=Notification.Channel.EMAIL,
                                       status=Notification.Status.PENDING).count() == len(expected)
    worker.send("workflow.jobs.sweep_deadlines")
    wait_until(all_email_sent(expected), "the pending e-mails to be sent after a sweep", worker=worker)
    worker.wait_idle()
    expected = expected_or_skip(deadlines, before, timezone.now())
    assert_exactly_once(expected, worker.mail_dir)
