"""The opt-in automatic transition on expiry (``Round.expiry_rules``, ``workflow.deadlines.expire``).

Without a rule a missed deadline only reminds and escalates; with ``revision_reply: lapse``
an application returned for revision and not resubmitted by the end of its due working day
(Asia/Almaty) is refused as late, once, by the system actor, in the audit chain.
"""

import datetime as dt

import pytest

from processes.rounds.actors import ensure_user
from processes.rounds.importer import RoundFileError, import_round
from processes.submission.models import Application
from workflow import calendar
from workflow.deadlines import expire, open_deadline, sweep
from workflow.models import AuditEntry, Deadline, Notification
from workflow.permissions import SYSTEM_USERNAME
from workflow.transitions import perform

pytestmark = pytest.mark.django_db


def _round(round_file, code, *, rule=True, days=3):
    def mutate(doc):
        doc["round"]["code"] = code
        doc["round"]["review_working_days"]["revision_reply"] = days
        if rule:
            doc["round"]["expiry_rules"] = {"revision_reply": "lapse"}
    return import_round(round_file(mutate)).round


def _returned(rnd, ref="A3"):
    coordinator = ensure_user("coordinator", "coordinator")
    applicant = ensure_user(f"applicant-{rnd.code.lower()}", "applicant")
    perform(rnd, "open_applications", actor=coordinator)
    application = rnd.applications.get(ref=ref)
    type(application.case).objects.filter(pk=application.case.pk).update(applicant=applicant)
    application.case.refresh_from_db()
    perform(application, "submit", actor=coordinator)
    perform(application, "return_for_revision", actor=coordinator, comment="budget annex missing")
    deadline = Deadline.objects.get(chain=application.case.ref, label=Application.REVISION_LABEL)
    return application, applicant, deadline


def test_a_revision_not_filed_in_time_lapses_once_by_the_rule(round_file):
    rnd = _round(round_file, "TC-EXP")
    application, applicant, deadline = _returned(rnd)
    assert (deadline.responsible, deadline.on_expiry) == (applicant, "lapse")
    opened = deadline.opened_at.astimezone(calendar._zone(calendar.TIME_ZONE)).date()
    assert deadline.due_at == calendar.due_at(opened, 3)
    entries = AuditEntry.objects.filter(chain=application.case.ref).count()

    assert expire(now=deadline.due_at).taken == []  # the due day is not over yet
    application.refresh_from_db()
    assert application.state == "returned_for_revision"

    after = deadline.due_at + dt.timedelta(seconds=1)
    assert expire(now=after, dry_run=True).taken == [(deadline.pk, "lapse")]
    application.refresh_from_db()
    assert application.state == "returned_for_revision"  # a dry run writes nothing
    result = expire(now=after)
    assert result.taken == [(deadline.pk, "lapse")] and result.refused == []
    application.refresh_from_db()
    assert (application.state, application.refusal_reason) == ("refused", "late")
    assert application.case.state == "refused"
    new = list(AuditEntry.objects.filter(chain=application.case.ref).order_by("seq")[entries:])
    # a lapse is a refusal like any other: receipt and decision notice, then the case is refused
    assert [(e.transition, e.actor.username if e.actor else None) for e in new] == [
        ("lapse", SYSTEM_USERNAME), ("document_generated", SYSTEM_USERNAME), ("document_generated", SYSTEM_USERNAME),
        ("refuse", SYSTEM_USERNAME)]
    assert [e.data.get("kind") for e in new[1:3]] == ["application_receipt", "decision_notice"]
    assert new[0].data["deadline"] == deadline.pk
    deadline.refresh_from_db()
    assert deadline.closed_at is not None and deadline.expired_at == after and deadline.expiry_result == "took lapse"
    assert expire(now=after + dt.timedelta(days=30)).taken == []  # once


def test_without_a_rule_a_missed_revision_only_reminds(round_file):
    rnd = _round(round_file, "TC-NOEXP", rule=False)
    application, applicant, deadline = _returned(rnd)
    assert deadline.on_expiry == ""
    late = calendar.due_at(deadline.due_at.date(), 5)
    assert expire(now=late).taken == []
    sweep(now=late)
    application.refresh_from_db()
    assert application.state == "returned_for_revision"
    kinds = set(Notification.objects.filter(key__startswith=f"deadline:{deadline.pk}:").values_list("kind", flat=True))
    assert "deadline_escalation" in kinds


def test_a_resubmitted_application_does_not_lapse(round_file):
    rnd = _round(round_file, "TC-RESUB")
    application, applicant, deadline = _returned(rnd)
    perform(application, "resubmit", actor=applicant)
    deadline.refresh_from_db()
    assert deadline.closed_at is not None
    assert expire(now=deadline.due_at + dt.timedelta(days=10)).taken == []
    application.refresh_from_db()
    assert application.state == "resubmitted"


def test_a_rule_whose_transition_is_no_longer_possible_is_recorded_and_not_retried(round_file):
    rnd = _round(round_file, "TC-STALE")
    application, applicant, deadline = _returned(rnd)
    owner = ensure_user("someone", "expert")
    # A hand-made rule on an application that cannot be accepted from its current state.
    other = open_deadline(chain=application.case.ref, label="x", due_at=deadline.due_at, subject=application,
                          responsible=owner, on_expiry="accept")
    Deadline.objects.filter(pk=deadline.pk).update(closed_at=deadline.due_at)  # only the hand-made rule
    after = deadline.due_at + dt.timedelta(hours=1)
    result = expire(now=after)
    assert result.taken == [] and [(pk, name) for pk, name, _ in result.refused] == [(other.pk, "accept")]
    other.refresh_from_db()
    assert other.expired_at == after and other.expiry_result.startswith("not taken:")
    assert "returned for revision" in other.expiry_result  # the state by its label
    assert expire(now=after + dt.timedelta(days=1)).refused == []  # recorded once, not retried
    application.refresh_from_db()
    assert application.state == "returned_for_revision"


def test_an_expiry_rule_needs_a_subject(db):
    owner = ensure_user("owner", "expert")
    with pytest.raises(ValueError, match="subject"):
        open_deadline(chain="X", label="x", due_at=calendar.due_at(dt.date(2017, 6, 1), 1), responsible=owner,
                      on_expiry="lapse")


@pytest.mark.parametrize("rules, limits, message", [
    ({"revision_reply": "withdraw"}, {"revision_reply": 5}, "'withdraw' is not allowed"),
    ({"plan_signature": "lapse"}, {}, "no expiry rule exists for this limit"),
    ({"revision_reply": "lapse"}, {}, "needs round.review_working_days.revision_reply"),
    (["revision_reply"], {}, "must map a limit to a transition"),
])
def test_bad_expiry_rules_are_refused_and_nothing_is_imported(round_file, rules, limits, message):
    from processes.rounds.models import Round

    def mutate(doc):
        doc["round"]["code"] = "TC-BADEXP"
        doc["round"]["expiry_rules"] = rules
        doc["round"]["review_working_days"].update(limits)
    with pytest.raises(RoundFileError) as caught:
        import_round(round_file(mutate))
    assert any(message in problem for problem in caught.value.problems)
    assert not Round.objects.filter(code="TC-BADEXP").exists()
