"""Planning services: the plan document, signing by every signatory, the approval sheet."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from documents.models import DocumentVersion
from workflow.transitions import perform

from processes.rounds.paperwork import format_amount, format_date, format_number, generate, outcome

from .models import Plan, Signature


def plan_document(*, plan: Plan, actor) -> DocumentVersion:
    """Generate (a new version of) the development plan document; return the version."""
    case = plan.case
    lang = case.language
    return generate(rnd=case.round, case=case, kind="development_plan", stage="planning", actor=actor, context={
        "vision": plan.vision, "governance": plan.governance,
        "actions": [{"number": a.position, "measure": a.measure, "responsible": a.responsible,
                     "deadline": format_date(a.deadline, lang), "budget_kzt": format_amount(a.budget_kzt, lang),
                     "kpi": a.kpi, "target": f"{format_number(a.kpi_target, lang)} {a.kpi_unit}".strip()}
                    for a in plan.actions.all()],
        "total_budget_kzt": format_amount(plan.total_budget_kzt, lang)})


@transaction.atomic
def send_for_signing(*, plan: Plan, actor) -> list[Signature]:
    """Render the plan, send it to every signatory of the round, and return the signatures.

    Earlier undecided or decided signatures of older versions are superseded (a new version
    restarts the signing). Raises ``ValueError`` when a signatory position has no user.
    """
    version = plan_document(plan=plan, actor=actor)
    for old in plan.signatures.exclude(state="superseded"):
        perform(old, "supersede", actor=actor, comment=f"new plan version {version.number}")
    if plan.state != "signing":
        perform(plan, "send_for_signing", actor=actor, data={"version": version.number, "sha256": version.sha256})
    signatures = []
    for position in plan.case.round.signatories.all():
        if position.user_id is None:
            raise ValueError(f"signatory position {position} has no user")
        signatures.append(Signature.objects.create(plan=plan, signatory=position, user=position.user,
                                                   document_version=version, sha256=version.sha256))
    return signatures


def sign(*, signature: Signature, actor, approve: bool, comment: str = "") -> Signature:
    """Record ``actor``'s decision on the version the signature is bound to.

    The audit entry carries the sha256 of the exact version decided on.
    """
    return perform(signature, "approve" if approve else "reject", actor=actor, comment=comment,
                   data={"document_version": signature.document_version.number, "sha256": signature.sha256})


@transaction.atomic
def conclude_signing(*, plan: Plan, actor) -> Plan:
    """Approve the plan when every signatory approved (or reject it on a veto), mark the
    signed version immutable, and generate the approval sheet. Returns the plan."""
    rejected = plan.signatures.filter(state="rejected").exists()
    perform(plan, "reject" if rejected else "approve", actor=actor)
    current = plan.signatures.exclude(state="superseded").select_related("signatory", "user", "document_version")
    version = current[0].document_version
    if not rejected:
        DocumentVersion.objects.filter(pk=version.pk).update(signed=True)
    case = plan.case
    lang = case.language
    generate(rnd=case.round, case=case, kind="approval_sheet", stage="planning", actor=actor, context={
        "subject": {"title": version.document.title, "version": version.number, "sha256": version.sha256},
        "decisions": [{"number": i, "role": s.signatory.role, "organisation": s.signatory.organisation,
                       "name": s.user.get_full_name() or s.user.get_username(), "decision": outcome(s.state, lang),
                       "date": format_date(timezone.localtime(s.decided_at).date(), lang) if s.decided_at else "", "comment": s.comment}
                      for i, s in enumerate(current, 1)],
        "outcome": outcome(plan.state, lang)})
    return plan
