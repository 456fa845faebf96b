"""Planning services: the plan document, its approval by the signatories, the approval sheet."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from documents.models import DocumentVersion
from workflow.approvals.models import Approval, Decision
from workflow.approvals.services import Signatory, decide, request_approval
from workflow.exceptions import ConditionUnmet
from workflow.tasks import ensure_allowed, take
from workflow.transitions import describe, perform, transition_name

from processes.rounds.paperwork import format_amount, format_date, generate, outcome

from .models import Plan

#: The policy used when the round's data sets none for the development plan.
DEFAULT_POLICY = {"policy": "all_of", "veto": True}


def document_target(value, language: str) -> str:
    """A KPI target as the plan document prints it: grouped like the budgets
    (``format_amount``: ``999 999 999 999,99`` in ru/kk, ``999,999,999,999.99`` in en), without
    the decimals when it is whole (``1 500``)."""
    text = format_amount(value, language)
    return text[:-3] if Decimal(value) == Decimal(value).to_integral() else text


def document_date(value, language: str) -> str:
    """A deadline as the plan document prints it: ``format_date`` (``dd.mm.yyyy`` in ru/kk, ISO
    in en), the year always with four digits (``01.01.0001``, not ``01.01.1``: strftime's ``%Y``
    does not pad)."""
    if language in ("ru", "kk"):
        return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"
    return format_date(value, language)


def plan_document(*, plan: Plan, actor) -> DocumentVersion:
    """Generate (a new version of) the development plan document; return the version."""
    case = plan.case
    lang = case.language
    return generate(rnd=case.round, case=case, kind="development_plan", stage="planning", actor=actor, context={
        "vision": plan.vision, "governance": plan.governance,
        "actions": [{"number": a.position, "measure": a.measure, "responsible": a.responsible,
                     "deadline": document_date(a.deadline, lang), "budget_kzt": format_amount(a.budget_kzt, lang),
                     "kpi": a.kpi, "target": f"{document_target(a.kpi_target, lang)} {a.kpi_unit}".strip()}
                    for a in plan.actions.all()],
        "total_budget_kzt": format_amount(plan.total_budget_kzt, lang)})


@transaction.atomic
def send_for_signing(*, plan: Plan, actor, comment: str = "") -> Approval:
    """Render the plan and ask the round's signatories to approve that exact version.

    The policy comes from ``round.approval_policies["development_plan"]`` (see
    :mod:`workflow.approvals`). Sending a new version while one is open supersedes the open
    approval and its decisions. ``send_for_signing`` is taken with ``comment`` (completing the
    task "Review the plan and send it for signing" when ``actor`` holds or may claim it).
    Returns the approval. Raises ``ValueError`` when a signatory position has no user, and the
    workflow errors of ``perform``.
    """
    rnd = plan.case.round
    positions = list(rnd.signatories.select_related("user"))
    missing = [str(p) for p in positions if p.user_id is None]
    if missing:
        raise ValueError("signatory positions without a user: " + "; ".join(missing))
    version = plan_document(plan=plan, actor=actor)
    if plan.state != Plan.State.SIGNING:
        take(plan, "send_for_signing", actor=actor, comment=comment, route=False,
             data={"version": version.number, "sha256": version.sha256})
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
def conclude_signing(*, plan: Plan, actor, comment: str = "") -> Plan:
    """Approve the plan when its current version's approval is approved (or reject it when
    the approval is rejected), mark the signed version immutable, and generate the approval
    sheet listing every decision on every version. Returns the plan.
    """
    approval = plan.current_approval
    take(plan, "approve" if approval.state == Approval.State.APPROVED else "reject", actor=actor, comment=comment,
         route=False)
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


def signatories_missing_message(plan: Plan) -> str:
    """Why the plan cannot be sent for signing, in the active language, or ``""``: the round has
    no signatory positions, or some have no user (set on the round in the back office)."""
    positions = list(plan.case.round.signatories.select_related("user"))
    if not positions:
        return _("the round %(round)s names no signatories of the development plan; add them to the round "
                 "in the back office") % {"round": plan.case.round.code}
    missing = [str(p) for p in positions if p.user_id is None]
    if missing:
        return _("signatory positions without a user: %(positions)s; name their users on the round "
                 "in the back office") % {"positions": "; ".join(missing)}
    users = [p.user_id for p in positions]
    if len(set(users)) != len(users):
        return _("a user holds two signatory positions of the round %(round)s; each position needs its own "
                 "signatory") % {"round": plan.case.round.code}
    return ""


def take_routed(plan: Plan, transition: str, *, actor, comment: str = "", data=None) -> Plan:
    """Take ``transition`` of ``plan`` the way every path does (``Plan.take_task_transition``).

    ``send_for_signing``: :func:`send_for_signing` (the next version of the plan document,
    its sha256 in the audit entry, the approval of the round's signatories under the round's
    policy, each signatory's decision task); ``approve`` / ``reject`` once the current
    version's approval is decided: :func:`conclude_signing` (the signed version, the approval
    sheet). The transition's state (409), permission (403) and conditions (400) are checked
    first, as ``perform`` does, and a round whose signatory positions are missing or have no
    user is refused with :class:`~workflow.exceptions.ConditionUnmet` (400), before any document
    is rendered: a refusal changes nothing. Any other transition is taken with ``perform``.
    Returns ``plan``.
    """
    if transition not in Plan.routed_transitions:
        return perform(plan, transition, actor=actor, comment=comment, data=data)
    ensure_allowed(plan, transition, actor=actor)
    if transition == "send_for_signing":
        reason = signatories_missing_message(plan)
        if reason:
            raise ConditionUnmet(_("cannot %(transition)s %(object)s: %(reason)s") % {
                "transition": transition_name(transition), "object": describe(plan), "reason": reason},
                reason=reason, obj=plan, transition=transition, state=plan.state)
        send_for_signing(plan=plan, actor=actor, comment=comment)
    else:
        conclude_signing(plan=plan, actor=actor, comment=comment)
    return plan
