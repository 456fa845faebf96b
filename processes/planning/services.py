"""Planning services: the plan document, its approval by the signatories, the approval sheet."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from documents.models import DocumentVersion
from workflow.approvals.models import Approval, Decision
from workflow.approvals.services import Signatory, decide, request_approval
from workflow.transitions import perform

from processes.rounds.paperwork import format_amount, format_date, format_number, generate, outcome

from .models import Plan

#: The policy used when the round's data sets none for the development plan.
DEFAULT_POLICY = {"policy": "all_of", "veto": True}


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
def send_for_signing(*, plan: Plan, actor) -> Approval:
    """Render the plan and ask the round's signatories to approve that exact version.

    The policy comes from ``round.approval_policies["development_plan"]`` (see
    :mod:`workflow.approvals`). Sending a new version while one is open supersedes the open
    approval and its decisions. Returns the approval. Raises ``ValueError`` when a signatory
    position has no user, and the workflow errors of ``perform``.
    """
    rnd = plan.case.round
    positions = list(rnd.signatories.select_related("user"))
    missing = [str(p) for p in positions if p.user_id is None]
    if missing:
        raise ValueError("signatory positions without a user: " + "; ".join(missing))
    version = plan_document(plan=plan, actor=actor)
    if plan.state != Plan.State.SIGNING:
        perform(plan, "send_for_signing", actor=actor, data={"version": version.number, "sha256": version.sha256})
    rule = {**DEFAULT_POLICY, **(rnd.approval_policies or {}).get("development_plan", {})}
    return request_approval(
        subject=version, sha256=version.sha256, version=version.number, key=plan.approval_key,
        chain=plan.case.ref, title=version.document.title, author=version.created_by,
        signatories=[Signatory(p.user, p.role, p.organisation) for p in positions],
        policy=rule["policy"], required=rule.get("required"), veto=rule.get("veto", True), actor=actor,
        due_at=rnd.due_at("plan_signature"))


def sign(*, decision: Decision, actor, approve: bool, comment: str = "") -> Decision:
    """Record ``actor``'s decision on the plan version (see :func:`workflow.approvals.services.decide`)."""
    return decide(decision=decision, actor=actor, approve=approve, comment=comment)


@transaction.atomic
def conclude_signing(*, plan: Plan, actor) -> Plan:
    """Approve the plan when its current version's approval is approved (or reject it when
    the approval is rejected), mark the signed version immutable, and generate the approval
    sheet listing every decision on every version. Returns the plan.
    """
    approval = plan.current_approval
    perform(plan, "approve" if approval.state == Approval.State.APPROVED else "reject", actor=actor)
    if plan.state == Plan.State.APPROVED:
        DocumentVersion.objects.filter(pk=approval.subject_id).update(signed=True)
    case = plan.case
    lang = case.language
    decisions = (Decision.objects.filter(approval__key=plan.approval_key)
                 .select_related("approval", "signatory", "decided_by").order_by("approval__pk", "position"))
    rows = []
    for i, d in enumerate(decisions, 1):
        name = d.signatory.get_full_name() or d.signatory.get_username()
        if d.decided_by_id and d.decided_by_id != d.signatory_id:
            name += f" ({d.decided_by.get_full_name() or d.decided_by.get_username()}, on behalf)"
        rows.append({"number": i, "role": d.role, "organisation": d.organisation, "name": name,
                     "decision": f"{outcome(d.state, lang)} (v{d.approval.subject_version})",
                     "date": format_date(timezone.localtime(d.decided_at).date(), lang) if d.decided_at else "",
                     "comment": d.comment})
    generate(rnd=case.round, case=case, kind="approval_sheet", stage="planning", actor=actor, context={
        "subject": {"title": approval.title, "version": approval.subject_version, "sha256": approval.subject_sha256},
        "decisions": rows, "outcome": outcome(plan.state, lang)})
    return plan
