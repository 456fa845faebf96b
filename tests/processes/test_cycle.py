"""The whole cycle on the 2017 sample round: outcomes, documents, audit, idempotence."""

import hashlib
import io
import json

import docx
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from documents.models import Document, DocumentVersion
from processes.rounds.models import Case
from processes.selection.models import Selection
from workflow.audit import verify_chains
from workflow.models import AuditEntry

pytestmark = pytest.mark.django_db

SELECTED = {"A1", "A4", "A5", "A7"}


def _docx_text(content: bytes) -> str:
    document = docx.Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    for section in document.sections:
        parts.extend(p.text for p in section.header.paragraphs)
    return "\n".join(parts)


def _run_json(path) -> dict:
    out = io.StringIO()
    call_command("run_cycle", str(path), "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def test_final_states_of_the_sample_round(sample_round):
    states = {c.number: c.state for c in sample_round.cases.all()}
    assert states["A9"] == "refused"
    assert sample_round.cases.get(number="A9").application.refusal_reason == "excluded_sector"
    assert states["A8"] == "not_selected"
    a8 = Selection.objects.get(application__ref="A8", round=sample_round)
    assert a8.score < sample_round.pass_mark and "below the pass mark" in a8.decision_reason
    assert {n for n, s in states.items() if s == "implementation"} == SELECTED
    assert sample_round.selections.filter(state="selected").count() <= sample_round.max_selected
    assert sample_round.state == "published"


def test_selected_cases_went_through_every_stage(sample_round):
    for case in sample_round.cases.filter(number__in=SELECTED):
        assert case.diagnosis.state == "approved" and case.diagnosis.areas.count() == 6
        assert case.plan.state == "approved"
        approval = case.plan.current_approval
        assert approval.state == "approved" and approval.policy == "all_of"
        assert [d.state for d in approval.decisions.all()] == ["approved"] * sample_round.signatories.count()
        assert approval.decisions.count() == 2
        measure = case.support_measures.get()
        assert measure.state == "in_force" and measure.positions.filter(state="agreed").count() >= 1
        assert case.implementation.state == "active" and case.implementation.reports.count() == 1
        transitions = list(AuditEntry.objects.filter(chain=case.ref).values_list("transition", flat=True))
        for step in ("submit", "accept", "advance_to_selection", "complete_scoring", "select", "advance_to_diagnosis",
                     "advance_to_planning", "approve", "advance_to_support", "advance_to_implementation",
                     "accept_report"):
            assert step in transitions, (case.ref, step)


def test_signatures_are_bound_to_the_signed_plan_version(sample_round):
    case = sample_round.cases.get(number="A1")
    approval = case.plan.current_approval
    version = approval.subject
    assert isinstance(version, DocumentVersion) and version.signed
    assert version.document.kind == "development_plan" and approval.subject_sha256 == version.sha256
    for decision in approval.decisions.all():
        assert decision.sha256 == version.sha256
        assert decision.decided_by == decision.signatory
    entries = AuditEntry.objects.filter(chain=case.ref, object_type="approvals.decision", transition="approve")
    assert entries.count() == 2 and all(e.data["sha256"] == version.sha256 for e in entries)


def test_every_stage_leaves_its_documents(sample_round):
    kinds = set(Document.objects.filter(owner_ref="TC-2017/A1").values_list("kind", flat=True))
    assert kinds == {"application_receipt", "score_sheet", "decision_notice", "diagnosis_report",
                     "development_plan", "approval_sheet", "support_coordination_sheet", "monitoring_report"}
    assert Document.objects.filter(owner_ref="TC-2017/A1", kind="score_sheet").count() == 2
    assert set(Document.objects.filter(owner_ref="TC-2017/A9").values_list("kind", flat=True)) == {
        "application_receipt", "decision_notice"}
    assert Document.objects.filter(owner_ref="TC-2017", kind="selection_minutes").exists()


def test_every_document_reopens_names_its_cluster_and_matches_its_checksum(sample_round):
    versions = DocumentVersion.objects.select_related("document")
    assert versions.count() > 40
    names = {c.ref: c.name() for c in sample_round.cases.all()}
    for version in versions:
        with default_storage.open(version.storage_key, "rb") as handle:
            content = handle.read()
        assert hashlib.sha256(content).hexdigest() == version.sha256
        assert len(content) == version.size
        assert version.storage_key.isascii()
        text = _docx_text(content)
        owner = version.document.owner_ref
        if owner in names:
            assert names[owner] in text, (version, names[owner])
        elif version.document.kind != "selection_minutes":  # training and advisory papers of the round
            assert version.document.kind in {"training_attendance_list", "training_certificate", "briefing_note"}
            assert owner == "TC-2017" and text.strip()
        else:  # the round's minutes name every ranked cluster
            for ref, name in names.items():
                if ref != "TC-2017/A9":
                    assert name in text


def test_audit_chains_verify_after_the_cycle(sample_round):
    result = verify_chains()
    assert result.ok, result.broken
    assert result.chains >= sample_round.cases.count() + 1  # one per case and the round's own


def test_a_second_run_changes_nothing(sample_round, sample_path):
    counts = (AuditEntry.objects.count(), DocumentVersion.objects.count(), Case.objects.count())
    result = _run_json(sample_path)
    assert (AuditEntry.objects.count(), DocumentVersion.objects.count(), Case.objects.count()) == counts
    assert result["round"] == "TC-2017"


def test_json_output_shape(sample_round, sample_path):
    result = _run_json(sample_path)
    assert [c["ref"] for c in result["cases"]] == [f"TC-2017/A{i}" for i in range(1, 10)]
    a1 = next(c for c in result["cases"] if c["ref"] == "TC-2017/A1")
    assert set(a1) >= {"ref", "name", "state", "score", "rank", "decision", "documents"}
    assert a1["decision"] == "selected" and a1["state"] == "implementation"
    recorded = {v.storage_key: v for v in DocumentVersion.objects.filter(document__owner_ref="TC-2017/A1")}
    assert len(a1["documents"]) == len(recorded)
    for doc in a1["documents"]:
        assert set(doc) >= {"kind", "language", "storage_key", "sha256", "size"}
        assert recorded[doc["storage_key"]].sha256 == doc["sha256"]


def test_table_output_lists_every_case(sample_round, sample_path):
    out = io.StringIO()
    call_command("run_cycle", str(sample_path), stdout=out)
    text = out.getvalue()
    for i in range(1, 10):
        assert f"TC-2017/A{i}" in text
    assert "refused: excluded_sector" in text


def test_special_characters_come_out_of_documents_literally(round_file):
    tricky = 'R&D <Қазақ> "Өнім"'

    def mutate(doc):
        doc["round"]["code"] = "TC-ESC"
        doc["applications"][0]["name_ru"] = tricky
        doc["applications"][0]["name_en"] = tricky

    result = _run_json(round_file(mutate))
    a1 = next(c for c in result["cases"] if c["ref"] == "TC-ESC/A1")
    assert a1["name"] == tricky and len(a1["documents"]) >= 8
    for version in DocumentVersion.objects.filter(document__owner_ref="TC-ESC/A1"):
        with default_storage.open(version.storage_key, "rb") as handle:
            text = _docx_text(handle.read())
        assert tricky in text, version
        assert "&amp;" not in text and "&lt;" not in text
