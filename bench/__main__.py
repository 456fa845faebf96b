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
  (``Implementation`` suspend/resume: each step also closes one task and opens the next).
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


def _time(n: int, step) -> float:
    start = time.perf_counter()
    for i in range(n):
        step(i)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=2000, help="transitions per measurement (even)")
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
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    vendor = connection.vendor
    print(f"{'metric':<28} {'value':>12}  (database: {vendor}, {n} transitions each)")
    print("-" * 60)
    for name, value in figures.items():
        print(f"{name:<28} {value:>12}")
    out = REPO / "var" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update(figures)
    out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    print(f"written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
