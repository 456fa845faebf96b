"""Submission services: create, submit and check applications."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_noop

from workflow import audit
from workflow.permissions import COORDINATOR
from workflow.tasks import open_task, take
from workflow.transitions import perform

from processes.rounds.models import Case

from .models import Application, RefusalReason, excluded_sector, missing_fields

FIGURES = ("anchor_enterprises", "smes", "employees", "export_share_pct", "research_partners")


@transaction.atomic
def create_application(*, round, values: dict, actor) -> Application:
    """Create a case and its draft application from ``values`` (one entry of a round file).

    Returns the application; writes a ``case_created`` audit entry opening the case's chain.
    """
    ref = values["ref"]
    case = Case.objects.create(
        round=round, ref=f"{round.code}/{ref}", number=ref, name_en=values["name_en"],
        name_ru=values.get("name_ru", ""), name_kk=values.get("name_kk", ""), language=round.language,
    )
    application = Application.objects.create(
        case=case, round=round, ref=ref, name_en=values["name_en"], name_ru=values.get("name_ru", ""),
        name_kk=values.get("name_kk", ""), region=values.get("region", ""), city=values.get("city", ""),
        sector=values.get("sector", ""), members_named=values.get("members_named", []),
        labels={k: values[k] for k in ("status_label", "label") if k in values},
        **{k: values.get(k) for k in FIGURES},
    )
    audit.append_entry(chain=case.audit_chain, actor=actor, object_type="rounds.case", object_id=str(case.pk),
                       object_repr=str(case), transition="case_created", from_state="", to_state=case.state,
                       data={"application": ref, "name_en": values["name_en"]})
    return application


#: The transitions that end a completeness check (the task is opened on the first).
COMPLETENESS_OUTCOMES = ("accept", "return_for_revision", "refuse")
COMPLETENESS_TASK_TITLE = gettext_noop("Check completeness and eligibility")


def open_completeness_task(*, application: Application):
    """Open (or return) the coordinators' completeness-check task of a filed ``application``.

    One task bound to the application, opened on ``accept`` with ``return_for_revision`` and
    ``refuse`` as the other outcomes; it waits in the coordinator queue and is completed by
    :func:`check_completeness` (or closed by whichever of these transitions is taken).
    """
    return open_task(application, "accept", title=COMPLETENESS_TASK_TITLE, role=COORDINATOR,
                     due_at=application.round.due_at("completeness_check"),
                     outcomes=COMPLETENESS_OUTCOMES)


@transaction.atomic
def submit_application(*, application: Application, actor, comment: str = "") -> Application:
    """The applicant files ``application`` (``draft -> submitted``); see ``Application.submit``.

    Opens the completeness-check task in the coordinators' queue.
    """
    perform(application, "submit", actor=actor, comment=comment)
    open_completeness_task(application=application)
    return application


@transaction.atomic
def resubmit_application(*, application: Application, actor, comment: str = "") -> Application:
    """The applicant files the revised ``application`` (``returned_for_revision -> resubmitted``).

    Opens a new completeness-check task in the coordinators' queue.
    """
    perform(application, "resubmit", actor=actor, comment=comment)
    open_completeness_task(application=application)
    return application


@transaction.atomic
def check_completeness(*, application: Application, actor) -> Application:
    """The coordinator's completeness and eligibility check of a submitted application.

    Refuses an application from an excluded sector (reason ``excluded_sector``), returns an
    incomplete one for revision, and accepts the rest; the case follows (``refused`` or on to
    ``selection``). The decision completes the application's completeness-check task when
    ``actor`` holds it or may claim it (:func:`workflow.tasks.take`). Returns the application
    in its new state.
    """
    case = application.case
    sector = excluded_sector(application)
    if sector is not None:
        detail = (f"The sector {application.sector!r} is excluded from the round ({sector}): "
                  "non-oil pilots only; oil and gas initiatives belong to the national cluster.")
        take(application, "refuse", actor=actor, comment=detail,
             data={"reason": RefusalReason.EXCLUDED_SECTOR, "detail": detail, "excluded_sector": sector})
        perform(case, "refuse", actor=actor, comment=detail)
        return application
    missing = missing_fields(application)
    if missing:
        take(application, "return_for_revision", actor=actor,
             comment="Please complete: " + ", ".join(missing), data={"missing": missing})
        return application
    take(application, "accept", actor=actor, comment="Complete and eligible.")
    perform(case, "advance_to_selection", actor=actor)
    return application


def generate_receipt(*, application: Application, actor):
    """Generate the application receipt for a submitted application; return the version."""
    from django.utils import timezone

    from processes.rounds.paperwork import format_number, generate

    case = application.case
    lang = case.language
    submitted = timezone.localtime(application.submitted_at).strftime("%d.%m.%Y %H:%M") if application.submitted_at else ""
    return generate(rnd=case.round, case=case, kind="application_receipt", stage="submission", actor=actor, context={
        "application": {"ref": application.ref, "name": case.name(), "region": application.region,
                        "city": application.city, "sector": application.sector,
                        "anchor_enterprises": application.anchor_enterprises, "smes": application.smes,
                        "employees": application.employees,
                        "export_share_pct": format_number(application.export_share_pct, lang)
                        if application.export_share_pct is not None else "",
                        "research_partners": application.research_partners, "submitted_at": submitted},
        "received_by": case.round.operator})


def generate_decision_notice(*, application: Application, decision: str, reason: str, actor):
    """Generate the decision notice to the applicant (``decision`` and ``reason`` as text)."""
    from processes.rounds.paperwork import format_number, generate

    case = application.case
    selection = getattr(application, "selection", None)  # RelatedObjectDoesNotExist is an AttributeError
    score = rank = ""
    if selection is not None:
        score = format_number(selection.score, case.language) if selection.score is not None else ""
        rank = str(selection.rank or "")
    return generate(rnd=case.round, case=case, kind="decision_notice", stage="selection", actor=actor, context={
        "application": {"ref": application.ref, "name": case.name()}, "decision": decision, "reason": reason,
        "score": score, "rank": rank})
