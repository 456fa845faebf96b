"""Support services: propose a measure, collect government bodies' positions, conclude."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from workflow.tasks import follow_up
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
def conclude_coordination(*, measure: SupportMeasure, actor) -> SupportMeasure:
    """Agree (and put in force) or decline the measure from the positions; generate the sheet."""
    objected = measure.positions.filter(state="objected").exists()
    perform(measure, "decline" if objected else "agree", actor=actor)
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
        perform(measure, "put_in_force", actor=actor)
    return measure
