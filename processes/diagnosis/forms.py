"""Creating a diagnosis and recording its area assessment: the checks and writes shared by the
API (``/api/diagnoses/``, ``api/stages.py``) and the case page's form (``/cases/<pk>/diagnosis/``,
``processes/portal/stages.py``).

The rules: a diagnosis is created for a case in the diagnosis stage (once), ``planned``, by a
coordinator (audited ``created``); the assessment names each area of the round's
``diagnosis_areas`` once (none unknown, none repeated, none missing), each scored 0..100 with at
most 2 decimals, with a finding of at most :data:`MAX_FINDING` characters; it is recorded while
the diagnosis is in ``fieldwork`` and takes ``draft_report`` through
:func:`processes.diagnosis.services.record_assessment` (the diagnosis report document).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from workflow import exceptions as wf
from workflow import permissions
from workflow.tasks import follow_up

from processes.stages import StageInvalid, audit_content, parse_decimal, parse_text

from .models import Diagnosis

#: The longest list of assessors, an area's name and a finding (characters; the columns' sizes).
MAX_ASSESSORS = 300
MAX_AREA = 200
MAX_FINDING = 4000
#: The highest score of an area (percent).
MAX_SCORE = Decimal(100)


def area_problems(expected: list[str], names: list[str]) -> dict:
    """The problems of assessing ``names`` (in order) when the round expects ``expected``:
    ``{"<index>": [message]}`` for an unknown or repeated area, ``{"missing": [area, ...]}``
    for expected areas not assessed; empty when every expected area is assessed once. With no
    ``expected`` areas (a round that names none) only repeats are problems."""
    problems: dict = {}
    for i, name in enumerate(names):
        if expected and name not in expected:
            problems[str(i)] = [_("not an area of the round's diagnosis")]
        elif names.index(name) != i:
            problems[str(i)] = [_("this area is assessed twice")]
    missing = [a for a in expected if a not in names]
    if missing:
        problems["missing"] = missing
    return problems


def create_diagnosis(*, case, assessors: str, actor) -> Diagnosis:
    """Create ``case``'s diagnosis (``planned``; the task "Start the diagnosis fieldwork"
    opens) and audit it as ``created``. The caller has checked the stage and the role and
    holds the case's row lock; raises ``IntegrityError`` when the case already has one."""
    diagnosis = Diagnosis.objects.create(case=case, assessors=assessors)
    follow_up(diagnosis)
    audit_content(diagnosis, "created", actor, {"assessors": diagnosis.assessors})
    return diagnosis


def assess(*, diagnosis: Diagnosis, areas: list[tuple[str, Decimal, str]], actor) -> Diagnosis:
    """Record ``areas`` (``[(area, score_pct, finding)]``, checked) on ``diagnosis`` and take
    ``draft_report`` (:func:`~processes.diagnosis.services.record_assessment`: the report).

    Raises ``TransitionNotAllowed`` (409) unless the diagnosis is in fieldwork and
    ``TransitionPermissionDenied`` (403) unless ``actor`` is a coordinator, both before any
    area is written; then the errors of ``record_assessment``.
    """
    from .services import record_assessment

    fresh = Diagnosis.objects.get(pk=diagnosis.pk)
    if fresh.state != Diagnosis.State.FIELDWORK:  # before writing the areas
        raise wf.TransitionNotAllowed(_("The diagnosis is not in fieldwork."), obj=fresh,
                                      transition="draft_report", state=fresh.state)
    if not permissions.coordinators(fresh, actor):
        raise wf.TransitionPermissionDenied(str(permissions.coordinators.reason), obj=fresh,
                                            transition="draft_report", state=fresh.state)
    return record_assessment(diagnosis=fresh, areas=areas, actor=actor)


def parse_assessment(post, expected: list[str]) -> list[tuple[str, Decimal, str]]:
    """The area rows of the portal's form (``score-<n>``, ``finding-<n>``, and ``area-<n>``
    when the round names no areas; ``n`` from 1): ``[(area, score_pct, finding)]`` in the
    round's order. Raises :class:`~processes.stages.StageInvalid` naming every problem: a
    missing or out-of-range score, a too long finding, a row the round does not have."""
    problems: dict[str, str] = {}
    count = len(expected) or 6
    known = {f"{kind}-{n}" for n in range(1, count + 1) for kind in ("score", "finding", "area")}
    for key in post:
        if key.startswith(("score-", "finding-", "area-")) and key not in known:
            problems[key[:40]] = _("unknown field")
    rows = []
    for n in range(1, count + 1):
        if expected:
            name = expected[n - 1]
        else:
            name = parse_text(problems, f"area-{n}", post.get(f"area-{n}"), limit=MAX_AREA, required=True)
        raw = post.get(f"score-{n}", "")
        score = None
        if not raw.strip():
            problems[f"score-{n}"] = _("required")
        else:
            try:
                score = parse_decimal(raw, high=MAX_SCORE)
            except ValueError as exc:
                problems[f"score-{n}"] = str(exc)
        finding = parse_text(problems, f"finding-{n}", post.get(f"finding-{n}"), limit=MAX_FINDING, required=False)
        rows.append((name, score, finding))
    repeated = area_problems(expected, [name for name, _score, _finding in rows])
    if repeated:
        problems["areas"] = _("The areas assessed must be the round's diagnosis areas, each once.")
    if problems:
        raise StageInvalid(problems)
    return rows
