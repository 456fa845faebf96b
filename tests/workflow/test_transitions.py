"""``workflow.transitions.perform``: the one way state changes, and its errors."""

import logging

import pytest

from processes.rounds.actors import ensure_user
from processes.submission.models import Application
from workflow.exceptions import (
    ConditionUnmet,
    StaleObject,
    TransitionNotAllowed,
    TransitionPermissionDenied,
    UnknownTransition,
)
from workflow.models import AuditEntry
from workflow.transitions import available_transitions, perform

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator(sample_round):
    return ensure_user("coordinator", "coordinator")


@pytest.fixture
def draft_application(round_file, coordinator):
    """A fresh round (code TC-T) in state open with draft applications."""
    from processes.rounds.importer import import_round

    def mutate(doc):
        doc["round"]["code"] = "TC-T"

    rnd = import_round(round_file(mutate)).round
    perform(rnd, "open_applications", actor=coordinator)
    return rnd.applications.get(ref="A1")


def _entries(obj):
    return AuditEntry.objects.filter(chain=obj.audit_chain).count()


def test_perform_changes_state_saves_and_appends_one_audit_entry(draft_application, coordinator):
    before = _entries(draft_application)
    perform(draft_application, "submit", actor=coordinator, comment="on paper", data={"pages": 12})
    stored = Application.objects.get(pk=draft_application.pk)
    assert stored.state == "submitted" and stored.submitted_at is not None
    entry = AuditEntry.objects.filter(chain="TC-T/A1").latest("seq")
    assert _entries(draft_application) == before + 1
    assert (entry.transition, entry.from_state, entry.to_state) == ("submit", "draft", "submitted")
    assert (entry.actor, entry.comment, entry.data) == (coordinator, "on paper", {"pages": 12})
    assert entry.object_type == "submission.application" and entry.object_id == str(draft_application.pk)


def test_a_transition_from_the_wrong_state_is_refused_and_names_the_state(draft_application, coordinator):
    with pytest.raises(TransitionNotAllowed) as info:
        perform(draft_application, "accept", actor=coordinator)
    assert "“accept” is not allowed from state “draft”" in str(info.value)
    assert info.value.http_status == 409
    assert Application.objects.get(pk=draft_application.pk).state == "draft"


def test_an_unmet_condition_gives_its_reason_and_changes_nothing(draft_application, coordinator):
    Application.objects.filter(pk=draft_application.pk).update(sector="", employees=None)
    draft_application.refresh_from_db()
    before = _entries(draft_application)
    with pytest.raises(ConditionUnmet) as info:
        perform(draft_application, "submit", actor=coordinator)
    assert info.value.reason == "required fields are empty: sector, employees"
    assert info.value.http_status == 400
    assert _entries(draft_application) == before
    assert Application.objects.get(pk=draft_application.pk).state == "draft"


def test_a_refusal_without_a_reason_is_refused_and_the_object_is_restored(draft_application, coordinator):
    perform(draft_application, "submit", actor=coordinator)
    with pytest.raises(ConditionUnmet) as info:
        perform(draft_application, "refuse", actor=coordinator, data={"reason": "because"})
    assert "excluded_sector, incomplete, late" in info.value.reason
    assert draft_application.state == "submitted" and draft_application.refusal_reason == ""


def test_a_user_without_the_role_is_denied_logged_and_nothing_is_written(draft_application, caplog):
    outsider = ensure_user("expert-x", "expert")
    before = _entries(draft_application)
    with caplog.at_level(logging.WARNING, logger="kelisim.security"):
        with pytest.raises(TransitionPermissionDenied) as info:
            perform(draft_application, "submit", actor=outsider)
    assert info.value.http_status == 403
    assert "expert-x may not “submit”" in str(info.value)
    assert _entries(draft_application) == before
    assert Application.objects.get(pk=draft_application.pk).state == "draft"
    assert any("transition denied" in r.getMessage() for r in caplog.records)


def test_no_actor_is_denied(draft_application):
    with pytest.raises(TransitionPermissionDenied):
        perform(draft_application, "submit", actor=None)


def test_the_applicant_may_submit_its_own_application_but_not_another(draft_application, coordinator):
    owner = ensure_user("owner-a1", "applicant")
    other = ensure_user("owner-a2", "applicant")
    case = draft_application.case
    type(case).objects.filter(pk=case.pk).update(applicant=owner)
    draft_application.case.refresh_from_db()
    with pytest.raises(TransitionPermissionDenied):
        perform(draft_application, "submit", actor=other)
    perform(draft_application, "submit", actor=owner)
    assert draft_application.state == "submitted"


def test_a_stale_object_is_refused_with_the_current_state(draft_application, coordinator):
    first = Application.objects.get(pk=draft_application.pk)
    second = Application.objects.get(pk=draft_application.pk)
    perform(first, "submit", actor=coordinator)
    before = _entries(draft_application)
    with pytest.raises(StaleObject) as info:
        perform(second, "submit", actor=coordinator)
    assert "it is now in state “submitted”" in str(info.value)
    assert info.value.http_status == 409
    assert second.state == "submitted"  # reloaded
    assert _entries(draft_application) == before


def test_an_unknown_transition_is_refused(draft_application, coordinator):
    with pytest.raises(UnknownTransition):
        perform(draft_application, "teleport", actor=coordinator)


def test_state_cannot_be_assigned_directly(draft_application):
    with pytest.raises(AttributeError):
        draft_application.state = "accepted"


def test_available_transitions_tell_what_is_allowed_and_why_not(draft_application, coordinator):
    options = {o.name: o for o in available_transitions(draft_application, coordinator)}
    assert options["submit"].allowed and options["submit"].reason == ""
    assert not options["withdraw"].allowed and "requires" in options["withdraw"].reason
    assert "accept" not in options  # does not leave the draft state
