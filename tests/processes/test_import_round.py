"""``import_round``: idempotent, and a malformed file changes nothing (exit 2)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from processes.rounds.models import Case, Criterion, Round
from processes.submission.models import Application
from workflow.models import AuditEntry

pytestmark = pytest.mark.django_db


def _counts():
    return (Round.objects.count(), Criterion.objects.count(), Case.objects.count(), Application.objects.count(),
            AuditEntry.objects.count())


def _set(path, value):
    def mutate(doc):
        doc["round"]["code"] = "TC-BAD"
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return mutate


_DELETE = object()

MALFORMED = {
    "bad JSON": (lambda doc: '{"round": {"code": "TC-BAD",,}', "bad JSON at line 1"),
    "weights not 100": (_set(["criteria", 0, "weight"], 25), "criteria weights sum to 105, not 100"),
    "unknown top-level field": (_set(["budget"], 1), "unknown field 'budget' at the top level"),
    "unknown application field": (_set(["applications", 2, "ceo"], "x"), "unknown field 'ceo' in applications[2] (A3)"),
    "missing application name": (_set(["applications", 1, "name_en"], _DELETE), "applications[1] (A2) has no name"),
    "blank application name": (_set(["applications", 1, "name_en"], "  "), "applications[1] (A2) has no name"),
    "duplicate ref": (_set(["applications", 1, "ref"], "A1"), "duplicate ref 'A1'"),
    "negative count": (_set(["applications", 0, "smes"], -3), "applications[0] (A1).smes: -3 is outside"),
    "text for a count": (_set(["applications", 0, "employees"], "many"), "'many' is not a whole number"),
    "export share over 100": (_set(["applications", 0, "export_share_pct"], 140), "is not a percentage 0..100"),
    "pass mark not a number": (_set(["round", "pass_mark"], "high"), "round.pass_mark: 'high' is not a number"),
    "bad date": (_set(["round", "applications_open"], "10.04.2017"), "is not an ISO date"),
    "no criteria": (_set(["criteria"], []), "'criteria' must be a non-empty list"),
    "zero max_selected": (_set(["round", "max_selected"], {"value": 0}), "round.max_selected: 0 is outside"),
    "not an object": (lambda doc: "[1, 2]", "the file must hold one JSON object"),
    "code with a slash": (lambda doc: doc["round"].update(code="TC/2018"), "round.code 'TC/2018' must be"),
    "code with dots only": (lambda doc: doc["round"].update(code="../../etc"), "round.code '../../etc' must be"),
    "huge count": (_set(["applications", 0, "employees"], 10**30), "is outside 0..2147483647"),
    "no signatories": (_set(["round", "signatories"], []), "round.signatories must list at least one"),
    "no applications": (_set(["applications"], []), "'applications' must be a non-empty list"),
    "unknown language": (_set(["round", "language"], "xx"), "round.language 'xx' is not one of kk, ru, en"),
    "name too long": (_set(["applications", 0, "name_en"], "x" * 301), "name_en is longer than 300 characters"),
    "ref with a space": (_set(["applications", 0, "ref"], "A 1"), "ref must be 1-20 letters"),
    "duplicate key": (lambda doc: '{"round": {"code": "A", "code": "B"}}', "duplicate key 'code'"),
    "not UTF-8": (lambda doc: b'{"round": "\xff"}', "not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_file_is_refused_with_exit_2_and_changes_nothing(sample_round, round_file, case):
    mutate, message = MALFORMED[case]
    path = round_file(mutate)
    before = _counts()
    with pytest.raises(CommandError) as info:
        call_command("import_round", str(path))
    assert info.value.returncode == 2
    assert message in str(info.value)
    assert "nothing was changed" in str(info.value)
    assert _counts() == before


def test_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError) as info:
        call_command("import_round", str(tmp_path / "absent.json"))
    assert info.value.returncode == 2 and "cannot read the file" in str(info.value)


def test_import_creates_the_round_and_is_idempotent(db, round_file, capsys):
    path = round_file(lambda doc: doc["round"].update(code="TC-NEW"))
    before = _counts()
    call_command("import_round", str(path))
    rnd = Round.objects.get(code="TC-NEW")
    assert rnd.criteria.count() == 7 and sum(rnd.criteria.values_list("weight", flat=True)) == 100
    assert rnd.signatories.count() == 2 and rnd.cases.count() == 9
    assert rnd.review_working_days["completeness_check"] == 5 and "label" not in rnd.review_working_days
    assert rnd.excluded_sectors[-1] == "oil-field services" and rnd.max_selected == 6
    assert {a.state for a in rnd.applications.all()} == {"draft"}
    after_first = _counts()
    assert after_first[0] == before[0] + 1
    call_command("import_round", str(path))
    assert _counts() == after_first
    assert "nothing changed" in capsys.readouterr().out


def test_the_same_content_reformatted_is_the_same_round(sample_round, tmp_path, sample_path):
    import json

    path = tmp_path / "reformatted.json"
    doc = json.loads(sample_path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(doc, indent=4, ensure_ascii=True).replace("\n", "\r\n"), encoding="utf-8")
    before = _counts()
    call_command("import_round", str(path))
    assert _counts() == before


def test_a_different_file_for_an_existing_round_is_refused(sample_round, round_file):
    path = round_file(lambda doc: doc["round"].update(pass_mark={"value": 50}))
    before = _counts()
    with pytest.raises(CommandError) as info:
        call_command("import_round", str(path))
    assert "already exists from a different file" in str(info.value)
    assert _counts() == before
