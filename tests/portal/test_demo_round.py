"""``open_demo_round`` (``make demo``): an illustrative follow-up round open for applications
today, so the applicant demo user finds "Apply to ..." in the navigation (issue 6)."""

from __future__ import annotations

import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from processes.rounds.actors import ensure_user
from processes.rounds.management.commands.open_demo_round import follow_up_round
from processes.rounds.models import Round
from workflow.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_the_demo_round_is_open_today_labelled_illustrative_and_audited(sample_path, client):
    out = io.StringIO()
    call_command("open_demo_round", str(sample_path), stdout=out)
    rnd = Round.objects.get(code="TC-DEMO")
    today = dt.datetime.now(ZoneInfo("Asia/Almaty")).date()
    assert rnd.state == Round.State.OPEN
    assert rnd.applications_open == today and rnd.applications_close == today + dt.timedelta(days=30)
    assert "illustrative" in rnd.title_en and rnd.source["about"].startswith("ILLUSTRATIVE")
    assert rnd.source["round"]["applications_open"]["label"] == "illustrative"
    assert [(c.number, c.application.state) for c in rnd.cases.all()] == [("A8", "draft")]
    assert rnd.criteria.count() == Round.objects.get(code="TC-2017").criteria.count()
    assert list(AuditEntry.objects.filter(chain=rnd.audit_chain).order_by("seq").values_list(
        "transition", "to_state")) == [("imported", "draft"), ("open_applications", "open")]
    assert "TC-DEMO (illustrative) is open" in out.getvalue()

    # The applicant is offered the round in the navigation, and the form opens.
    client.force_login(ensure_user("applicant-demo-round", "applicant"))
    page = client.get(reverse("portal:case-list")).content.decode()
    apply_url = reverse("portal:application-new", args=["TC-DEMO"])
    assert f'<a href="{apply_url}" id="nav-apply-TC-DEMO">' in page
    assert client.get(apply_url).status_code == 200

    # Again: nothing changes.
    again = io.StringIO()
    call_command("open_demo_round", str(sample_path), stdout=again)
    assert "nothing changed" in again.getvalue()
    assert AuditEntry.objects.filter(chain=rnd.audit_chain).count() == 2


def test_bad_input_is_refused_with_exit_2_and_nothing_written(tmp_path, sample_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    for args in ([str(broken)], [str(tmp_path / "missing.json")], [str(sample_path), "--days", "-1"],
                 [str(sample_path), "--code", "bad/code"]):
        with pytest.raises(CommandError) as refused:
            call_command("open_demo_round", *args, stdout=io.StringIO())
        assert refused.value.returncode == 2, args
    assert not Round.objects.filter(code__in=["TC-DEMO", "bad/code"]).exists()


def test_the_derived_file_keeps_the_sample_and_marks_what_is_made_up(sample_path):
    sample = json.loads(sample_path.read_text(encoding="utf-8"))
    doc = follow_up_round(sample, code="TC-X", today=dt.date(2030, 1, 31), days=10, reapply="A8")
    assert doc["round"]["applications_open"]["value"] == "2030-01-31"
    assert doc["round"]["applications_close"]["value"] == "2030-02-10"
    assert [a["ref"] for a in doc["applications"]] == ["A8"] and doc["applications"][0]["label"] == "illustrative"
    assert doc["criteria"] == sample["criteria"] and doc["round"]["signatories"] == sample["round"]["signatories"]
    assert sample["round"]["code"] == "TC-2017"  # the sample itself is not changed
    unknown = follow_up_round(sample, code="TC-X", today=dt.date(2030, 1, 31), days=1, reapply="nope")
    assert [a["ref"] for a in unknown["applications"]] == [sample["applications"][0]["ref"]]
    with pytest.raises(ValueError):
        follow_up_round({**sample, "applications": []}, code="TC-X", today=dt.date(2030, 1, 1), days=1, reapply="A8")
