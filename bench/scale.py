"""The scale check of ``make bench`` (issue 7, item 6): inbox and case page response times and
query counts with many cases and a long audit history, against a baseline in the same run.

:func:`scale_figures`, on the bench's throw-away database:

1. baseline: the pages as they are before the load data (the 2017 sample round the bench
   imported: 9 cases with a handful of audit entries, a few open tasks);
2. generates the load data with :func:`processes.rounds.loadgen.generate` (``cases`` cases,
   20 audit entries per case on average, progress bars on stdout);
3. times ``requests`` GETs of each page through Django's test ``Client`` logged in as the
   coordinator ``load-coordinator`` (after ``WARMUP`` untimed ones): the inbox (first page of
   the coordinators' queue: thousands of open tasks), the case page of the case with the
   longest history (about 5,000 entries at 100,000 cases) and of an ordinary case (about 20),
   and the coordinator's work page (first page of every case, overdue first) and a deep page of it
   (:data:`DEEP_SHARE` of the way through the cases with deadlines, reached by its cursor).

Figures (milliseconds, whole-request times in the bench process, no network):
``inbox_p50_ms``, ``inbox_p95_ms``, ``case_page_p50_ms``, ``case_page_p95_ms`` (the long
history), ``case_page_typical_p95_ms``, ``work_page_p50_ms``, ``work_page_p95_ms``,
``work_page_deep_p50_ms``, ``work_page_deep_p95_ms`` (and ``work_page_deep_page``, its page
number), their ``*_queries`` counts (queries of one request), ``inbox_cpu_p50_ms``,
``case_page_cpu_p50_ms``, ``work_page_cpu_p50_ms``, ``work_page_deep_cpu_p50_ms`` (median CPU
time of the bench process per request: comparable between runs on a busy machine, where the
wall times include waiting for a core), the same figures prefixed ``baseline_``, and
``scale_cases``, ``scale_audit_entries``, ``scale_open_tasks``, ``scale_generation_s``,
``scale_database``. Goal: ``inbox_p95_ms`` < 50 at 100,000 cases on PostgreSQL.

``python -m bench.scale [--requests N]`` times the same pages on the database of
``DATABASE_URL`` as it is (no test database, nothing generated or written there), e.g. one
kept with ``generate_load_data --cases 100000 --audit-entries 2000000``: quicker when tuning
than generating the data again; it prints the figures and writes nothing.

Sizes: ``make bench`` runs at :data:`DEFAULT_CASES` (10,000 cases, 200,000 entries) on
PostgreSQL and :data:`SQLITE_CASES` (2,000 cases) on SQLite; ``BENCH_SCALE=1 make bench``
(or ``python -m bench --scale``) runs the full 100,000 cases and 2,000,000 entries (a few
minutes of generation); ``--scale-cases N`` sets any size. The figures always name the size.
"""

from __future__ import annotations

import statistics
import sys
import time

#: Sizes (cases) of the scale check: default on PostgreSQL, default on SQLite, the full check.
DEFAULT_CASES = 10_000
SQLITE_CASES = 2_000
FULL_CASES = 100_000
#: Audit entries per case on average (2,000,000 at 100,000 cases).
ENTRIES_PER_CASE = 20
WARMUP = 5


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


class count_queries:  # noqa: N801 - used as a context manager
    """Count the SQL statements run on the default connection inside the block (``.count``).

    An execute wrapper, not the debug query log: the log is reset by every request's
    ``request_started`` signal and is capped, so it can read 0 after a few requests."""

    def __enter__(self):
        from django.db import connection

        self.count = 0

        def counter(execute, sql, params, many, context):
            self.count += 1
            return execute(sql, params, many, context)

        self._wrapper = connection.execute_wrapper(counter)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        return self._wrapper.__exit__(*exc)


def _measure(client, url: str, requests: int) -> dict:
    """``{"p50", "p95", "queries"}`` of ``requests`` GETs of ``url`` (ms), after a warm-up."""
    for _ in range(WARMUP):
        assert client.get(url).status_code == 200, url
    with count_queries() as captured:
        assert client.get(url).status_code == 200, url
    samples, cpu = [], []
    for _ in range(requests):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, url
    return {"p50": round(statistics.median(samples), 1), "p95": round(_percentile(samples, 0.95), 1),
            "cpu_p50": round(statistics.median(cpu), 1), "queries": captured.count}


#: Where the deep work page is: this share of the way through the cases with an open deadline
#: (page 672 of the 960 pages of such cases at 100,000 cases).
DEEP_SHARE = 0.7


def deep_work_url(user, share: float = DEEP_SHARE) -> tuple[str, int]:
    """The work page ``share`` of the way through ``user``'s cases with an open deadline, as
    the page's "Next" link reaches it (``?cursor=``), and its page number.

    Finding the row before it uses the page-number path (an OFFSET walk: slow at scale; run once,
    not timed). Page 1 (plain URL) when there are too few cases."""
    from django.urls import reverse

    from processes.portal.roles.common import PER_PAGE
    from processes.portal.roles.coordinator import Cursor, CursorKey, work_list

    work = work_list(user=user, filters={})
    number = int(work._firsts().count() * share) // PER_PAGE + 1
    if number == 1:
        return reverse("portal:coordinator"), 1
    before = work[(number - 1) * PER_PAGE - 1:(number - 1) * PER_PAGE][0]
    cursor = Cursor(Cursor.NEXT, number, CursorKey.of(before)).encode()
    return f"{reverse('portal:coordinator')}?cursor={cursor}", number


def _pages(client, requests: int, *, long_case, typical_case, prefix: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from processes.rounds import loadgen

    figures = {}
    inbox = _measure(client, reverse("portal:inbox"), requests)
    long_page = _measure(client, reverse("portal:case-detail", args=[long_case.pk]), requests)
    work = _measure(client, reverse("portal:coordinator"), requests)
    deep_url, deep_number = deep_work_url(get_user_model().objects.get(username=loadgen.COORDINATOR))
    deep = _measure(client, deep_url, requests)
    figures.update({f"{prefix}work_page_deep_p50_ms": deep["p50"], f"{prefix}work_page_deep_p95_ms": deep["p95"],
                    f"{prefix}work_page_deep_queries": deep["queries"],
                    f"{prefix}work_page_deep_cpu_p50_ms": deep["cpu_p50"], f"{prefix}work_page_deep_page": deep_number})
    figures.update({f"{prefix}inbox_p50_ms": inbox["p50"], f"{prefix}inbox_p95_ms": inbox["p95"],
                    f"{prefix}inbox_queries": inbox["queries"],
                    f"{prefix}case_page_p50_ms": long_page["p50"], f"{prefix}case_page_p95_ms": long_page["p95"],
                    f"{prefix}case_page_queries": long_page["queries"],
                    f"{prefix}work_page_p50_ms": work["p50"], f"{prefix}work_page_p95_ms": work["p95"],
                    f"{prefix}work_page_queries": work["queries"],
                    # CPU time of the bench process per request (median): what the page costs
                    # whatever else the machine runs, where wall times include waiting for a core
                    f"{prefix}inbox_cpu_p50_ms": inbox["cpu_p50"], f"{prefix}case_page_cpu_p50_ms": long_page["cpu_p50"],
                    f"{prefix}work_page_cpu_p50_ms": work["cpu_p50"]})
    if typical_case is not None:
        typical = _measure(client, reverse("portal:case-detail", args=[typical_case.pk]), requests)
        figures[f"{prefix}case_page_typical_p95_ms"] = typical["p95"]
    return figures


def scale_figures(cases: int | None = None, requests: int = 200, stream=sys.stdout) -> dict:
    """Run the scale check (module docstring) on the current (bench) database; return the figures.

    ``cases`` defaults to :data:`DEFAULT_CASES` (:data:`SQLITE_CASES` on SQLite).
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from processes.rounds import loadgen
    from processes.rounds.actors import ensure_user
    from processes.rounds.models import Case
    from workflow.models import AuditChain

    if cases is None:
        cases = SQLITE_CASES if connection.vendor == "sqlite" else DEFAULT_CASES
    try:
        setup_test_environment(debug=False)  # the test client's host, in-memory e-mail, DEBUG off
    except RuntimeError:  # already set up (e.g. under pytest)
        pass
    client = Client()
    client.force_login(ensure_user(loadgen.COORDINATOR, "coordinator"))
    sample = Case.objects.filter(round__code="TC-2017").order_by("pk").first()
    figures = _pages(client, requests, long_case=sample, typical_case=None, prefix="baseline_")

    entries = cases * ENTRIES_PER_CASE
    if stream is not None:
        stream.write(f"scale check: generating {cases:,} cases and {entries:,} audit entries "
                     f"({connection.vendor})\n")
    result = loadgen.generate(cases=cases, audit_entries=entries, round_code=f"BENCH-{cases}", stream=stream)
    long_ref = max(result.heavy_refs, key=lambda ref: AuditChain.objects.get(key=ref).length)
    long_case = Case.objects.get(ref=long_ref)
    typical_case = Case.objects.get(ref=f"BENCH-{cases}/A{10 + cases // 2}")
    figures.update(_pages(client, requests, long_case=long_case, typical_case=typical_case, prefix=""))
    figures.update({
        "scale_cases": result.cases, "scale_audit_entries": result.audit_entries,
        "scale_open_tasks": result.open_tasks, "scale_generation_s": round(result.seconds, 1),
        "scale_long_history_entries": AuditChain.objects.get(key=long_ref).length,
        "scale_database": connection.vendor,
    })
    return figures


def current_database_figures(requests: int = 200) -> dict:
    """The page figures (without ``baseline_`` and sizes) on the configured database as it is.

    Needs load data there (``generate_load_data``): the coordinator ``load-coordinator`` and a
    round with generated cases; the longest chain among the ``A10``..``A19`` cases of the
    newest generated round gives the long history. Raises ``LookupError`` without load data.
    """
    from django.test import Client
    from django.test.utils import setup_test_environment

    from processes.rounds import loadgen
    from processes.rounds.actors import ensure_user
    from processes.rounds.models import Case
    from workflow.models import AuditChain

    setup_test_environment(debug=False)
    coordinator = ensure_user(loadgen.COORDINATOR, "coordinator")
    heavy = Case.objects.filter(number__in=[f"A{n}" for n in range(10, 20)]).order_by("-pk")[:10]
    chains = {c.ref: c for c in heavy}
    if not chains:
        raise LookupError("no load data in this database: run manage.py generate_load_data first")
    long_ref = AuditChain.objects.filter(key__in=chains).order_by("-length").values_list("key", flat=True).first()
    rnd = chains[long_ref].round
    typical = Case.objects.filter(round=rnd).order_by("pk")[rnd.cases.count() // 2]
    client = Client()
    client.force_login(coordinator)
    figures = _pages(client, requests, long_case=chains[long_ref], typical_case=typical, prefix="")
    figures["scale_cases"] = Case.objects.count()
    return figures


def main(argv=None) -> int:
    """``python -m bench.scale``: :func:`current_database_figures`, printed."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description="time the scale check's pages on DATABASE_URL as it is")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.settings")
    import django

    django.setup()
    for name, value in current_database_figures(args.requests).items():
        print(f"{name:<28} {value:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
