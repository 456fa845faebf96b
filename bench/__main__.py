"""``make bench``: audited transitions through ``perform`` against bare django-fsm transitions.

Runs on a throw-away test database of the configured backend (SQLite in memory by default,
PostgreSQL when ``DATABASE_URL`` points at one), prints a table and writes ``var/bench.json``
(metric name -> value):

* ``transitions_per_s``: ``perform`` on a two-state model (``bench.models.BenchItem``):
  permission and condition checks, save, hash-chained audit entry;
* ``bare_transitions_per_s``: the same transitions as a bare django-fsm call and save, in a
  transaction each (the baseline);
* ``transition_overhead_ratio``: perform's time per transition / the bare one's (goal <= 2);
* ``task_transitions_per_s``: ``perform`` on a model whose steps are human tasks
  (``Implementation`` suspend/resume: each step also closes one task and opens the next);
* ``reminder_sweep_s_100k``: one ``workflow.deadlines.sweep`` over 100,000 open deadlines (due
  days spread from two weeks overdue to three months ahead, so that about 15% owe a reminder
  or an escalation now; ``reminder_messages`` outbox rows are written; goal < 2 s on PostgreSQL);
* ``reminder_duplicates``: after those rows are removed, three sweeps at the same instant run
  concurrently (threads with their own connections; one after another on SQLite): the number
  of ``(key, channel)`` pairs queued more than once (must be 0), and
  ``reminder_concurrent_created`` the rows they created together (must equal
  ``reminder_messages``). Delivery is not part of the measurement: the task the sweep queues
  after commit (``deliver_notifications``) is replaced by a no-op here.
* ``inbox_p95_ms``, ``case_page_p95_ms``, ``work_page_p95_ms`` (and p50, query counts, a
  ``baseline_`` of each before the load data, printed beside it; ``scale_*`` sizes): the scale
  check of ``bench/scale.py``, the inbox, the case page and the coordinator's work page with
  many cases and audit entries (10,000 cases on PostgreSQL and 2,000
  on SQLite by default; ``--scale`` or ``BENCH_SCALE=1``: 100,000 cases and 2,000,000
  entries; ``--scale-cases N``; ``--scale-cases 0`` skips it); see ``docs/scale.md``.
* ``render_docs_per_s``, ``plain_docxtpl_docs_per_s``, ``render_speedup``: Kelisim's cached
  renderer against a plain docxtpl render that opens the template file for every document,
  on the same mix of documents (every kind and language), after checking that both give the
  same text (``render_outputs_validated`` documents compared; goal: speed-up >= 3); see
  ``bench/render.py`` (``--render-docs`` documents per renderer; no database involved).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.settings")
os.environ["KELISIM_BENCH"] = "1"  # installs the bench app and its model


def _setup():
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "sqlite":  # never clash with a test run's database
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "test_kelisim_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    return connection


def _subjects():
    from bench.models import BenchItem
    from processes.implementation.models import Implementation
    from processes.rounds.actors import ensure_user
    from processes.rounds.importer import import_round
    from workflow.tasks import follow_up

    rnd = import_round(REPO / "samples" / "pilot-selection-2017.json").round
    coordinator = ensure_user("coordinator", "coordinator")
    implementation = Implementation.objects.create(case=rnd.cases.first(), started_on=dt.date(2018, 1, 1))
    follow_up(implementation)
    return BenchItem.objects.create(), BenchItem.objects.create(), implementation, coordinator


#: Open deadlines of the sweep measurement, and the instant of the sweeps (a Wednesday, Almaty).
SWEEP_DEADLINES = 100_000
SWEEP_NOW = dt.datetime(2024, 11, 20, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))


def _deadlines(n: int) -> None:
    """``n`` open deadlines in bulk: 200 responsible users (90%) or the queue of a role with five
    holders (10%); escalation to a named user or to the coordinators; due days every working day
    from about two weeks before :data:`SWEEP_NOW` to about three months after it."""
    from django.contrib.auth import get_user_model

    from processes.rounds.actors import ensure_user
    from workflow import calendar
    from workflow.models import Deadline

    users = get_user_model()
    users.objects.bulk_create([users(username=f"bench-{i}", email=f"bench-{i}@example.kz", password="!")
                               for i in range(200)], batch_size=5000)
    people = list(users.objects.filter(username__startswith="bench-").order_by("pk"))
    for i in range(5):
        ensure_user(f"bench-queue-{i}", "expert")
    start = SWEEP_NOW.date() - dt.timedelta(days=14)
    due_days = [calendar.due_at(start, k) for k in range(80)]  # about 10 of them are before SWEEP_NOW
    rows = (Deadline(chain=f"BENCH/{i % 1000}", label=f"Bench step {i}", due_at=due_days[i % len(due_days)],
                     responsible=None if i % 10 == 0 else people[i % len(people)],
                     role="expert" if i % 10 == 0 else "", escalate_to=people[(i * 7) % len(people)] if i % 2 else None,
                     reminder_offsets=[-2, 0], escalate_every=2, language=("ru", "kk", "en")[i % 3])
            for i in range(n))
    Deadline.objects.bulk_create(rows, batch_size=5000)


def _sweep_figures() -> dict:
    """Time one sweep over :data:`SWEEP_DEADLINES` deadlines, then three concurrent ones."""
    import threading
    from unittest import mock

    from django.db import connection
    from django.db.models import Count

    from workflow.deadlines import sweep
    from workflow.models import Deadline, Notification

    _deadlines(SWEEP_DEADLINES)
    ours = Notification.objects.filter(key__startswith="deadline:")
    with mock.patch("workflow.deadlines._queue_delivery"):
        start = time.perf_counter()
        first = sweep(now=SWEEP_NOW)
        sweep_s = time.perf_counter() - start
        assert first.created == ours.count()
        ours.delete()
        results, errors = [], []

        def run():
            try:
                results.append(sweep(now=SWEEP_NOW).created)
            except Exception as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
            finally:
                if threading.current_thread() is not threading.main_thread():
                    connection.close()

        start = time.perf_counter()
        if connection.vendor == "sqlite":  # one in-memory database: the sweeps run one after another
            for _ in range(3):
                run()
        else:
            threads = [threading.Thread(target=run) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        concurrent_s = time.perf_counter() - start
    if errors:
        raise errors[0]
    duplicates = ours.values("key", "channel").annotate(n=Count("pk")).filter(n__gt=1).count()
    # the sweep's deadlines and messages are not part of what the scale check measures next
    ours.delete()
    Deadline.objects.filter(chain__startswith="BENCH/").delete()
    return {
        "reminder_sweep_s_100k": round(sweep_s, 2),
        "reminder_messages": first.created,
        "reminder_owed": len(first.owed),
        "reminder_concurrent_s": round(concurrent_s, 2),
        "reminder_concurrent_created": sum(results),
        "reminder_duplicates": duplicates,
    }


def _time(n: int, step) -> float:
    start = time.perf_counter()
    for i in range(n):
        step(i)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=2000, help="transitions per measurement (even)")
    parser.add_argument("--render-docs", type=int, default=360, help="documents per renderer (bench/render.py)")
    parser.add_argument("--scale", action="store_true", default=os.environ.get("BENCH_SCALE") == "1",
                        help="scale check at 100,000 cases and 2,000,000 audit entries (also BENCH_SCALE=1; "
                             "bench/scale.py)")
    parser.add_argument("--scale-cases", type=int, default=None,
                        help="cases of the scale check (default 10,000 on PostgreSQL, 2,000 on SQLite; 0: skip)")
    parser.add_argument("--scale-requests", type=int, default=200, help="timed requests per page of the scale check")
    args = parser.parse_args(argv)
    connection = _setup()
    from django.db import transaction

    from workflow.transitions import perform

    try:
        bare_obj, audited_obj, implementation, actor = _subjects()
        names = ("forward", "back")

        def bare(i):
            with transaction.atomic():
                getattr(bare_obj, names[i % 2])()
                bare_obj.save()

        def audited(i):
            perform(audited_obj, names[i % 2], actor=actor)

        def with_tasks(i):
            perform(implementation, ("suspend", "resume")[i % 2], actor=actor)

        n = args.transitions - args.transitions % 2
        _time(50, bare), _time(50, audited), _time(10, with_tasks)  # warm-up
        bare_s, audited_s = _time(n, bare), _time(n, audited)
        tasks_n = max(2, n // 10 - (n // 10) % 2)
        tasks_s = _time(tasks_n, with_tasks)
        figures = {
            "transitions_per_s": round(n / audited_s, 1),
            "bare_transitions_per_s": round(n / bare_s, 1),
            "transition_overhead_ratio": round(audited_s / bare_s, 2),
            "task_transitions_per_s": round(tasks_n / tasks_s, 1),
        }
        figures.update(_sweep_figures())
        from bench.render import render_figures

        figures.update(render_figures(args.render_docs))
        scale_cases = args.scale_cases if args.scale_cases is not None else (100_000 if args.scale else None)
        if scale_cases != 0:
            from bench.scale import scale_figures

            figures.update(scale_figures(scale_cases, requests=args.scale_requests))
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    vendor = connection.vendor
    print(f"{'metric':<28} {'value':>12} {'baseline':>12}  (database: {vendor}, {n} transitions each, "
          f"{SWEEP_DEADLINES:,} deadlines swept; baseline: the same figure before the scale "
          f"check's load data)")
    print("-" * 72)
    for name, value in figures.items():
        if name.startswith("baseline_") and name[len("baseline_"):] in figures:
            continue  # shown beside its figure
        baseline = figures.get(f"baseline_{name}", "")
        print(f"{name:<28} {value:>12} {baseline:>12}")
    out = REPO / "var" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update(figures)
    out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    print(f"written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
