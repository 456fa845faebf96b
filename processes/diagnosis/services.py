"""Diagnosis services."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from workflow.exceptions import ConditionUnmet
from workflow.tasks import ensure_allowed, take
from workflow.transitions import describe, perform, transition_name

from processes.rounds.paperwork import format_number, generate

from .models import Diagnosis, DiagnosisArea


@transaction.atomic
def record_assessment(*, diagnosis: Diagnosis, areas: list[tuple[str, float, str]], actor,
                      comment: str = "") -> Diagnosis:
    """Record the area assessments ``[(area, score_pct 0..100, finding)]`` and draft the report.

    Takes ``draft_report`` (with ``comment``; completing the task "Assess the six areas and
    draft the report" when ``actor`` holds or may claim it) and generates the diagnosis report
    document. Raises ``ValueError`` for a percentage outside 0..100 and the workflow errors
    of ``perform``; ``TransitionNotAllowed`` (409) naming the suspension, before any area is
    written, when the case is suspended.
    """
    diagnosis.ensure_not_suspended("draft_report")
    for position, (area, pct, finding) in enumerate(areas, 1):
        if not 0 <= pct <= 100:
            raise ValueError(f"area {area!r}: {pct} is not a percentage 0..100")
        DiagnosisArea.objects.update_or_create(diagnosis=diagnosis, position=position,
                                               defaults={"area": area, "score_pct": pct, "finding": finding})
    take(diagnosis, "draft_report", actor=actor, comment=comment, route=False)
    case = diagnosis.case
    lang = case.language
    generate(rnd=case.round, case=case, kind="diagnosis_report", stage="diagnosis", actor=actor, context={
        "areas": [{"number": a.position, "area": a.area, "score_pct": format_number(a.score_pct, lang),
                   "finding": a.finding} for a in diagnosis.areas.all()],
        "overall_pct": format_number(diagnosis.overall_pct, lang), "assessors": diagnosis.assessors})
    return diagnosis


def assessment_missing_message(diagnosis: Diagnosis) -> str:
    """The refusal of ``draft_report`` while areas are not assessed, in the active language:
    which areas are missing and where the assessment is entered (the case page's diagnosis
    form ``/cases/<case id>/diagnosis/``). The message is read by people too (the inbox), so it
    names the page, not the API's ``POST /api/diagnoses/<id>/assessment/`` (docs/api.md)."""
    expected = list(diagnosis.case.round.diagnosis_areas or [])
    recorded = set(diagnosis.areas.values_list("area", flat=True))
    missing = [a for a in expected if a not in recorded]
    return _("the assessment of every diagnosis area must be recorded first (missing: %(missing)s): "
             "enter it on the case page's diagnosis form (%(page)s), which also drafts the report") % {
        "missing": ", ".join(missing) if missing else _("%(count)s of %(expected)s areas recorded") % {
            "count": len(recorded), "expected": len(expected) or 6},
        "page": f"/cases/{diagnosis.case_id}/diagnosis/"}


def take_routed(diagnosis: Diagnosis, transition: str, *, actor, comment: str = "", data=None) -> Diagnosis:
    """Take ``transition`` of ``diagnosis`` the way every path does (``Diagnosis.take_task_transition``).

    ``draft_report`` needs the area assessments, which a task completion does not carry: when
    every area is already recorded (e.g. through the API's assessment) the report is drafted
    from them with :func:`record_assessment` (report document, audit entries); otherwise it is
    refused with :class:`~workflow.exceptions.ConditionUnmet` (400) naming the missing areas and
    where to enter them (:func:`assessment_missing_message`), and nothing changes. A wrong state
    (409) or a user who is not a coordinator (403) is refused first, as ``perform`` does. Any
    other transition is taken with ``perform``. Returns ``diagnosis``.
    """
    if transition != "draft_report":
        return perform(diagnosis, transition, actor=actor, comment=comment, data=data)
    try:
        ensure_allowed(diagnosis, transition, actor=actor)
    except ConditionUnmet as exc:
        reason = assessment_missing_message(diagnosis)
        raise ConditionUnmet(_("cannot %(transition)s %(object)s: %(reason)s") % {
            "transition": transition_name(transition), "object": describe(diagnosis), "reason": reason}, reason=reason, obj=diagnosis, transition=transition,
            state=diagnosis.state) from exc
    areas = [(a.area, a.score_pct, a.finding) for a in diagnosis.areas.all()]
    return record_assessment(diagnosis=diagnosis, areas=areas, actor=actor, comment=comment)
