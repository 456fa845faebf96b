"""An applicant files a new application, and answers a request for revision."""

from decimal import Decimal

import pytest

from processes.rounds.actors import ensure_user
from processes.rounds.importer import import_round
from processes.submission.services import (
    ApplicationInvalid,
    file_new_application,
    resubmit_application,
    submit_application,
    update_application,
)
from workflow.exceptions import TransitionNotAllowed, TransitionPermissionDenied
from workflow.models import AuditEntry
from workflow.transitions import perform

pytestmark = pytest.mark.django_db

GOOD = {"name_en": "Almaty apple cluster", "name_kk": "Алматы алма кластері", "region": "Almaty region",
        "sector": "food processing", "anchor_enterprises": 2, "smes": "14", "employees": 800,
        "export_share_pct": "12,5", "research_partners": 1}


@pytest.fixture
def open_round(round_file):
    coordinator = ensure_user("coordinator", "coordinator")
    rnd = import_round(round_file(lambda d: d["round"].update(code="TC-FILE"))).round
    perform(rnd, "open_applications", actor=coordinator)
    return rnd


def test_a_new_application_gets_the_next_number_and_its_owner(open_round):
    applicant = ensure_user("new-applicant", "applicant")
    application = file_new_application(round=open_round, applicant=applicant, values=GOOD, language="kk")
    numbers = sorted(int(n[1:]) for n in open_round.cases.values_list("number", flat=True))
    assert application.ref == f"A{numbers[-1]}" and numbers[-1] == numbers[-2] + 1
    case = application.case
    assert (case.applicant, case.language, case.ref) == (applicant, "kk", f"TC-FILE/{application.ref}")
    assert (application.state, application.smes, application.export_share_pct) == ("draft", 14, Decimal("12.5"))
    assert AuditEntry.objects.filter(chain=case.ref, transition="case_created").count() == 1
    submit_application(application=application, actor=applicant)
    assert application.state == "submitted"


@pytest.mark.parametrize("values, field", [
    ({}, "name_en"),
    ({**GOOD, "employees": -1}, "employees"),
    ({**GOOD, "employees": 2**31}, "employees"),
    ({**GOOD, "smes": "many"}, "smes"),
    ({**GOOD, "smes": True}, "smes"),
    ({**GOOD, "export_share_pct": "101"}, "export_share_pct"),
    ({**GOOD, "export_share_pct": "NaN"}, "export_share_pct"),
    ({**GOOD, "export_share_pct": "1.234"}, "export_share_pct"),
    ({**GOOD, "name_en": "x" * 301}, "name_en"),
    ({**GOOD, "region": "a\x00b"}, "region"),
    ({**GOOD, "region": ["list"]}, "region"),
    ({**GOOD, "state": "accepted"}, "state"),
])
def test_bad_values_are_refused_and_nothing_is_created(open_round, values, field):
    applicant = ensure_user("new-applicant", "applicant")
    before = open_round.cases.count()
    with pytest.raises(ApplicationInvalid) as caught:
        file_new_application(round=open_round, applicant=applicant, values=values)
    assert field in caught.value.problems
    assert open_round.cases.count() == before


def test_a_round_not_open_refuses_new_applications(round_file):
    rnd = import_round(round_file(lambda d: d["round"].update(code="TC-SHUT"))).round
    with pytest.raises(TransitionNotAllowed, match="not open"):
        file_new_application(round=rnd, applicant=ensure_user("late", "applicant"), values=GOOD)
    with pytest.raises(ApplicationInvalid):
        file_new_application(round=rnd, applicant=ensure_user("late", "applicant"), values=GOOD, language="de")


def test_answering_a_request_for_revision(open_round):
    coordinator = ensure_user("coordinator", "coordinator")
    applicant = ensure_user("new-applicant", "applicant")
    application = file_new_application(round=open_round, applicant=applicant, values={"name_en": "Thin cluster"})
    with pytest.raises(Exception, match="required fields are empty"):
        submit_application(application=application, actor=applicant)
    update_application(application=application, values=GOOD, actor=applicant)
    submit_application(application=application, actor=applicant)
    perform(application, "return_for_revision", actor=coordinator, comment="employees look wrong")
    with pytest.raises(TransitionPermissionDenied):
        update_application(application=application, values={"employees": 1}, actor=ensure_user("other", "applicant"))
    update_application(application=application, values={"employees": 650}, actor=applicant)
    entry = AuditEntry.objects.filter(chain=application.case.ref, transition="application_updated").last()
    assert entry.data == {"fields": ["employees"]}
    resubmit_application(application=application, actor=applicant)
    assert (application.state, application.employees) == ("resubmitted", 650)
    with pytest.raises(TransitionNotAllowed):
        update_application(application=application, values={"employees": 1}, actor=applicant)
