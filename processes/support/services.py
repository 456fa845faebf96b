"""Support services: propose a measure, collect government bodies' positions, conclude."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from workflow.tasks import ensure_allowed, follow_up, take
from workflow.transitions import perform

from processes.rounds.paperwork import format_amount, format_date, format_number, generate, outcome

from .models import BodyPosition, SupportMeasure


@transaction.atomic
def propose_measure(*, case, title: str, amount_kzt, reimbursement_pct, legal_basis: str, bodies: list[str],
                    actor) -> SupportMeasure:
    """Propose a measure (``amount_kzt`` per year, in KZT) and send it to ``bodies`` for positions."""
    if not bodies:
        raise ValueError("a support measure needs at least one government body to coordinate with")
    measure = SupportMeasure.objects.create(case=case, title=title, amount_kzt=amount_kzt,
                                            reimbursement_pct=reimbursement_pct, legal_basis=legal_basis)
    for body in bodies:
        follow_up(BodyPosition.objects.create(measure=measure, body=body))
    perform(measure, "start_coordination", actor=actor, data={"bodies": bodies, "amount_kzt": str(amount_kzt)})
    return measure


def record_position(*, position: BodyPosition, agrees: bool, comment: str, actor) -> BodyPosition:
    """Record one body's position (from its letter) as agreed or objected."""
    return perform(position, "agree" if agrees else "lodge_objection", actor=actor, comment=comment)


@transaction.atomic
def conclude_coordination(*, measure: SupportMeasure, actor, comment: str = "") -> SupportMeasure:
    """Agree (and put in force) or decline the measure from the positions; generate the sheet.

    ``agree`` / ``decline`` is taken with ``comment`` (completing the measure's concluding task,
    opened once every body answered, when ``actor`` may take it: ``workflow.tasks.take``);
    ``put_in_force`` follows an agreement (completing its task likewise)."""
    objected = measure.positions.filter(state="objected").exists()
    take(measure, "decline" if objected else "agree", actor=actor, comment=comment, route=False)
    case = measure.case
    lang = case.language
    generate(rnd=case.round, case=case, kind="support_coordination_sheet", stage="support", actor=actor, context={
        "measure": {"title": measure.title, "amount_kzt": format_amount(measure.amount_kzt, lang),
                    "reimbursement_pct": format_number(measure.reimbursement_pct, lang),
                    "legal_basis": measure.legal_basis},
        "positions": [{"number": i, "body": p.body, "position": outcome(p.state, lang),
                       "date": format_date(timezone.localtime(p.decided_at).date(), lang) if p.decided_at else "",
                       "comment": p.comment} for i, p in enumerate(measure.positions.all(), 1)],
        "outcome": outcome(measure.state, lang)})
    if not objected:
        take(measure, "put_in_force", actor=actor)
    return measure


def take_routed(measure: SupportMeasure, transition: str, *, actor, comment: str = "",
                data=None) -> SupportMeasure:
    """Take ``transition`` of ``measure`` the way every path does
    (``SupportMeasure.take_task_transition``).

    ``agree`` (every body agreed) and ``decline`` (a body objected; bodies that have not
    answered are listed as pending) conclude the coordination with
    :func:`conclude_coordination`: the coordination sheet, and an agreed measure is put in
    force. The state (409), permission (403) and condition (400) are checked first, as
    ``perform`` does, so a refusal changes nothing. Any other transition is taken with
    ``perform``. Returns ``measure``.
    """
    if transition not in SupportMeasure.routed_transitions:
        return perform(measure, transition, actor=actor, comment=comment, data=data)
    ensure_allowed(measure, transition, actor=actor)
    return conclude_coordination(measure=measure, actor=actor, comment=comment)
