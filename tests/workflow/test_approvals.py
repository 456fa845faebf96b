"""Approval policies, superseding versions, delegation, out-of-office and self-approval."""

import datetime as dt

import pytest
from django.utils import timezone

from documents.models import DocumentVersion
from processes.rounds.actors import ensure_user
from workflow.approvals import policy as rules
from workflow.approvals.models import Approval, Decision, Delegation
from workflow.approvals.services import Signatory, decide, delegate, request_approval, revoke_delegation
from workflow.exceptions import ConditionUnmet, TransitionPermissionDenied
from workflow.models import AuditEntry, Notification

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


@pytest.mark.parametrize("policy, required, veto, states, expected", [
    ("all_of", None, True, ["approved", "approved"], "approved"),
    ("all_of", None, True, ["approved", "pending"], None),
    ("all_of", None, True, ["rejected", "pending"], "rejected"),
    ("all_of", None, False, ["rejected", "pending"], "rejected"),       # all can no longer approve
    ("quorum", 2, False, ["approved", "rejected", "pending"], None),
    ("quorum", 2, False, ["approved", "rejected", "approved"], "approved"),
    ("quorum", 2, False, ["rejected", "rejected", "pending"], "rejected"),
    ("quorum", 2, True, ["approved", "rejected", "pending"], "rejected"),  # veto
    ("sequential", None, True, ["approved", "approved", "approved"], "approved"),
    ("sequential", None, True, ["approved", "pending", "pending"], None),
])
def test_policy_outcomes(policy, required, veto, states, expected):
    assert rules.outcome(policy, required, veto, states) == expected


@pytest.mark.parametrize("policy, required, n, message", [
    ("majority", None, 3, "unknown approval policy"), ("quorum", 4, 3, "a quorum needs 1..3"),
    ("quorum", None, 3, "a quorum needs 1..3"), ("all_of", None, 0, "at least one signatory"),
])
def test_bad_policies_are_refused(policy, required, n, message):
    with pytest.raises(ValueError, match=message):
        rules.needed(policy, required, n)


@pytest.fixture
def people(sample_round):
    author = ensure_user("author", "coordinator")
    signers = [ensure_user(f"signer{i}", "signatory") for i in (1, 2, 3)]
    return author, signers


@pytest.fixture
def subject(sample_round):
    return DocumentVersion.objects.filter(document__owner_ref="TC-2017/A2").first()


def _request(subject, author, signers, policy="all_of", required=None, veto=True, key="T:doc", version=1,
             sha="a" * 64):
    return request_approval(subject=subject, sha256=sha, version=version, key=key, chain="TC-2017/A2",
                            title="Test document", author=author, signatories=[Signatory(u) for u in signers],
                            policy=policy, required=required, veto=veto, actor=author)


def _decide(approval, user, approve=True, comment=""):
    decision = approval.decisions.get(signatory=user)
    return decide(decision=decision, actor=user, approve=approve, comment=comment)


def test_all_of_needs_every_signatory(subject, people):
    author, (s1, s2, _) = people
    approval = _request(subject, author, [s1, s2])
    _decide(approval, s1)
    approval.refresh_from_db()
    assert approval.state == "open"
    _decide(approval, s2)
    approval.refresh_from_db()
    assert approval.state == "approved" and approval.concluded_at is not None
    assert {d.sha256 for d in approval.decisions.all()} == {"a" * 64}
    kinds = sorted(Notification.objects.filter(chain="TC-2017/A2", data__approval=approval.pk)
                   .values_list("recipient__username", "kind"))
    assert kinds == [("author", "approval_approved"), ("signer1", "approval_requested"),
                     ("signer2", "approval_requested")]
    assert Notification.objects.filter(recipient=author, kind="decision_recorded").count() == 2


def test_two_of_three_quorum_approves_without_the_third(subject, people):
    author, signers = people
    approval = _request(subject, author, signers, policy="quorum", required=2, veto=False)
    _decide(approval, signers[0], approve=False, comment="no")
    _decide(approval, signers[1])
    approval.refresh_from_db()
    assert approval.state == "open"
    _decide(approval, signers[2])
    approval.refresh_from_db()
    assert approval.state == "approved"
    assert not approval.decisions.filter(state="pending").exists()


def test_a_decision_after_the_quorum_is_reached_is_refused(subject, people):
    author, signers = people
    approval = _request(subject, author, signers, policy="quorum", required=2, veto=False)
    _decide(approval, signers[0])
    _decide(approval, signers[1])
    with pytest.raises(ConditionUnmet, match="the approval is no longer open"):
        _decide(approval, signers[2])
    assert approval.decisions.get(signatory=signers[2]).state == "pending"


def test_sequential_order_is_enforced(subject, people):
    author, signers = people
    approval = _request(subject, author, signers, policy="sequential")
    with pytest.raises(ConditionUnmet, match="earlier signatories"):
        _decide(approval, signers[1])
    assert approval.decisions.get(signatory=signers[1]).state == "pending"
    for signer in signers:
        _decide(approval, signer)
    approval.refresh_from_db()
    assert approval.state == "approved"


def test_a_veto_rejects_at_once(subject, people):
    author, signers = people
    approval = _request(subject, author, signers, policy="all_of", veto=True)
    _decide(approval, signers[0])
    _decide(approval, signers[1], approve=False, comment="budget")
    approval.refresh_from_db()
    assert approval.state == "rejected"
    with pytest.raises(ConditionUnmet):
        _decide(approval, signers[2])


def test_a_new_version_supersedes_the_open_approval_and_its_decisions(subject, people):
    author, (s1, s2, _) = people
    first = _request(subject, author, [s1, s2])
    _decide(first, s1)
    second = _request(subject, author, [s1, s2], version=2, sha="b" * 64)
    first.refresh_from_db()
    assert first.state == "superseded"
    assert {d.state for d in first.decisions.all()} == {"superseded"}
    assert second.state == "open" and set(second.decisions.values_list("state", flat=True)) == {"pending"}
    _decide(second, s1)
    _decide(second, s2)
    assert {d.sha256 for d in second.decisions.all()} == {"b" * 64}
    assert Approval.objects.filter(key="T:doc", state="open").count() == 0


def test_the_author_may_not_approve_their_own_document(subject, people):
    author, (s1, _, _) = people
    approval = _request(subject, author, [author, s1])
    before = AuditEntry.objects.count()
    with pytest.raises(TransitionPermissionDenied, match="author of a document may not approve it"):
        _decide(approval, author)
    assert AuditEntry.objects.count() == before


def test_someone_else_may_not_decide_for_a_signatory(subject, people):
    author, (s1, s2, _) = people
    approval = _request(subject, author, [s1])
    with pytest.raises(TransitionPermissionDenied, match="only signer1 or a deputy"):
        decide(decision=approval.decisions.get(), actor=s2, approve=True)


def test_a_deputy_acts_on_behalf_of_the_signatory_within_the_dates(subject, people):
    author, (s1, s2, deputy) = people
    approval = _request(subject, author, [s1, s2])
    delegate(owner=s1, deputy=deputy, starts_on=TODAY(), ends_on=TODAY() + dt.timedelta(days=5),
             approval=approval, actor=s1, reason="business trip")
    decision = approval.decisions.get(signatory=s1)
    decide(decision=decision, actor=deputy, approve=True, comment="for signer1")
    decision.refresh_from_db()
    assert decision.state == "approved" and decision.decided_by == deputy and decision.signatory == s1
    entry = AuditEntry.objects.filter(object_type="approvals.decision", object_id=str(decision.pk)).latest("seq")
    assert entry.actor_username == "signer3" and entry.on_behalf_of_username == "signer1"
    assert AuditEntry.objects.filter(chain="delegations", transition="delegation_granted").exists()


def test_a_delegation_outside_its_dates_or_revoked_does_not_count(subject, people):
    author, (s1, _, deputy) = people
    approval = _request(subject, author, [s1])
    past = delegate(owner=s1, deputy=deputy, starts_on=TODAY() - dt.timedelta(days=10),
                    ends_on=TODAY() - dt.timedelta(days=1), actor=s1)
    assert past.approval is None
    with pytest.raises(TransitionPermissionDenied):
        decide(decision=approval.decisions.get(), actor=deputy, approve=True)
    current = delegate(owner=s1, deputy=deputy, starts_on=TODAY(), ends_on=TODAY(), actor=s1)
    revoke_delegation(delegation=current, actor=s1)
    with pytest.raises(TransitionPermissionDenied):
        decide(decision=approval.decisions.get(), actor=deputy, approve=True)


def test_a_delegation_scoped_to_another_approval_does_not_count(subject, people):
    author, (s1, s2, deputy) = people
    other = _request(subject, author, [s1], key="T:other")
    approval = _request(subject, author, [s1])
    delegate(owner=s1, deputy=deputy, starts_on=TODAY(), ends_on=TODAY(), approval=other, actor=s1)
    with pytest.raises(TransitionPermissionDenied):
        decide(decision=approval.decisions.get(), actor=deputy, approve=True)


def test_out_of_office_substitution_covers_every_decision_in_the_period(subject, people):
    author, (s1, s2, substitute) = people
    delegate(owner=s2, deputy=substitute, starts_on=TODAY() - dt.timedelta(days=1),
             ends_on=TODAY() + dt.timedelta(days=14), kind=Delegation.Kind.OUT_OF_OFFICE, actor=s2,
             reason="annual leave")
    first = _request(subject, author, [s1, s2], key="T:one")
    second = _request(subject, author, [s2], key="T:two")
    for approval in (first, second):
        decide(decision=approval.decisions.get(signatory=s2), actor=substitute, approve=True)
    assert second.decisions.get().decided_by == substitute
    second.refresh_from_db()
    assert second.state == "approved"


def test_bad_delegations_are_refused(people):
    _, (s1, s2, _) = people
    with pytest.raises(ValueError, match="themselves"):
        delegate(owner=s1, deputy=s1, starts_on=TODAY(), ends_on=TODAY(), actor=s1)
    with pytest.raises(ValueError, match="before it starts"):
        delegate(owner=s1, deputy=s2, starts_on=TODAY(), ends_on=TODAY() - dt.timedelta(days=1), actor=s1)


def test_repeated_signatory_and_bad_quorum_are_refused(subject, people):
    author, (s1, _, _) = people
    with pytest.raises(ValueError, match="twice"):
        _request(subject, author, [s1, s1])
    with pytest.raises(ValueError, match="quorum"):
        _request(subject, author, [s1], policy="quorum", required=2)


def _inbox_decisions(user):
    from workflow import tasks

    return [t.process.artifact for t in tasks.inbox(user) if isinstance(t.process.artifact, Decision)]


def test_each_pending_decision_is_a_task_in_the_signatory_inbox(subject, people):
    author, (s1, s2, _) = people
    approval = _request(subject, author, [s1, s2])
    assert [d.signatory for d in _inbox_decisions(s1)] == [s1]
    _decide(approval, s1)
    assert _inbox_decisions(s1) == []  # taken: the task closed with the decision
    assert [d.signatory for d in _inbox_decisions(s2)] == [s2]


def test_sequential_approval_asks_the_next_signatory_only_after_the_previous_one(subject, people):
    author, signers = people
    approval = _request(subject, author, signers, policy="sequential")
    assert [len(_inbox_decisions(s)) for s in signers] == [1, 0, 0]
    _decide(approval, signers[0])
    assert [len(_inbox_decisions(s)) for s in signers] == [0, 1, 0]


def test_a_deputy_sees_the_owners_tasks_while_the_owner_is_out_of_office(subject, people):
    author, (s1, _, substitute) = people
    _request(subject, author, [s1])
    assert _inbox_decisions(substitute) == []
    delegate(owner=s1, deputy=substitute, starts_on=TODAY(), ends_on=TODAY(), kind=Delegation.Kind.OUT_OF_OFFICE,
             actor=s1)
    assert [d.signatory for d in _inbox_decisions(substitute)] == [s1]


def test_superseding_closes_the_old_decision_tasks(subject, people):
    author, (s1, _, _) = people
    _request(subject, author, [s1])
    _request(subject, author, [s1], version=2, sha="c" * 64)
    pending = _inbox_decisions(s1)
    assert len(pending) == 1 and pending[0].approval.subject_version == 2


def test_approval_messages_and_the_task_title_are_in_each_recipients_language(subject, people):
    """The signatory reads the request and its task in their saved language; the author reads
    the decisions and the outcome in theirs; without a preference, the documents' language."""
    from django.conf import settings

    from workflow import tasks as human_tasks
    from workflow.models import UserPreference

    author, (s1, s2, _) = people
    UserPreference.objects.create(user=author, language="kk")
    UserPreference.objects.create(user=s1, language="en")
    approval = _request(subject, author, [s1, s2])
    request_to = {n.recipient.username: n for n in Notification.objects.filter(kind="approval_requested")}
    assert request_to["signer1"].subject == "Your decision is requested: Test document v1"
    assert request_to["signer1"].language == "en"
    assert request_to["signer2"].language == settings.KELISIM_DOCUMENT_LANGUAGE == "ru"
    assert request_to["signer2"].subject == "Требуется ваше решение: Test document, версия 1"
    def task_title(signatory):
        return {human_tasks.task_data(t)["title"]
                for t in human_tasks.open_tasks_for(approval.decisions.get(signatory=signatory))}

    assert task_title(s1) == {"Decide on Test document v1"}
    assert task_title(s2) == {"Принять решение: Test document, версия 1"}
    _decide(approval, s1)
    _decide(approval, s2)
    to_author = Notification.objects.filter(recipient=author).order_by("pk")
    assert [n.language for n in to_author] == ["kk", "kk", "kk"]
    assert to_author.filter(kind="approval_approved").get().subject.endswith(": бекітілді")
    assert {n.subject.split(":")[0] for n in to_author.filter(kind="decision_recorded")} == {"signer1 бекітті",
                                                                                              "signer2 бекітті"}
