"""Diagnosis services."""

from __future__ import annotations

from django.db import transaction

from workflow.transitions import perform

from processes.rounds.paperwork import format_number, generate

from .models import Diagnosis, DiagnosisArea


@transaction.atomic
def record_assessment(*, diagnosis: Diagnosis, areas: list[tuple[str, float, str]], actor) -> Diagnosis:
    """Record the area assessments ``[(area, score_pct 0..100, finding)]`` and draft the report.

    Generates the diagnosis report document. Raises ``ValueError`` for a percentage
    outside 0..100 and the workflow errors of ``perform``.
    """
    for position, (area, pct, finding) in enumerate(areas, 1):
        if not 0 <= pct <= 100:
            raise ValueError(f"area {area!r}: {pct} is not a percentage 0..100")
        DiagnosisArea.objects.update_or_create(diagnosis=diagnosis, position=position,
                                               defaults={"area": area, "score_pct": pct, "finding": finding})
    perform(diagnosis, "draft_report", actor=actor)
    case = diagnosis.case
    lang = case.language
    generate(rnd=case.round, case=case, kind="diagnosis_report", stage="diagnosis", actor=actor, context={
        "areas": [{"number": a.position, "area": a.area, "score_pct": format_number(a.score_pct, lang),
                   "finding": a.finding} for a in diagnosis.areas.all()],
        "overall_pct": format_number(diagnosis.overall_pct, lang), "assessors": diagnosis.assessors})
    return diagnosis
