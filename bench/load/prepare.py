"""The load test's accounts and data, written into the stack's database (``bench/load.py`` runs
``python bench/load/prepare.py OUT.json`` with the stack's environment, after ``run_cycle`` on
the 2017 sample and ``generate_load_data``).

What it adds (no state change of any case: the users, sessions, tokens, experts' draft sheets
through ``selection.services.open_scoring``, the usual way a coordinator assigns experts):

* ``ACCOUNTS[role]`` users per role (``load-<role>-<i>``) with their role group, a logged-in
  session each (``SessionStore``, as ``django.contrib.auth.login`` makes it: the load test
  measures the work, not 50 password hashes) and an API token;
* applicants: each owns one or two of the 2017 sample's cases (the cases with documents);
* experts: draft score sheets on accepted applications of cases in selection in the load
  round (two experts each);
* coordinators: the open completeness-check tasks of the load round, dealt out so that no two
  coordinators take the same one, and cases in diagnosis, planning, support or implementation
  (suspended and resumed, again their own);
* signatories: the sample's signatories' approvals (pages and the versions they signed).

Writes ``OUT.json``: ``{"roles": {role: [account, ...]}, "audit": {...}}``, each account
``{"username", "session", "token", ...}`` with the ids it works on. Shapes: see
``bench/load/locustfile.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.settings")

#: Accounts per role (each shared by the Locust users of that role in turn).
ACCOUNTS = {"applicant": 9, "coordinator": 10, "expert": 8, "signatory": 2, "auditor": 3}
#: Accepted applications given draft sheets (each to two experts).
SCORED_APPLICATIONS = 40


def _session(user) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils.module_loading import import_string

    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(24 * 3600)
    store.create()
    return store.session_key


def _account(user) -> dict:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    return {"username": user.get_username(), "session": _session(user), "token": token.key}


def _versions(refs, user) -> list[int]:
    """The versions of the cases ``refs`` that ``user`` may download (the portal's own rule:
    an applicant does not get the experts' score sheets, for one)."""
    from documents.models import DocumentVersion
    from processes.portal.selectors import visible_version

    pks = DocumentVersion.objects.filter(document__owner_ref__in=list(refs)).order_by("pk").values_list("pk", flat=True)
    return [pk for pk in pks if visible_version(user=user, pk=pk) is not None]


def prepare(load_round: str) -> dict:
    from django.contrib.contenttypes.models import ContentType
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    from processes.rounds.actors import ensure_user
    from processes.rounds.models import Case
    from processes.selection.services import open_scoring
    from processes.submission.models import Application
    from workflow import permissions as roles
    from workflow.approvals.models import Decision
    from workflow.transitions import available_transitions

    out: dict = {"roles": {}}
    # applicants: the sample's cases, which have documents to download
    sample = list(Case.objects.filter(round__code="TC-2017").order_by("pk"))
    applicants = []
    for i in range(ACCOUNTS["applicant"]):
        user = ensure_user(f"load-applicant-{i}", roles.APPLICANT)
        owned = [c for k, c in enumerate(sample) if k % ACCOUNTS["applicant"] == i]
        Case.objects.filter(pk__in=[c.pk for c in owned]).update(applicant=user)
        applicants.append({**_account(user), "cases": [c.pk for c in owned],
                           "versions": _versions((c.ref for c in owned), user)})
    out["roles"]["applicant"] = applicants

    # coordinators: open completeness checks of the load round and cases to suspend/resume
    coordinators = [ensure_user(f"load-coordinator-{i}", roles.COORDINATOR) for i in range(ACCOUNTS["coordinator"])]
    app_type = ContentType.objects.get_for_model(Application)
    load_apps = Application.objects.filter(round__code=load_round)
    # queued checks only: a check someone holds is theirs to complete (409 for anyone else)
    open_checks = (Task.objects.filter(status=STATUS.NEW, owner__isnull=True, flow_task_type="HUMAN",
                                       process__artifact_content_type=app_type,
                                       process__artifact_object_id__in=list(load_apps.values_list("pk", flat=True)))
                   .select_related("process").order_by("pk"))
    # each check with an outcome its application allows, as a coordinator reading the case would
    # choose (generated applications may lack a figure or be in an excluded sector: then it is
    # returned for revision); a check allowing neither is left out
    applications = load_apps.in_bulk([int(t.process.artifact_object_id) for t in open_checks])
    tasks = []
    for check in open_checks:
        application = applications.get(int(check.process.artifact_object_id))
        allowed = {o.name for o in available_transitions(application, coordinators[0]) if o.allowed}
        if "accept" in allowed:
            tasks.append([check.pk, "accept" if check.pk % 3 else "return_for_revision"])
        elif "return_for_revision" in allowed:
            tasks.append([check.pk, "return_for_revision"])
    movable = list(Case.objects.filter(round__code=load_round, state__in=["diagnosis", "planning", "support",
                                                                           "implementation"])
                   .order_by("pk").values_list("pk", flat=True))
    browse = list(Case.objects.filter(round__code=load_round).order_by("?").values_list("pk", flat=True)[:500])
    n = len(coordinators)
    out["roles"]["coordinator"] = [{**_account(user), "tasks": tasks[i::n], "movable": movable[i::n],
                                    "cases": browse[i::n]} for i, user in enumerate(coordinators)]

    # experts: draft sheets on accepted applications without a selection yet
    experts = [ensure_user(f"load-expert-{i}", roles.EXPERT) for i in range(ACCOUNTS["expert"])]
    accepted = list(load_apps.filter(state=Application.State.ACCEPTED, case__state="selection",
                                     selection__isnull=True).order_by("pk")[:SCORED_APPLICATIONS])
    for k, application in enumerate(accepted):
        open_scoring(application=application, experts=[experts[k % len(experts)], experts[(k + 1) % len(experts)]])
    from processes.selection.models import ScoreSheet

    out["roles"]["expert"] = [{**_account(user), "sheets": list(
        ScoreSheet.objects.filter(expert=user, state="draft").order_by("pk").values_list("pk", flat=True))}
        for user in experts]

    # signatories: the sample's own (they decided the 2017 plans), and their documents
    signatories = []
    for username in ("signatory1", "signatory2"):
        user = ensure_user(username, roles.SIGNATORY)
        chains = set(Decision.objects.filter(signatory=user).values_list("approval__chain", flat=True))
        signatories.append({**_account(user), "versions": _versions(chains, user),
                            "cases": list(Case.objects.filter(ref__in=chains).values_list("pk", flat=True))})
    out["roles"]["signatory"] = signatories

    auditors = [ensure_user(f"load-auditor-{i}", roles.AUDITOR) for i in range(ACCOUNTS["auditor"])]
    heavy = [f"{load_round}/A{n}" for n in range(10, 20)]
    out["roles"]["auditor"] = [{**_account(user), "chains": [c.ref for c in sample] + heavy,
                                "cases": [c.pk for c in sample]} for user in auditors]
    out["load_round"] = load_round
    out["counts"] = {"tasks": len(tasks), "movable": len(movable), "sheets": sum(
        len(e["sheets"]) for e in out["roles"]["expert"]), "applicant_versions": sum(
        len(a["versions"]) for a in applicants)}
    return out


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the JSON file to write")
    parser.add_argument("--round", dest="load_round", required=True, help="the generate_load_data round code")
    args = parser.parse_args(argv)
    import django

    django.setup()
    from django.db import transaction

    with transaction.atomic():
        data = prepare(args.load_round)
    args.out.write_text(json.dumps(data, indent=1))
    print(json.dumps(data["counts"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
