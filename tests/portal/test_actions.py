"""Bad input on the portal's state-changing POST endpoints: each gets a clear 4xx and changes nothing.

``portal:case-transition``, ``portal:decision`` and ``portal:case-bulk`` over the 2017 sample
cycle plus the demo users (built once per module in a transaction rolled back at its end;
each test runs in its own rolled-back transaction on top).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from documents.models import DocumentVersion
from processes.portal import actions
from processes.rounds.actors import ensure_user
from processes.rounds.models import Case
from workflow.approvals.models import Approval, Decision
from workflow.approvals.services import Signatory, delegate, request_approval, revoke_delegation
from workflow.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    fast_hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast_hashers), transaction.atomic():
        call_command("create_demo_users", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def user(username):
    return get_user_model().objects.get(username=username)


def case(number: str) -> Case:
    return Case.objects.get(ref=f"TC-2017/{number}")


def as_(client, username):
    client.force_login(user(username))
    return client


def world_state():
    """Every case's and decision's state, and the number of audit entries."""
    return (dict(Case.objects.values_list("ref", "state")), dict(Decision.objects.values_list("pk", "state")),
            dict(Approval.objects.values_list("pk", "state")), AuditEntry.objects.count())


@contextlib.contextmanager
def nothing_changes():
    before = world_state()
    yield
    assert world_state() == before


def text(response) -> str:
    return html.unescape(response.content.decode())


# -- portal:case-transition -------------------------------------------------------------------------

def transition_url(number: str, name: str) -> str:
    return reverse("portal:case-transition", args=[case(number).pk, name])


def test_unknown_transition_is_400_with_the_name(world, client):
    with nothing_changes():
        response = as_(client, "coordinator").post(transition_url("A1", "fly_away"))
    assert response.status_code == 400
    assert "has no transition named 'fly_away'" in text(response)


@pytest.mark.parametrize("name", ["save", "delete", "refresh_from_db", "__init__", "state"])
def test_a_model_attribute_that_is_not_a_transition_is_400(world, client, name):
    with nothing_changes():
        response = as_(client, "admin").post(transition_url("A1", name))
    assert response.status_code == 400
    assert "no transition named" in text(response)


def test_a_transition_not_allowed_from_the_state_is_409_naming_the_state(world, client):
    with nothing_changes():
        response = as_(client, "coordinator").post(transition_url("A1", "advance_to_selection"))
    assert response.status_code == 409
    assert "“advance to selection” is not allowed from state “implementation”" in text(response)


def test_an_unmet_condition_is_400_with_the_reason(world, client):
    with nothing_changes():
        response = as_(client, "coordinator").post(transition_url("A1", "close"))
    assert response.status_code == 400
    assert "implementation must be completed" in text(response)


@pytest.mark.parametrize("username", ["auditor", "expert1", "signatory1", "applicant-a1"])
def test_a_transition_the_user_may_not_take_is_403(world, client, username):
    with nothing_changes():
        response = as_(client, username).post(transition_url("A1", "suspend"))
    assert response.status_code == 403
    assert f"{username} may not “suspend”" in text(response) and "requires the role" in text(response)


def test_the_applicant_may_not_withdraw_a_case_in_implementation(world, client):
    with nothing_changes():
        response = as_(client, "applicant-a1").post(transition_url("A1", "withdraw"))
    assert response.status_code == 409
    assert "from state “implementation”" in text(response)


@pytest.mark.parametrize("pk", [10**9, 2**63, 10**30])
def test_an_unknown_or_invisible_case_is_404(world, client, pk):
    with nothing_changes():
        assert as_(client, "coordinator").post(reverse("portal:case-transition", args=[pk, "suspend"])).status_code == 404
        assert as_(client, "applicant-a1").post(transition_url("A2", "withdraw")).status_code == 404


def test_get_is_405(world, client):
    with nothing_changes():
        assert as_(client, "coordinator").get(transition_url("A1", "suspend")).status_code == 405


def test_a_long_comment_is_truncated_not_rejected(world, client):
    response = as_(client, "coordinator").post(transition_url("A1", "suspend"), {"comment": "x" * 5000})
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-detail",
                                                                            args=[case("A1").pk])
    assert case("A1").state == "suspended"
    entry = AuditEntry.objects.filter(chain="TC-2017/A1", object_type="rounds.case").order_by("-seq").first()
    assert entry.transition == "suspend" and len(entry.comment) == actions.MAX_COMMENT == 4000


def test_the_second_of_two_identical_requests_is_409(world, client):
    as_(client, "coordinator")
    assert client.post(transition_url("A1", "suspend")).status_code == 302
    with nothing_changes():
        again = client.post(transition_url("A1", "suspend"))
    assert again.status_code == 409
    assert "from state “suspended”" in text(again)


def test_a_case_moved_between_load_and_save_is_409(world, client, monkeypatch):
    """Another request suspends the case after this one loaded it: the save detects it."""
    real_perform = actions.perform

    def perform_after_a_concurrent_change(obj, name, **kwargs):
        type(obj).objects.filter(pk=obj.pk).update(state="suspended")  # the other request, committed
        return real_perform(obj, name, **kwargs)

    monkeypatch.setattr(actions, "perform", perform_after_a_concurrent_change)
    entries = AuditEntry.objects.count()
    response = as_(client, "coordinator").post(transition_url("A1", "suspend"))
    assert response.status_code == 409
    assert "changed by someone else" in text(response) and "“suspended”" in text(response)
    assert AuditEntry.objects.count() == entries
    assert case("A1").state == "suspended"  # what the other request left, nothing more


def test_the_posts_need_a_csrf_token(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user("coordinator"))
    with nothing_changes():
        assert client.post(transition_url("A1", "suspend")).status_code == 403
        assert client.post(reverse("portal:case-bulk"), {"transition": "suspend",
                                                          "cases": [case("A1").pk]}).status_code == 403


# -- portal:decision --------------------------------------------------------------------------------

def approval_on(number: str, *signatories: str, author: str = "coordinator", key: str | None = None, **options):
    version = (DocumentVersion.objects.filter(document__owner_ref=f"TC-2017/{number}").order_by("pk").first())
    return request_approval(subject=version, sha256=version.sha256, version=version.number,
                            key=key or f"test:{number}", chain=f"TC-2017/{number}", title=f"Test {number}",
                            author=user(author), signatories=[Signatory(user(s)) for s in signatories],
                            actor=user("coordinator"), **options)


def decision_of(approval: Approval, username: str) -> Decision:
    return approval.decisions.get(signatory__username=username)


def decision_url(decision: Decision, verdict: str = "approve") -> str:
    return reverse("portal:decision", args=[decision.pk, verdict])


@pytest.mark.parametrize("verdict", ["accept", "APPROVE", "approved", "yes", "supersede"])
def test_a_verdict_other_than_approve_or_reject_is_400(world, client, verdict):
    decision = decision_of(approval_on("A1", "signatory1", "signatory2"), "signatory1")
    with nothing_changes():
        response = as_(client, "signatory1").post(decision_url(decision, verdict))
    assert response.status_code == 400
    assert "use approve or reject" in text(response)


def test_someone_elses_decision_on_a_visible_case_is_403(world, client):
    decision = decision_of(approval_on("A1", "signatory1", "signatory2"), "signatory2")
    with nothing_changes():
        response = as_(client, "signatory1").post(decision_url(decision))
    assert response.status_code == 403
    assert "only signatory2 or a deputy" in text(response)


def test_a_decision_on_a_case_the_user_cannot_see_is_404(world, client):
    decision = decision_of(approval_on("A2", "signatory2"), "signatory2")
    with nothing_changes():
        for username in ("signatory1", "applicant-a1"):
            assert as_(client, username).post(decision_url(decision)).status_code == 404
        for pk in (10**9, 2**63, 10**30):
            assert client.post(reverse("portal:decision", args=[pk, "approve"])).status_code == 404


def test_deciding_twice_is_409(world, client):
    decision = decision_of(approval_on("A1", "signatory1", "signatory2"), "signatory1")
    as_(client, "signatory1")
    assert client.post(decision_url(decision)).status_code == 302
    with nothing_changes():
        again = client.post(decision_url(decision, "reject"))
    assert again.status_code == 409
    assert "from state “approved”" in text(again)


def test_a_superseded_decision_is_409(world, client):
    old = decision_of(approval_on("A1", "signatory1", "signatory2", key="test:A1:plan"), "signatory1")
    approval_on("A1", "signatory1", "signatory2", key="test:A1:plan")  # a new version supersedes it
    old.refresh_from_db()
    assert (old.state, old.approval.state) == ("superseded", "superseded")
    with nothing_changes():
        response = as_(client, "signatory1").post(decision_url(old))
    assert response.status_code == 409
    assert "from state “superseded”" in text(response)


def test_a_pending_decision_on_a_concluded_approval_is_400(world, client):
    approval = approval_on("A1", "signatory1", "signatory2", policy="quorum", required=1)
    assert as_(client, "signatory2").post(decision_url(decision_of(approval, "signatory2"))).status_code == 302
    approval.refresh_from_db()
    assert approval.state == "approved"
    late = decision_of(approval, "signatory1")
    assert late.state == "pending"
    with nothing_changes():
        response = as_(client, "signatory1").post(decision_url(late))
    assert response.status_code == 400
    assert "the approval is no longer open" in text(response)


def test_the_author_may_not_approve_their_own_document(world, client):
    decision = decision_of(approval_on("A1", "signatory1", "signatory2", author="signatory1"), "signatory1")
    with nothing_changes():
        response = as_(client, "signatory1").post(decision_url(decision))
    assert response.status_code == 403
    assert "author" in text(response)


def test_a_deputy_with_an_active_delegation_decides_on_behalf(world, client):
    deputy = ensure_user("deputy", "signatory")
    decision = decision_of(approval_on("A1", "signatory1", "signatory2"), "signatory1")
    today = timezone.localdate()
    delegate(owner=user("signatory1"), deputy=deputy, starts_on=today, ends_on=today + dt.timedelta(days=7),
             actor=user("coordinator"), reason="holiday")
    response = as_(client, "deputy").post(decision_url(decision), {"comment": "for signatory1"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-list")
    decision.refresh_from_db()
    assert (decision.state, decision.decided_by, decision.comment) == ("approved", deputy, "for signatory1")
    entry = AuditEntry.objects.filter(chain="TC-2017/A1", transition="approve",
                                      object_type="approvals.decision").order_by("-seq").first()
    assert (entry.actor_username, entry.on_behalf_of_username) == ("deputy", "signatory1")


def test_a_deputy_whose_delegation_was_revoked_or_expired_is_refused(world, client):
    deputy = ensure_user("deputy", "signatory")
    decision = decision_of(approval_on("A1", "signatory1", "signatory2"), "signatory1")
    today = timezone.localdate()
    revoked = delegate(owner=user("signatory1"), deputy=deputy, starts_on=today, ends_on=today, actor=user("admin"))
    revoke_delegation(delegation=revoked, actor=user("admin"))
    delegate(owner=user("signatory1"), deputy=deputy, starts_on=today - dt.timedelta(days=9),
             ends_on=today - dt.timedelta(days=1), actor=user("admin"))
    with nothing_changes():
        response = as_(client, "deputy").post(decision_url(decision))
    assert response.status_code == 404  # the deputy no longer sees signatory1's cases


def test_the_deputy_of_another_signatory_may_not_decide(world, client):
    deputy = ensure_user("deputy", "signatory")
    approval = approval_on("A1", "signatory1", "signatory2")
    today = timezone.localdate()
    delegate(owner=user("signatory2"), deputy=deputy, starts_on=today, ends_on=today, actor=user("admin"))
    with nothing_changes():
        response = as_(client, "deputy").post(decision_url(decision_of(approval, "signatory1")))
    assert response.status_code == 403


def test_a_decision_comment_is_truncated(world, client):
    decision = decision_of(approval_on("A1", "signatory1", "signatory2"), "signatory1")
    assert as_(client, "signatory1").post(decision_url(decision), {"comment": "y" * 4500}).status_code == 302
    decision.refresh_from_db()
    assert decision.state == "approved" and len(decision.comment) == 4000


def test_get_on_a_decision_is_405(world, client):
    decision = decision_of(approval_on("A1", "signatory1"), "signatory1")
    with nothing_changes():
        assert as_(client, "signatory1").get(decision_url(decision)).status_code == 405


# -- portal:case-bulk -------------------------------------------------------------------------------

def bulk(client, data):
    return client.post(reverse("portal:case-bulk"), data)


@pytest.mark.parametrize("data", [
    {},
    {"transition": "suspend"},
    {"transition": "", "cases": ["1"]},
    {"cases": ["1"]},
    {"transition": "suspend", "cases": []},
    {"transition": "suspend", "cases": [""]},
], ids=["nothing", "no-cases", "empty-transition", "no-transition", "empty-cases", "blank-id"])
def test_bulk_without_a_transition_or_cases_is_400(world, client, data):
    with nothing_changes():
        response = bulk(as_(client, "coordinator"), data)
    assert response.status_code == 400
    assert "choose a transition and at least one case" in text(response)


@pytest.mark.parametrize("ids", [["abc"], ["1", "x"], ["1.5"], ["1e3"], ["0x10"]])
def test_bulk_with_non_numeric_ids_is_400(world, client, ids):
    data = {"transition": "suspend", "cases": [str(case("A1").pk)] + ids}
    with nothing_changes():
        response = bulk(as_(client, "coordinator"), data)
    assert response.status_code == 400


@pytest.mark.parametrize("extra", [10**9, -1, 2**63, 10**30])
def test_bulk_with_a_nonexistent_case_is_404(world, client, extra):
    with nothing_changes():
        response = bulk(as_(client, "coordinator"), {"transition": "suspend", "cases": [case("A1").pk, extra]})
    assert response.status_code == 404
    assert "do not exist" in text(response)


def test_bulk_with_a_case_the_user_cannot_see_is_404(world, client):
    with nothing_changes():
        response = bulk(as_(client, "applicant-a1"), {"transition": "withdraw",
                                                      "cases": [case("A1").pk, case("A2").pk]})
    assert response.status_code == 404


def test_bulk_with_an_unknown_transition_is_400(world, client):
    with nothing_changes():
        response = bulk(as_(client, "coordinator"), {"transition": "teleport",
                                                     "cases": [case("A1").pk, case("A4").pk]})
    assert response.status_code == 400
    assert "no transition named 'teleport'" in text(response)


def test_bulk_refused_on_the_last_case_rolls_back_the_first(world, client):
    with nothing_changes():
        response = bulk(as_(client, "coordinator"), {"transition": "suspend",
                                                     "cases": [case("A1").pk, case("A4").pk, case("A9").pk]})
    assert response.status_code == 409
    assert "“refused”" in text(response)


def test_bulk_repeated_ids_count_once(world, client):
    response = bulk(as_(client, "coordinator"), {"transition": "suspend",
                                                 "cases": [case("A1").pk, case("A1").pk]})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(chain="TC-2017/A1", object_type="rounds.case", transition="suspend").count() == 1


def test_get_on_bulk_is_405(world, client):
    with nothing_changes():
        assert as_(client, "coordinator").get(reverse("portal:case-bulk")).status_code == 405



# -- decisions taken from the inbox (portal:task-complete on a decision task) -----------------------

def decision_task(decision: Decision):
    from workflow import tasks as human_tasks

    task = human_tasks.open_tasks_for(decision).first()
    assert task is not None and task.owner == decision.signatory
    return task


def test_a_decision_completed_from_the_inbox_concludes_its_approval(world, client):
    approval = approval_on("A1", "signatory1")  # all of one signatory: one approval concludes it
    decision = decision_of(approval, "signatory1")
    response = as_(client, "signatory1").post(reverse("portal:task-complete", args=[decision_task(decision).pk]),
                                              {"transition": "approve"})
    assert response.status_code == 302
    decision.refresh_from_db()
    approval.refresh_from_db()
    assert decision.state == "approved"
    entry = AuditEntry.objects.filter(chain="TC-2017/A1", object_type="approvals.decision").order_by("-seq").first()
    assert entry.data.get("sha256") == approval.subject_sha256
    assert approval.state == "approved"


def test_an_out_of_office_deputy_completes_the_decision_task_in_their_inbox(world, client):
    deputy = ensure_user("deputy", "signatory")
    decision = decision_of(approval_on("A1", "signatory1", "signatory2"), "signatory1")
    task = decision_task(decision)
    today = timezone.localdate()
    delegate(owner=user("signatory1"), deputy=deputy, starts_on=today, ends_on=today, actor=user("admin"),
             kind="out_of_office")
    as_(client, "deputy")
    assert f'id="task-{task.pk}"' in text(client.get(reverse("portal:inbox")))
    response = client.post(reverse("portal:task-complete", args=[task.pk]), {"transition": "approve"})
    assert response.status_code == 302, text(response)
    entry = AuditEntry.objects.filter(chain="TC-2017/A1", object_type="approvals.decision").order_by("-seq").first()
    assert (entry.actor_username, entry.on_behalf_of_username) == ("deputy", "signatory1")


def test_an_expert_sees_only_the_application_papers_and_its_own_score_sheet(world, client):
    case = Case.objects.get(ref="TC-2017/A1")
    page = as_(client, "expert1").get(reverse("portal:case-detail", args=[case.pk]))
    kinds = {(d.kind, d.key) for d in page.context["documents"]}
    assert kinds == {("application_receipt", ""), ("score_sheet", "expert1")}
    plan = DocumentVersion.objects.filter(document__owner_ref=case.ref, document__kind="development_plan").first()
    assert as_(client, "expert1").get(reverse("portal:document-download", args=[plan.pk])).status_code == 404
    own = DocumentVersion.objects.get(document__owner_ref=case.ref, document__kind="score_sheet",
                                      document__key="expert1")
    assert as_(client, "expert1").get(reverse("portal:document-download", args=[own.pk])).status_code == 200
    assert as_(client, "signatory1").get(reverse("portal:document-download", args=[plan.pk])).status_code == 200
