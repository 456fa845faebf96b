"""A coordinator drafts a development plan with the case page's form, in Chromium
(processes/portal/stages.py, docs/stage-forms.md).

On the journeys' server (``conftest.py``): the 2017 case A2 (not selected, no stage object) is
put in the planning stage by a back-office update before the journey, as the portal tests put a
case in a stage (no page moves a not-selected case on). The coordinator then, by clicking and
typing: follows the case page's link to the plan form, enters two actions (a budget typed
``15 000 000,50``, one deadline ``30.06.2027`` and one ISO ``2027-12-31``), saves; comes back and
finds them shown as ``dd.mm.yyyy``; types an impossible date and gets the form back with the
problem and nothing saved; corrects it and saves and submits. The database then holds the plan
in review with the exact amounts and dates, and its audit entries.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from .test_journeys import case_path, expect, log_in

REPO = Path(__file__).resolve().parents[2]


def back_office(code: str) -> dict:
    """Run ``code`` (Python printing one JSON line) in ``manage.py shell`` on the server's database."""
    from . import conftest

    assert conftest._build is not None, "the server is not running"
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=conftest._build.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


SETUP = """
import json
from processes.rounds.models import Case
case = Case.objects.get(ref="TC-2017/A2")
assert not hasattr(case, "plan") or case.plan is None
Case.objects.filter(pk=case.pk).update(state="planning")
print(json.dumps({"pk": case.pk, "ref": case.ref}))
"""

RESULT = """
import json
from processes.planning.models import Plan
from workflow.models import AuditEntry
plan = Plan.objects.get(case__ref="TC-2017/A2")
print(json.dumps({"state": plan.state, "vision": plan.vision,
                  "actions": [[a.position, a.measure, str(a.budget_kzt), a.deadline.isoformat(), str(a.kpi_target)]
                              for a in plan.actions.order_by("position")],
                  "audit": list(AuditEntry.objects.filter(chain="TC-2017/A2", object_type="planning.plan")
                                .order_by("seq").values_list("transition", flat=True))}))
"""


def fill_row(form, n: int, values: dict) -> None:
    for field, value in values.items():
        form.locator(f"[name='row-{n}-{field}']").fill(value)


def test_coordinator_drafts_and_submits_a_plan_with_the_form(page, server):
    case = back_office(SETUP)
    log_in(page, server, "coordinator")
    page.goto(server.url(f"/cases/{case['pk']}/"))
    link = page.locator("#stage-form-link a")
    expect(link).to_have_attribute("href", f"/cases/{case['pk']}/plan/")
    link.click()
    expect(page).to_have_url(re.compile(rf"/cases/{case['pk']}/plan/$"))

    form = page.locator("form#plan-form")
    form.locator("#id_vision").fill("A food cluster exporting to Central Asia")
    fill_row(form, 1, {"measure": "Cluster organisation", "responsible": "Coordinating body",
                       "deadline": "30.06.2027", "budget_kzt": "15 000 000,50", "kpi": "Members",
                       "kpi_target": "45", "kpi_unit": "firms"})
    fill_row(form, 2, {"measure": "Export mission", "responsible": "Akimat", "deadline": "2027-12-31",
                       "budget_kzt": "2500000", "kpi": "Contracts", "kpi_target": "3"})
    form.locator("button[name=do][value=save]").click()
    expect(page).to_have_url(re.compile(re.escape(case_path(page.url)) + "$"))
    expect(page.locator(".messages")).to_contain_text(case["ref"])

    # Back on the form: what was saved, dates as dd.mm.yyyy; an impossible date is refused.
    page.locator("#stage-form-link a").click()
    form = page.locator("form#plan-form")
    expect(form.locator("[name='row-1-deadline']")).to_have_value("30.06.2027")
    expect(form.locator("[name='row-2-deadline']")).to_have_value("31.12.2027")
    expect(form.locator("[name='row-1-budget_kzt']")).to_have_value("15000000.50")
    fill_row(form, 3, {"measure": "Training", "responsible": "KIID", "deadline": "31.02.2027",
                       "budget_kzt": "100000", "kpi": "People trained", "kpi_target": "40"})
    form.locator("button[name=do][value=submit]").click()
    expect(page.locator("#stage-problems")).to_contain_text("Action 3, deadline")  # the field as the form names it
    expect(page.locator("form#plan-form [name='row-3-measure']")).to_have_value("Training")  # what was typed
    assert back_office(RESULT)["state"] == "drafting"  # nothing saved, nothing submitted

    page.locator("form#plan-form [name='row-3-deadline']").fill("28.02.2027")
    page.locator("form#plan-form button[name=do][value=submit]").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case['pk']}/$"))
    expect(page.locator(".messages")).to_contain_text("submit for review")
    result = back_office(RESULT)
    assert result["state"] == "review" and result["vision"] == "A food cluster exporting to Central Asia"
    assert result["actions"] == [[1, "Cluster organisation", "15000000.50", "2027-06-30", "45.00"],
                                 [2, "Export mission", "2500000.00", "2027-12-31", "3.00"],
                                 [3, "Training", "100000.00", "2027-02-28", "40.00"]]
    assert result["audit"] == ["created", "content_changed", "submit_for_review"]
