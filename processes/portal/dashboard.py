"""A round's dashboard: ``GET /rounds/<code>/dashboard/`` (``portal:round-dashboard``).

Three charts, each drawn on the server as inline SVG (no JavaScript) and repeated as a small
table for screen readers and for copying:

* **Funnel**: how many of the round's applications reached each stage of the case
  (submission, selection, diagnosis, planning, support, implementation, closed), read from
  the cases' audit entries (a case reached a stage when an entry of its chain moved it there).
* **Time in stage**: for each stage, the working days the cases spent in it (mean, median and
  longest), from the timestamps of the audit entries that moved each case into and out of the
  stage (up to now for the stage a case is in). Working days follow Kazakhstan's calendar
  (``workflow.calendar.working_days_between``) on the round's local dates (Asia/Almaty).
* **Overdue work**: the open deadlines (``workflow.models.Deadline``) of the round's cases
  whose due time has passed, by the stage the case is in now.

Staff viewers only (coordinators, partner coordinators, auditors, administrators); anybody else
403. The page costs a constant number of queries whatever the number of cases (four reads).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections import defaultdict

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from processes.rounds.models import Case, Round
from workflow import calendar
from workflow.models import AuditEntry, Deadline

from . import selectors

#: The stages of the funnel, in order (the case's active states and ``closed``).
FUNNEL_STAGES = (*Case.ACTIVE_STATES, Case.State.CLOSED)
#: Geometry of the bar charts (SVG user units, about pixels).
CHART_WIDTH, BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, VALUE_WIDTH = 640, 22, 8, 170, 70


@dataclasses.dataclass(frozen=True)
class Visit:
    """One stay of a case in a state: from ``start`` until ``end`` (``None``: still there)."""

    case: str
    state: str
    start: dt.datetime
    end: dt.datetime | None


def visits_from_entries(rows) -> list[Visit]:
    """The stays in each state, from audit rows ``(chain, created_at, from_state, to_state)``
    of the cases' own entries (``object_type == "rounds.case"``) in chain order.

    An entry whose ``to_state`` differs from the state before it ends the current stay and
    starts the next; ``case_created`` (from ``""``) starts the first.
    """
    visits: list[Visit] = []
    current: dict[str, tuple[str, dt.datetime]] = {}
    for chain, created_at, from_state, to_state in rows:
        if not to_state:
            continue
        open_stay = current.get(chain)
        if open_stay is not None:
            if open_stay[0] == to_state:
                continue
            visits.append(Visit(chain, open_stay[0], open_stay[1], created_at))
        current[chain] = (to_state, created_at)
    visits.extend(Visit(chain, state, start, None) for chain, (state, start) in current.items())
    return visits


def working_days(start: dt.datetime, end: dt.datetime, tz: str) -> int:
    """Working days (Kazakhstan) from ``start`` to ``end`` on their local dates in ``tz``:
    the working days after the start date up to and including the end date (0 the same day)."""
    return calendar.working_days_between(calendar.local_date(start, tz=tz), calendar.local_date(end, tz=tz))


@dataclasses.dataclass(frozen=True)
class StageTime:
    """Working days spent in one stage: number of stays and mean, median, longest (days)."""

    state: str
    label: str
    stays: int
    mean: float
    median: float
    longest: int


def time_in_stages(visits: list[Visit], *, now: dt.datetime, tz: str) -> list[StageTime]:
    """:class:`StageTime` of every funnel stage (in order; stages nobody visited have 0 stays)."""
    days: dict[str, list[int]] = defaultdict(list)
    for visit in visits:
        days[visit.state].append(working_days(visit.start, visit.end or now, tz))
    labels = dict(Case.State.choices)
    result = []
    for state in FUNNEL_STAGES:
        values = days.get(str(state), [])
        result.append(StageTime(str(state), str(labels[state]), len(values),
                                round(statistics.fmean(values), 1) if values else 0.0,
                                float(statistics.median(values)) if values else 0.0,
                                max(values) if values else 0))
    return result


def funnel(visits: list[Visit], cases: list[Case]) -> list[tuple[str, str, int]]:
    """``(state, label, cases that reached it)`` for each funnel stage, in order."""
    reached: dict[str, set[str]] = defaultdict(set)
    for visit in visits:
        reached[visit.state].add(visit.case)
    for case in cases:  # a case without entries (imported without history) is where it is
        reached[str(case.state)].add(case.ref)
    labels = dict(Case.State.choices)
    return [(str(s), str(labels[s]), len(reached.get(str(s), ()))) for s in FUNNEL_STAGES]


def overdue_by_stage(deadlines, cases: list[Case]) -> list[tuple[str, str, int]]:
    """``(state, label, overdue deadlines)`` per current case state, for states that have any
    or are funnel stages; ``deadlines`` are ``(chain, count)`` pairs."""
    state_of = {c.ref: str(c.state) for c in cases}
    counts: dict[str, int] = defaultdict(int)
    for chain, count in deadlines:
        if chain in state_of:
            counts[state_of[chain]] += count
    labels = dict(Case.State.choices)
    states = [str(s) for s in FUNNEL_STAGES] + [str(s) for s in Case.State.values
                                                 if s not in FUNNEL_STAGES and counts.get(str(s))]
    return [(s, str(labels[s]), counts.get(s, 0)) for s in states]


def bar_chart(rows: list[tuple[str, float]], *, unit: str = "") -> dict:
    """Geometry of a horizontal bar chart for the template: ``{"width", "height", "bars":
    [{"label", "value", "text", "y", "width", "text_y", "value_x"}]}`` (SVG user units).
    The longest bar spans the plot; all bars are 0 wide when every value is 0."""
    largest = max((value for _label, value in rows), default=0) or 1
    plot = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = []
    for i, (label, value) in enumerate(rows):
        y = i * (BAR_HEIGHT + BAR_GAP)
        shown = int(value) if float(value).is_integer() else value
        text = formats.number_format(shown, decimal_pos=None if shown == int(shown) else 1) + unit
        bars.append({"label": label, "value": value, "text": text, "y": y, "text_y": y + BAR_HEIGHT * 0.7,
                     "width": round(plot * value / largest, 1), "value_x": 0})
    for bar in bars:
        bar["value_x"] = LABEL_WIDTH + bar["width"] + 6
    return {"width": CHART_WIDTH, "height": max(len(rows) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP, BAR_HEIGHT),
            "label_width": LABEL_WIDTH, "bar_height": BAR_HEIGHT, "bars": bars}


def round_statistics(rnd: Round, *, now: dt.datetime | None = None) -> dict:
    """Everything the dashboard shows for ``rnd`` in three queries whatever the number of cases
    (its cases, their audit entries, their overdue deadlines counted per case):
    ``{"cases": int, "funnel", "times", "overdue", "tz"}`` (see :func:`funnel`,
    :func:`time_in_stages`, :func:`overdue_by_stage`)."""
    now = now or timezone.now()
    tz = rnd.timezone or calendar.TIME_ZONE
    cases = list(Case.objects.filter(round=rnd).only("pk", "ref", "state", "round_id"))
    refs = [c.ref for c in cases]
    rows = (AuditEntry.objects.filter(chain__in=Case.objects.filter(round=rnd).values("ref"),
                                      object_type="rounds.case")
            .order_by("chain", "seq").values_list("chain", "created_at", "from_state", "to_state"))
    visits = visits_from_entries(rows.iterator())
    overdue = _overdue_counts(rnd, now)
    return {"cases": len(refs), "funnel": funnel(visits, cases), "times": time_in_stages(visits, now=now, tz=tz),
            "overdue": overdue_by_stage(overdue, cases), "tz": tz}


def _overdue_counts(rnd: Round, now: dt.datetime) -> list[tuple[str, int]]:
    from django.db.models import Count

    return list(Deadline.objects.filter(closed_at__isnull=True, due_at__lt=now,
                                        chain__in=Case.objects.filter(round=rnd).values("ref"))
                .values("chain").order_by("chain").annotate(n=Count("pk")).values_list("chain", "n"))


@require_safe
@login_required
def round_dashboard(request, code: str):
    """The round's dashboard (staff viewers; others 403; an unknown round 404)."""
    if not selectors.is_staff_viewer(user=request.user):
        raise PermissionDenied
    rnd = get_object_or_404(Round, code=code)
    stats = round_statistics(rnd)
    charts = {
        "funnel": bar_chart([(label, n) for _s, label, n in stats["funnel"]]),
        "times": bar_chart([(t.label, t.mean) for t in stats["times"]], unit=" " + _("d")),
        "overdue": bar_chart([(label, n) for _s, label, n in stats["overdue"]]),
    }
    return render(request, "portal/round_dashboard.html", {
        "round": rnd, "stats": stats, "charts": charts, "is_staff_viewer": True,
        "now": timezone.now(), "tz": stats["tz"],
    })
