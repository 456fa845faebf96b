"""Approval services: request an approval, decide, conclude, delegate."""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from workflow import audit
from workflow import tasks as human_tasks
from workflow.notifications import language_of, notify
from workflow.permissions import SIGNATORY
from workflow.transitions import perform

from . import policy as rules
from .models import Approval, Decision, Delegation


@dataclasses.dataclass(frozen=True)
class Signatory:
    """A person asked to decide, with the position they sign in."""

    user: object
    role: str = ""
    organisation: str = ""


@transaction.atomic
def request_approval(*, subject, sha256: str, version: int, key: str, chain: str, title: str, author,
                     signatories: list[Signatory], policy: str = rules.ALL_OF, required: int | None = None,
                     veto: bool = True, actor, due_at=None) -> Approval:
    """Ask ``signatories`` (in position order) to approve ``subject`` (the exact version whose
    sha256 is ``sha256``) under ``policy``.

    An open approval with the same ``key`` (an earlier version of the document) is superseded
    together with its decisions. Returns the new :class:`Approval`. Raises ``ValueError``
    for an unknown policy, a quorum outside 1..n, no signatories or a repeated signatory.
    """
    rules.needed(policy, required, len(signatories))
    users = [s.user.pk for s in signatories]
    if len(set(users)) != len(users):
        raise ValueError("a signatory appears twice in the approval")
    for old in Approval.objects.select_for_update().filter(key=key, state__in=[Approval.State.OPEN,
                                                                               Approval.State.REJECTED]):
        supersede(approval=old, actor=actor, reason=f"new version {version}")
    approval = Approval.objects.create(
        chain=chain, key=key, title=title, subject_type=ContentType.objects.get_for_model(subject),
        subject_id=subject.pk, subject_sha256=sha256, subject_version=version, author=author, policy=policy,
        required=required if policy == rules.QUORUM else None, veto=veto)
    for position, signatory in enumerate(signatories, 1):
        decision = Decision.objects.create(approval=approval, position=position, signatory=signatory.user,
                                           role=signatory.role, organisation=signatory.organisation)
        if policy != rules.SEQUENTIAL or position == 1:
            _ask(decision, due_at=due_at)
    audit.append_entry(chain=chain, actor=actor, object_type="approvals.approval", object_id=str(approval.pk),
                       object_repr=str(approval), transition="approval_requested", from_state="",
                       to_state=approval.state,
                       data={"key": key, "version": version, "sha256": sha256, "policy": policy,
                             "required": approval.required, "veto": veto,
                             "signatories": [s.user.get_username() for s in signatories]})
    return approval


def _ask(decision: Decision, due_at=None) -> None:
    """Put ``decision`` in its signatory's inbox (with a deadline when ``due_at`` is given)
    and notify them (once)."""
    approval = decision.approval
    language = language_of(decision.signatory)
    with translation.override(language):  # the signatory's language: the task title and the message
        names = {"document": approval.title, "version": approval.subject_version}
        title = gettext("Decide on %(document)s v%(version)s") % names
        subject = gettext("Your decision is requested: %(document)s v%(version)s") % names
    human_tasks.open_task(decision, "approve", outcomes=("reject",), assignee=decision.signatory, role=SIGNATORY,
                          title=title, due_at=due_at)
    notify(recipient=decision.signatory, kind="approval_requested", key=f"decision:{decision.pk}:requested",
           subject=subject, chain=approval.chain, language=language,
           data={"approval": approval.pk, "decision": decision.pk, "sha256": approval.subject_sha256})


def _next_due(approval: Approval):
    """A later signatory in a sequence gets as much (calendar) time as the first one had."""
    from workflow.models import Deadline

    first = Deadline.objects.filter(task_id__isnull=False, subject_type=ContentType.objects.get_for_model(Decision),
                                    subject_id__in=approval.decisions.values("pk")).order_by("pk").first()
    if first is None:
        return None
    from django.utils import timezone

    return timezone.now() + (first.due_at - first.opened_at)


def supersede(*, approval: Approval, actor, reason: str) -> Approval:
    """Supersede ``approval`` and every decision of it (a new version restarts the approval)."""
    for decision in approval.decisions.exclude(state=Decision.State.SUPERSEDED):
        perform(decision, "supersede", actor=actor, comment=reason)
    return perform(approval, "supersede", actor=actor, comment=reason)


@transaction.atomic
def decide(*, decision: Decision, actor, approve: bool, comment: str = "") -> Decision:
    """Record ``actor``'s decision (for the signatory, or as their deputy) and conclude the
    approval when its policy is decided.

    The audit entry carries the sha256 of the exact version decided on and, for a deputy,
    names the signatory as ``on_behalf_of``. Raises the workflow errors of ``perform``:
    permission (not the signatory nor an active deputy, or the document's author), a
    decision out of sequence or on a closed approval, or a concurrent decision (409).
    """
    on_behalf_of = decision.signatory if actor is not None and actor.pk != decision.signatory_id else None
    perform(decision, "approve" if approve else "reject", actor=actor, comment=comment, on_behalf_of=on_behalf_of,
            data={"sha256": decision.approval.subject_sha256, "version": decision.approval.subject_version})
    approval = decision.approval
    if approval.author is not None:
        language = language_of(approval.author)
        with translation.override(language):
            names = {"signatory": decision.signatory.get_username(), "document": str(approval)}
            subject = (gettext("%(signatory)s approved: %(document)s") if decision.state == "approved"
                       else gettext("%(signatory)s rejected: %(document)s")) % names
        notify(recipient=approval.author, kind="decision_recorded", key=f"decision:{decision.pk}:{decision.state}",
               subject=subject, chain=approval.chain, language=language,
               data={"decision": decision.pk, "state": decision.state})
    conclude(approval=approval, actor=actor)
    if approval.state == Approval.State.OPEN and approval.policy == rules.SEQUENTIAL and decision.state == "approved":
        following = approval.decisions.filter(position__gt=decision.position, state="pending").order_by("position")
        if following.exists():
            _ask(following.first(), due_at=_next_due(approval))
    return decision


def conclude(*, approval: Approval, actor) -> Approval:
    """Approve or reject ``approval`` when its policy is decided; otherwise leave it open."""
    approval.refresh_from_db()
    if approval.state != Approval.State.OPEN:
        return approval
    states = list(approval.decisions.exclude(state=Decision.State.SUPERSEDED).order_by("position")
                  .values_list("state", flat=True))
    result = rules.outcome(approval.policy, approval.required, approval.veto, states)
    if result is None:
        return approval
    perform(approval, "approve" if result == rules.APPROVED else "reject", actor=actor)
    if approval.author is not None:
        language = language_of(approval.author)
        with translation.override(language):
            subject = (gettext("%(document)s is approved") if approval.state == Approval.State.APPROVED
                       else gettext("%(document)s is rejected")) % {"document": str(approval)}
        notify(recipient=approval.author, kind=f"approval_{approval.state}", key=f"approval:{approval.pk}:{approval.state}",
               subject=subject, chain=approval.chain, language=language, data={"approval": approval.pk})
    return approval


@transaction.atomic
def delegate(*, owner, deputy, starts_on: dt.date, ends_on: dt.date, actor, approval: Approval | None = None,
             kind: str = Delegation.Kind.DELEGATION, reason: str = "") -> Delegation:
    """Let ``deputy`` decide for ``owner`` from ``starts_on`` to ``ends_on`` (calendar dates,
    Asia/Almaty, inclusive), for one ``approval`` or for all (out of office).

    Recorded in the ``delegations`` audit chain. Raises ``ValueError`` naming every problem
    (``Delegation.problems``): a delegation to oneself, a deputy who is not a signatory or is an
    applicant, dates out of order, longer than a year or starting more than a year from today.
    """
    delegation = Delegation(owner=owner, deputy=deputy, starts_on=starts_on, ends_on=ends_on,
                            approval=approval, kind=kind, reason=reason)
    problems = delegation.problems()
    if problems:
        raise ValueError(" ".join(problems.values()))
    delegation.save()
    audit.append_entry(chain="delegations", actor=actor, object_type="approvals.delegation",
                       object_id=str(delegation.pk), object_repr=str(delegation), transition=f"{kind}_granted",
                       from_state="", to_state="active", comment=reason,
                       data={"owner": owner.get_username(), "deputy": deputy.get_username(),
                             "starts_on": starts_on, "ends_on": ends_on,
                             "approval": approval.pk if approval else None})
    return delegation


@transaction.atomic
def revoke_delegation(*, delegation: Delegation, actor) -> Delegation:
    """End ``delegation`` now; recorded in the ``delegations`` audit chain."""
    Delegation.objects.filter(pk=delegation.pk).update(revoked_at=timezone.now())
    delegation.refresh_from_db()
    audit.append_entry(chain="delegations", actor=actor, object_type="approvals.delegation",
                       object_id=str(delegation.pk), object_repr=str(delegation), transition="revoked",
                       from_state="active", to_state="revoked")
    return delegation
