"""Kelisim's system checks."""

import pytest
from django.core import checks

from processes.rounds.checks import check_rounds, check_templates
from processes.rounds.models import Criterion


def test_the_shipped_templates_pass_the_check():
    assert check_templates() == []


def test_a_missing_template_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr("documents.render.TEMPLATE_DIR", tmp_path)
    errors = check_templates()
    assert errors and all(e.id == "kelisim.E001" for e in errors)
    assert any("development_plan" in e.msg and "'kk'" in e.msg for e in errors)


@pytest.mark.django_db
def test_round_weights_not_summing_to_100_are_reported(sample_round):
    assert check_rounds(databases=["default"]) == []
    Criterion.objects.filter(round=sample_round, code="C1").update(weight=30)
    errors = check_rounds(databases=["default"])
    assert [e.id for e in errors] == ["kelisim.W002"]
    assert "sum to 110" in errors[0].msg
    assert isinstance(errors[0], checks.Warning)
