"""Training services: completing a module and its papers (attendance list, certificates).

Papers are round-level documents (``owner_ref == round.code``, staff only in the portal):
the attendance list in the round's language (key ``module-<id>``) and one certificate per
participant who attended, in the language of the participant's case (the round's language
for a participant without a case; key ``module-<id>-<attendance id>``).
"""

from __future__ import annotations

from django.db import transaction

from workflow.transitions import perform

from processes.rounds.paperwork import format_date, generate

from .models import Attendance, TrainingModule

#: Academic hours counted for each calendar day of a module (the operator's training rule).
ACADEMIC_HOURS_PER_DAY = 8

#: The attendance mark printed in the list.
ATTENDANCE_MARKS = {
    "ru": ("присутствовал(-а)", "отсутствовал(-а)"),
    "kk": ("қатысты", "қатыспады"),
    "en": ("present", "absent"),
}


def module_context(module: TrainingModule, language: str) -> dict:
    """The ``module`` key of the training papers: title, topic, dates and hours
    (``ACADEMIC_HOURS_PER_DAY`` per calendar day, first and last day included)."""
    days = (module.ends_on - module.starts_on).days + 1
    return {"title": module.title, "topic": module.topic, "starts_on": format_date(module.starts_on, language),
            "ends_on": format_date(module.ends_on, language), "hours": days * ACADEMIC_HOURS_PER_DAY}


def _cluster(attendance: Attendance, language: str) -> str:
    case = attendance.case
    return f"{case.name(language)} ({case.ref})" if case is not None else ""


def attendance_list(*, module: TrainingModule, actor):
    """Generate (the next version of) the module's attendance list; return the version."""
    rnd = module.round
    lang = rnd.language
    marks = ATTENDANCE_MARKS.get(lang, ATTENDANCE_MARKS["en"])
    attendances = list(module.attendances.select_related("case"))
    return generate(rnd=rnd, kind="training_attendance_list", stage="training", actor=actor,
                    key=f"module-{module.pk}", context={
                        "module": module_context(module, lang),
                        "attendees": [{"number": i, "name": a.participant, "organisation": a.organisation,
                                       "cluster": _cluster(a, lang), "attended": marks[0] if a.attended else marks[1]}
                                      for i, a in enumerate(attendances, 1)],
                        "registered": len(attendances), "attended": sum(a.attended for a in attendances)})


def certificate(*, attendance: Attendance, actor):
    """Generate the certificate of one participant who attended; return the version.

    Raises ``ValueError`` when the participant did not attend or the module is not completed.
    """
    module = attendance.module
    if module.state != TrainingModule.State.COMPLETED:
        raise ValueError(f"module {module} is not completed: no certificates yet")
    if not attendance.attended:
        raise ValueError(f"{attendance.participant} did not attend {module}: no certificate")
    lang = attendance.case.language if attendance.case is not None else module.round.language
    return generate(rnd=module.round, kind="training_certificate", stage="training", actor=actor, language=lang,
                    key=f"module-{module.pk}-{attendance.pk}", context={
                        "module": module_context(module, lang),
                        "participant": {"name": attendance.participant, "organisation": attendance.organisation,
                                        "cluster": _cluster(attendance, lang)}})


@transaction.atomic
def complete_module(*, module: TrainingModule, actor) -> TrainingModule:
    """Complete ``module`` (attendance becomes final), then generate its attendance list and a
    certificate for every participant who attended. Raises the workflow errors of ``perform``
    (e.g. the actor is not a coordinator, the module is not in progress); then nothing changes.
    """
    perform(module, "complete", actor=actor)
    attendance_list(module=module, actor=actor)
    for attendance in module.attendances.filter(attended=True).select_related("case", "module__round"):
        certificate(attendance=attendance, actor=actor)
    return module
