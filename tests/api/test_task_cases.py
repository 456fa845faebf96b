"""``/api/tasks/`` names the case of every task, whatever object the task is on: a case's own
stage objects, a government body's position on a support measure (``measure.case``) and a
signatory's decision (the case whose reference is the approval's chain), with the same number
of queries whatever the number of decisions on the page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from documents.models import DocumentVersion

from .conftest import case, user

pytestmark = pytest.mark.django_db


def tasks(client) -> list[dict]:
    response = client.get("/api/tasks/", {"page_size": 100})
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


def ask_signatures(number: str, key: str):
    """An approval on the chain of case ``number`` (a decision task for signatory1 and 2)."""
    from workflow.approvals.services import Signatory, request_approval

    ref = f"TC-2017/{number}"
    version = DocumentVersion.objects.filter(document__owner_ref=ref).order_by("pk").first()
    return request_approval(subject=version, sha256=version.sha256, version=version.number, key=key, chain=ref,
                            title="Task case test", author=user("coordinator"),
                            signatories=[Signatory(user("signatory1")), Signatory(user("signatory2"))],
                            actor=user("coordinator"))


def test_a_body_position_task_names_the_measure_s_case(api):
    from processes.support.services import propose_measure

    measure = propose_measure(case=case("A1"), title="Task case test", amount_kzt=Decimal(1000),
                              reimbursement_pct=Decimal(75), legal_basis="", bodies=["Ministry", "Akimat"],
                              actor=user("coordinator"))
    rows = [t for t in tasks(api("coordinator")) if t["object"]["type"] == "support.bodyposition"
            and t["object"]["id"] in set(measure.positions.values_list("pk", flat=True))]
    assert len(rows) == 2
    assert {(t["case"], t["case_ref"]) for t in rows} == {(case("A1").pk, "TC-2017/A1")}


def test_a_signatory_s_decision_task_names_the_case_of_its_chain_in_constant_queries(api, django_assert_num_queries):
    client = api("signatory1")
    ask_signatures("A1", "task-case:A1")
    rows = [t for t in tasks(client) if t["object"]["type"] == "approvals.decision"]
    assert [(t["case"], t["case_ref"]) for t in rows] == [(case("A1").pk, "TC-2017/A1")]
    with CaptureQueriesContext(connection) as one:
        tasks(client)
    for number in ("A2", "A3"):
        ask_signatures(number, f"task-case:{number}")
    with CaptureQueriesContext(connection) as three:
        rows = [t for t in tasks(client) if t["object"]["type"] == "approvals.decision"]
    assert sorted(t["case_ref"] for t in rows) == ["TC-2017/A1", "TC-2017/A2", "TC-2017/A3"]
    assert all(t["case"] == case(t["case_ref"].rsplit("/", 1)[1]).pk for t in rows)
    assert len(three) == len(one)
    # one task alone (GET /api/tasks/<id>/) names it too
    single = client.get(f"/api/tasks/{rows[0]['id']}/").json()
    assert (single["case"], single["case_ref"]) == (rows[0]["case"], rows[0]["case_ref"])


def test_every_open_task_of_a_case_names_it(api):
    """Whatever the object, a task on a case's work has that case (only a round's own steps have none)."""
    from processes.support.services import propose_measure

    propose_measure(case=case("A1"), title="Every task", amount_kzt=Decimal(1000), reimbursement_pct=Decimal(75),
                    legal_basis="", bodies=["Ministry"], actor=user("coordinator"))
    ask_signatures("A1", "task-case:every")
    found = tasks(api("admin")) + tasks(api("signatory1"))
    assert {t["object"]["type"] for t in found} >= {"support.bodyposition", "approvals.decision",
                                                    "implementation.implementation"}
    assert [t for t in found if t["case"] is None and t["object"]["type"] != "rounds.round"] == []
