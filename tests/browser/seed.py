"""The data of the browser journeys, written into the journeys' own server database.

Run as ``python -m tests.browser.seed setup`` (with ``DJANGO_SETTINGS_MODULE`` and the
database of the server in the environment; see ``conftest.py``). It creates the tables in
the empty database (:func:`create_schema`), runs the 2017 sample cycle (``run_cycle``),
creates the demo users (``create_demo_users``) and adds two rounds imported from variants of
the sample file with :func:`processes.rounds.importer.import_round`:

- :data:`OPEN_ROUND`: the illustrative follow-up round ``make demo`` opens (the
  ``open_demo_round`` command, applications open from today, one imported draft application),
  so that the applicant finds it in the navigation and files a new one;
- :data:`SIGNING_ROUND` (only the sample's A1, a cluster the scripted experts select): driven
  through the same services as ``run_cycle`` (:class:`processes.cycle.CycleRunner`) up to the
  development plan sent for signing, so that both signatories have a decision open.

It prints one JSON object: ``{"open_round": code, "signing_round": code, "signing_case":
{"pk": int, "ref": str}}``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "pilot-selection-2017.json"
OPEN_ROUND = "TC-DEMO"  # open_demo_round's default code, as after `make demo`
SIGNING_ROUND = "TC-2026-PLAN"


def round_variant(code: str, refs: tuple[str, ...], directory: Path) -> Path:
    """Write the sample round file with round code ``code`` and only the applications
    ``refs``, applications open from ten days ago for a month; return its path."""
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    doc["round"]["code"] = code
    for lang in ("en", "ru", "kk"):
        key = f"title_{lang}"
        if key in doc["round"]:
            doc["round"][key] = f"{doc['round'][key]} ({code})"
    today = dt.date.today()
    doc["round"]["applications_open"] = (today - dt.timedelta(days=10)).isoformat()
    doc["round"]["applications_close"] = (today + dt.timedelta(days=30)).isoformat()
    doc["applications"] = [a for a in doc["applications"] if a["ref"] in refs]
    path = directory / f"{code}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def drive_to_signing(rnd):
    """Drive ``rnd`` (one selectable application) like ``run_cycle`` until its development
    plan waits for the signatories; return the case."""
    from workflow.tasks import follow_up
    from workflow.transitions import perform

    from processes.cycle import CycleRunner, plan_actions, script_text
    from processes.planning.models import Plan, PlanAction
    from processes.planning.services import send_for_signing
    from processes.selection.services import compute_ranking

    runner = CycleRunner(rnd)
    runner._round_step("draft", "open_applications")
    runner.submission()
    runner._round_step("open", "close_applications")
    runner.completeness_check()
    runner._round_step("closed", "start_scoring")
    runner.scoring()
    if runner._round_step("scoring", "start_discussion"):
        compute_ranking(rnd=rnd, actor=runner.coordinator)
    runner.discussion()
    runner._round_step("discussion", "decide")
    runner._round_step("decided", "publish")
    runner.advance_selected()
    case = rnd.cases.get()
    runner.diagnosis(case)
    case.refresh_from_db()
    lang = case.language
    plan = Plan.objects.create(case=case, vision=script_text("vision", lang, name=case.name(lang),
                                                            year=runner.plan_year + 4),
                               governance=script_text("governance", lang))
    for action in plan_actions(case.application, runner.plan_year, lang):
        PlanAction.objects.create(plan=plan, **action)
    follow_up(plan)
    perform(plan, "submit_for_review", actor=runner.coordinator)
    send_for_signing(plan=plan, actor=runner.coordinator)
    plan.refresh_from_db()
    assert plan.state == "signing", plan.state
    return case


def create_schema(out) -> None:
    """Create the tables from the current models (``migrate --run-syncdb`` with every app's
    migrations disabled, as pytest-django's ``--nomigrations`` does): a fraction of a second
    instead of 8-12 s of migrations on the reference machine. The migrations themselves are
    run by the suite's own test database, and ``make test`` checks that they match the models
    (``makemigrations --check``); none of Kelisim's holds data (no RunPython or RunSQL)."""
    from django.apps import apps
    from django.core.management import call_command
    from django.test import override_settings

    with override_settings(MIGRATION_MODULES={app.label: None for app in apps.get_app_configs()}):
        call_command("migrate", "--noinput", "--run-syncdb", verbosity=0, stdout=out)


def setup() -> dict:
    """Migrate, run the sample cycle, create the demo users and the two extra rounds."""
    from django.core.management import call_command
    from django.db import transaction

    from processes.rounds.importer import import_round
    from processes.rounds.models import Round

    quiet = io.StringIO()
    create_schema(quiet)
    call_command("run_cycle", str(SAMPLE), stdout=quiet)
    call_command("create_demo_users", stdout=quiet)
    call_command("open_demo_round", str(SAMPLE), code=OPEN_ROUND, stdout=quiet)
    opened = Round.objects.get(code=OPEN_ROUND)
    with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
        signing = import_round(round_variant(SIGNING_ROUND, ("A1",), Path(tmp))).round
        case = drive_to_signing(signing)
    return {"open_round": opened.code, "signing_round": signing.code,
            "signing_case": {"pk": case.pk, "ref": case.ref}}


def main(argv: list[str]) -> int:
    import django

    django.setup()
    if argv[:1] == ["setup"]:
        result = setup()
    else:
        print("usage: python -m tests.browser.seed setup", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
