"""Every stage machine: illegal transitions raise the documented error; every legal one works.

The legal transitions are proven by the audit entries they leave: the sample cycle takes the
main path, and the scenarios below take every off-ramp and loop. The final test asserts that
together they cover every transition of every state machine in Kelisim.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from django.apps import apps
from django_fsm import FSMFieldMixin

from processes.diagnosis.models import Diagnosis
from processes.diagnosis.services import record_assessment
from processes.planning.models import Plan, PlanAction
from processes.planning.services import conclude_signing, send_for_signing, sign
from processes.rounds.actors import ensure_user
from processes.rounds.importer import import_round
from processes.support.services import conclude_coordination, propose_measure, record_position
from processes.training.models import TrainingModule
from workflow.exceptions import TransitionNotAllowed
from workflow.models import AuditEntry
from workflow.transitions import perform

pytestmark = pytest.mark.django_db


def _fsm_models():
    for model in apps.get_models():
        fields = [f for f in model._meta.fields if isinstance(f, FSMFieldMixin)]
        if fields:
            yield model, fields[0]


def _illegal_pairs():
    for model, field in _fsm_models():
        states = [value for value, _ in field.choices]
        sources: dict[str, set] = {}
        for trans in field.get_all_transitions(model):  # one Transition per source state
            sources.setdefault(trans.name, set()).add(trans.source)
        for name, legal in sources.items():
            for state in states:
                if not legal & {state, "*", "+"}:
                    yield pytest.param(model, state, name, id=f"{model.__name__}.{name}@{state}")


@pytest.mark.parametrize("model, state, transition", list(_illegal_pairs()))
def test_an_illegal_transition_raises_transition_not_allowed(admin_user, model, state, transition):
    obj = model(state=state)
    with pytest.raises(TransitionNotAllowed) as info:
        perform(obj, transition, actor=admin_user)
    label = dict(model._meta.get_field("state").flatchoices).get(state, state)  # messages name states by label
    assert f"from state “{label}”" in str(info.value)
    assert obj.state == state


def _off_ramps(sample_round, round_file):
    """Take every off-ramp and loop that the straight sample cycle does not take."""
    coordinator = ensure_user("coordinator", "coordinator")
    # Applications: revision loop, withdrawal; cases: withdrawal.
    rnd = import_round(round_file(lambda d: (d["round"].update(code="TC-OFF", expiry_rules={"revision_reply": "lapse"}),
                                             d["round"]["review_working_days"].update(revision_reply=10)))).round
    perform(rnd, "open_applications", actor=coordinator)
    a1, a2 = rnd.applications.get(ref="A1"), rnd.applications.get(ref="A2")
    perform(a1, "submit", actor=coordinator)
    perform(a1, "return_for_revision", actor=coordinator, comment="co-financing letter missing")
    applicant = ensure_user("applicant-off", "applicant")
    type(a1.case).objects.filter(pk=a1.case.pk).update(applicant=applicant)
    a1.case.refresh_from_db()
    perform(a1, "resubmit", actor=applicant)
    perform(a1, "accept", actor=coordinator)
    type(a2.case).objects.filter(pk=a2.case.pk).update(applicant=applicant)
    a2.case.refresh_from_db()
    perform(a2, "withdraw", actor=applicant)
    perform(a2.case, "withdraw", actor=applicant)
    # Applications: a revision not filed in time lapses by the round's opt-in expiry rule.
    a3 = rnd.applications.get(ref="A3")
    type(a3.case).objects.filter(pk=a3.case.pk).update(applicant=applicant)
    a3.case.refresh_from_db()
    perform(a3, "submit", actor=coordinator)
    perform(a3, "return_for_revision", actor=coordinator, comment="budget annex missing")
    from workflow.deadlines import expire

    assert expire(now=timezone.now() + dt.timedelta(days=60)).taken
    a3.refresh_from_db()
    assert (a3.state, a3.case.state) == ("refused", "refused")
    # Score sheets: an expert declares a conflict of interest.
    from processes.selection.models import ScoreSheet
    from processes.selection.services import open_scoring

    accepted = a1
    open_scoring(application=accepted, experts=[ensure_user("expert-c1", "expert"), ensure_user("expert-c2", "expert")])
    sheet = ScoreSheet.objects.get(application=accepted, expert__username="expert-c1")
    perform(sheet, "declare_conflict", actor=sheet.expert, comment="my brother runs an anchor enterprise")
    assert sheet.state == "recused"
    # Diagnosis: the discussion sends the report back.
    spare = sample_round.cases.get(number="A2")
    diagnosis = Diagnosis.objects.create(case=spare)
    perform(diagnosis, "start_fieldwork", actor=coordinator)
    record_assessment(diagnosis=diagnosis, areas=[(f"area {i}", 50.0, "") for i in range(6)], actor=coordinator)
    perform(diagnosis, "open_discussion", actor=coordinator)
    perform(diagnosis, "return_to_draft", actor=coordinator, comment="add the value-chain analysis")
    # Plan: revision loop, a new version supersedes the first signatures, a veto rejects.
    plan = Plan.objects.create(case=spare, vision="v", governance="g")
    PlanAction.objects.create(plan=plan, position=1, measure="m", responsible="r", deadline=dt.date(2018, 3, 31),
                              budget_kzt=Decimal("1000000"), kpi="k", kpi_target=Decimal(10))
    perform(plan, "submit_for_review", actor=coordinator)
    perform(plan, "request_revision", actor=coordinator)
    perform(plan, "resubmit", actor=coordinator)
    first_approval = send_for_signing(plan=plan, actor=coordinator)
    second = send_for_signing(plan=plan, actor=coordinator)
    first_approval.refresh_from_db()
    assert first_approval.state == "superseded"
    assert first_approval.decisions.filter(state="superseded").count() == 2
    decision = second.decisions.get(position=1)
    sign(decision=decision, actor=decision.signatory, approve=False, comment="budget too high")
    conclude_signing(plan=plan, actor=coordinator)
    assert plan.state == "rejected"
    # the rejected plan goes back to drafting (its task "Revise the development plan", h6)
    perform(plan, "return_to_draft", actor=coordinator, comment="the ministry's remarks")
    assert plan.state == "drafting"
    # Support: one body objects, the measure is declined.
    measure = propose_measure(case=spare, title="t", amount_kzt=Decimal(1), reimbursement_pct=Decimal(75),
                              legal_basis="", bodies=["Ministry", "Akimat"], actor=coordinator)
    first, other = measure.positions.all()
    record_position(position=first, agrees=True, comment="", actor=coordinator)
    record_position(position=other, agrees=False, comment="no funds", actor=coordinator)
    conclude_coordination(measure=measure, actor=coordinator)
    assert measure.state == "declined"
    # Implementation: suspend, resume, complete; the case closes. Another case is suspended.
    done = sample_round.cases.get(number="A1")
    impl = done.implementation
    perform(impl, "suspend", actor=coordinator)
    perform(impl, "resume", actor=coordinator)
    perform(impl, "complete", actor=coordinator)
    perform(done, "close", actor=coordinator)
    suspended = sample_round.cases.get(number="A4")
    perform(suspended, "suspend", actor=coordinator, comment="members in dispute")
    perform(suspended, "resume", actor=coordinator, comment="dispute settled")
    assert suspended.state == "implementation"
    # Training: a module is cancelled.
    module = TrainingModule.objects.create(round=sample_round, title="x", starts_on=dt.date(2018, 1, 1),
                                           ends_on=dt.date(2018, 1, 2))
    perform(module, "cancel", actor=coordinator)


def test_every_legal_transition_succeeds_somewhere(sample_round, round_file):
    _off_ramps(sample_round, round_file)
    taken = set(AuditEntry.objects.values_list("object_type", "transition"))
    missing = []
    for model, field in _fsm_models():
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        for trans in field.get_all_transitions(model):
            if (label, trans.name) not in taken:
                missing.append(f"{label}.{trans.name}")
    assert not missing, f"transitions never taken: {sorted(set(missing))}"


def test_suspending_a_case_stops_its_stage_and_resuming_restarts_it(sample_round):
    from workflow import tasks

    coordinator = ensure_user("coordinator", "coordinator")
    case = sample_round.cases.get(number="A7")
    implementation = case.implementation
    assert [tasks.task_data(t)["transition"] for t in tasks.open_tasks_for(implementation)] == ["start_reporting"]
    perform(case, "suspend", actor=coordinator, comment="members in dispute")
    implementation.refresh_from_db()
    assert (case.state, case.suspended_from, implementation.state) == ("suspended", "implementation", "suspended")
    assert not tasks.open_tasks_for(implementation).exists()
    entries = AuditEntry.objects.filter(chain=case.ref).order_by("-seq")[:2]
    assert {(e.object_type, e.transition) for e in entries} == {("rounds.case", "suspend"),
                                                               ("implementation.implementation", "suspend")}
    perform(case, "resume", actor=coordinator)
    implementation.refresh_from_db()
    assert (case.state, case.suspended_from, implementation.state) == ("implementation", "", "active")
    assert [tasks.task_data(t)["transition"] for t in tasks.open_tasks_for(implementation)] == ["start_reporting"]
