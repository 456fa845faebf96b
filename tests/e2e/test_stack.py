"""One case of the 2017 sample through every stage, on the real stack (issue 7, item 4).

The stack (``stack.py``) is gunicorn in production mode, a Celery worker and beat on Redis,
PostgreSQL, moto S3 standing in for MinIO and an SMTP sink, all real processes. The round
is loaded with ``manage.py import_round samples/pilot-selection-2017.json`` and the demo users
with ``create_demo_users``; then a case is driven over HTTP, pages and API, each step as
the role that takes it: the applicant files the sample's application A1 (its figures) on the
round's apply page, attaches a Word file (case page) and submits (API); coordinators check
completeness (API task), move the case on (API and the case page's transition form), assign experts (work
page) and work the stage tasks (API and the inbox page); two experts score (API); two
signatories approve the plan (API and the signatory page); the body positions are recorded
(API tasks); the auditor searches the history, downloads the dossier and checks it and the
audit chain (pages and API).

The round's transitions (with the ranking, minutes and notices they generate) and the
selection's go through the API as the coordinator and the partner, and so do the stage objects
after selection (api/stages.py): the coordinator creates the diagnosis and records its six
areas, creates the plan with its four actions, sends it for signing and concludes the signing,
proposes the support measure and concludes its coordination, and creates the implementation.
``backoffice.py`` only sets up users and tokens, moves the beat schedules and reads the
database for the checks.

Then, with the case still at its completeness check, the reminders: the sweep's clock is a
django-celery-beat schedule's ``kwargs`` (as tests/brokers/test_beat.py), moved to the "-2"
reminder, then to the due day; the second sweep's delivery is slowed down by the SMTP sink and
the worker is killed (SIGKILL) in the middle of it and started again: exactly the owed
e-mails arrive, one per outbox key, none twice (by Message-ID). And an upload during which S3
stops is refused with 503 ``storage_unavailable`` and changes nothing (case, documents, audit
chain, bucket); once S3 is back the same request succeeds. At the end every document version
is in the bucket with its recorded sha256 (hashed here from the bytes read back), and the
audit chain verifies (``verify_audit``, the auditor's check page, the API's hash links).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from .stack import REPO, ProcessStack

pytestmark = pytest.mark.e2e

SAMPLE = "samples/pilot-selection-2017.json"
ROUND = "TC-2017"
SAMPLE_APPLICATION = "A1"  # the sample application whose figures the applicant files
CLOCK_TASK = "e2e-reminder-clock"
DELIVERY_TASK = "e2e-delivery-every-second"
EXTRA_COORDINATORS = 11  # with the demo coordinator: 12 holders of the coordinators' queue
DOCX_NAME = "Өтінім №1.docx"
#: The development plan's four actions as the coordinator enters them (budgets in KZT, 111 million in all).
PLAN_ACTIONS = [
    {"measure": "Set up the cluster's specialised organisation", "responsible": "Coordinating body",
     "deadline": "2018-03-31", "budget_kzt": "15000000", "kpi": "Members with participation agreements",
     "kpi_target": "43", "kpi_unit": "firms"},
    {"measure": "Joint export promotion: trade missions and a common catalogue",
     "responsible": "Specialised organisation", "deadline": "2018-06-30", "budget_kzt": "40000000",
     "kpi": "Export share of output", "kpi_target": "17.5", "kpi_unit": "%"},
    {"measure": "Training of the members' employees", "responsible": "Education partners", "deadline": "2018-09-30",
     "budget_kzt": "20000000", "kpi": "Employees trained", "kpi_target": "120", "kpi_unit": "people"},
    {"measure": "Joint R&D projects with the research partners", "responsible": "Research partners",
     "deadline": "2018-12-31", "budget_kzt": "36000000", "kpi": "Joint R&D projects", "kpi_target": "4",
     "kpi_unit": "projects"},
]


def password(user: str) -> str:
    from processes.rounds.management.commands.create_demo_users import demo_password

    return demo_password(user)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def wait_for(check, what: str, timeout: float = 60, interval: float = 0.2):
    """Poll ``check()`` until it returns a truthy value; fail naming ``what``."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def word_file(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Өтінім", level=1)
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def png_file(width: int = 256, height: int = 256) -> bytes:
    """A real PNG of random pixels (incompressible: about width x height x 4 bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + os.urandom(width * 4) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


class SlowBody:
    """A request body read in small pieces with pauses; ``at_half()`` runs once half is sent."""

    def __init__(self, data: bytes, at_half, piece: int = 16384, pause: float = 0.02):
        self.data, self.at_half, self.piece, self.pause = data, at_half, piece, pause
        self.sent, self.fired = 0, False

    def __len__(self) -> int:
        return len(self.data)

    def read(self, size: int = -1) -> bytes:
        size = self.piece if size is None or size < 0 else min(size, self.piece)
        if self.sent >= len(self.data) // 2 and not self.fired:
            self.fired = True
            self.at_half()
        out = self.data[self.sent:self.sent + size]
        self.sent += len(out)
        if out:
            time.sleep(self.pause)
        return out


class Backoffice:
    """``backoffice.py`` as one process in the stack's environment (JSON lines)."""

    def __init__(self, stack: ProcessStack):
        self.log = open(stack.workdir / "backoffice.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.backoffice"], cwd=REPO, env=stack.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.ready = False
        self.lock = threading.Lock()

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, f"the back-office process ended (exit code {self.proc.poll()}); see backoffice.log"
        return json.loads(line)

    def __call__(self, cmd: str, **args):
        with self.lock:
            if not self.ready:
                assert self._answer()["result"] == "ready"
                self.ready = True
            self.proc.stdin.write(json.dumps({"cmd": cmd, "args": args}) + "\n")
            self.proc.stdin.flush()
            answer = self._answer()
        assert answer["ok"], f"back-office step {cmd}({args}) failed:\n{answer['error']}"
        return answer["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Journey:
    """What the steps share: the stack, the back office, the logged-in people, timings."""

    def __init__(self, stack: ProcessStack, office: Backoffice):
        self.stack, self.office = stack, office
        self.tokens: dict[str, str] = {}
        self.apis: dict = {}
        self.sessions: dict = {}
        self.timings: dict[str, float] = {}
        self._mark = time.monotonic()
        self.case_id: int | None = None
        self.ref = ""  # the case's reference, e.g. TC-2017/A10 (known once the application is filed)

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.timings[name] = round(now - self._mark, 1)
        self._mark = now

    def api(self, user: str):
        if user not in self.apis:
            self.apis[user] = self.stack.api(self.tokens[user])
        return self.apis[user]

    def page(self, user: str):
        if user not in self.sessions:
            self.sessions[user] = self.stack.session(user, password(user))
        return self.sessions[user]

    # -- HTTP helpers ----------------------------------------------------------------------------

    def case(self, user: str = "coordinator") -> dict:
        response = self.api(user).get(f"/api/cases/{self.case_id}/")
        assert response.status_code == 200, response.text
        return response.json()

    def transition(self, name: str, user: str = "coordinator", comment: str = "") -> dict:
        response = self.api(user).post(f"/api/cases/{self.case_id}/transitions/{name}/", json={"comment": comment})
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
        return response.json()

    def round_transition(self, name: str, user: str = "coordinator") -> dict:
        response = self.api(user).post(f"/api/rounds/{ROUND}/transitions/{name}/", json={})
        assert response.status_code == 200, f"round {name}: {response.status_code} {response.text}"
        return response.json()

    def selection_transition(self, pk: int, name: str, user: str = "coordinator", comment: str = "") -> dict:
        response = self.api(user).post(f"/api/selections/{pk}/transitions/{name}/", json={"comment": comment})
        assert response.status_code == 200, f"selection {name}: {response.status_code} {response.text}"
        return response.json()

    def tasks(self, user: str = "coordinator", outcome: str | None = None) -> list[dict]:
        found, url = [], "/api/tasks/?page_size=100"
        while url:
            response = self.api(user).get(url)
            assert response.status_code == 200, response.text
            body = response.json()
            found += body["results"]
            url = body["next"]
        mine = [t for t in found if t["case_ref"] == self.ref or t["object"]["label"].startswith(self.ref + ":")
                or t["object"]["label"].startswith(self.ref + " ")]
        return [t for t in mine if outcome is None or outcome in t["outcomes"]]

    def complete(self, outcome: str, user: str = "coordinator", comment: str = "") -> dict:
        tasks = self.tasks(user, outcome)
        assert len(tasks) == 1, f"one open task with outcome {outcome} expected, found {tasks}"
        response = self.api(user).post(f"/api/tasks/{tasks[0]['id']}/complete/",
                                       json={"transition": outcome, "comment": comment})
        assert response.status_code == 200, f"task {outcome}: {response.status_code} {response.text}"
        assert response.json()["status"] == "DONE"
        return tasks[0]

    def created(self, url: str, body: dict, user: str = "coordinator") -> dict:
        """POST ``body`` to the API's ``url`` (a stage object's creation): the new object."""
        response = self.api(user).post(url, json=body)
        assert response.status_code == 201, f"{url}: {response.status_code} {response.text}"
        return response.json()

    def documents(self, user: str = "auditor") -> dict[tuple[str, int], str]:
        """``{(kind, version number, version id): sha256}`` of the case's documents, through the API."""
        found, url = {}, f"/api/documents/?owner_ref={self.ref}&page_size=100"
        while url:
            response = self.api(user).get(url)
            assert response.status_code == 200, response.text
            body = response.json()
            for document in body["results"]:
                versions = self.api(user).get(f"/api/documents/{document['id']}/versions/")
                assert versions.status_code == 200, versions.text
                items = versions.json()
                items = items["results"] if isinstance(items, dict) else items
                for version in items:
                    found[(document["kind"], version["number"], version["id"])] = version["sha256"]
            url = body["next"]
        return found

    def audit_entries(self, user: str = "auditor") -> list[dict]:
        entries, url = [], f"/api/audit-entries/?chain={self.ref}&ordering=seq&page_size=100"
        while url:
            response = self.api(user).get(url)
            assert response.status_code == 200, response.text
            body = response.json()
            entries += body["results"]
            url = body["next"]
        return entries


def sink_ids(stack: ProcessStack) -> Counter:
    """How many times the SMTP sink received each Message-ID."""
    return Counter(str(message["Message-ID"]) for message in stack.sent_mail())


def beat_sends(stack: ProcessStack) -> int:
    return len(re.findall(rf"Sending due task {re.escape(CLOCK_TASK)} ", stack.log_text("beat")))


def at_nine(day: dt.date) -> dt.datetime:
    from workflow import calendar
    from workflow.deadlines import REMINDER_HOUR

    return dt.datetime.combine(day, dt.time(REMINDER_HOUR), tzinfo=calendar._zone(calendar.TIME_ZONE))


def test_one_case_of_the_2017_sample_through_every_stage_on_the_real_stack(stack: ProcessStack):
    office = Backoffice(stack)
    try:
        journey = Journey(stack, office)
        _run(journey)
    finally:
        office.close()
        print(f"\nend-to-end timings (s): {json.dumps(journey.timings)}")


def _run(j: Journey) -> None:
    stack, office = j.stack, j.office
    j.timings["stack start"] = stack.startup_seconds
    import requests

    # Production HTTPS behind the proxy: plain HTTP is redirected, the proxied request gets HSTS.
    plain = requests.get(stack.base_url + "/accounts/login/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://"), plain.status_code
    proxied = requests.get(stack.base_url + "/accounts/login/", headers={"X-Forwarded-Proto": "https"}, timeout=30)
    assert proxied.status_code == 200 and "max-age=" in proxied.headers["Strict-Transport-Security"]
    assert "Secure" in proxied.headers["Set-Cookie"]
    j.lap("back office")

    # -- the round and the people ----------------------------------------------------------------
    stack.manage("import_round", SAMPLE)
    stack.manage("create_demo_users")
    with ThreadPoolExecutor(4) as pool:
        coordinator_token = pool.submit(stack.api_token, "coordinator")  # manage.py drf_create_token
        logins = [pool.submit(j.page, user) for user in ("applicant-a1", "coordinator", "signatory2", "auditor")]
        j.tokens.update(office("tokens", users=["partner", "expert1", "expert2", "signatory1", "auditor"]))
        office("add_coordinators", count=EXTRA_COORDINATORS)
        j.tokens["coordinator"] = coordinator_token.result()
        assert j.round_transition("open_applications")["state"] == "open"
        for login in logins:
            login.result()
    j.lap("round loaded, people")

    # -- submission: the applicant files the sample's A1 figures on the apply page, attaches a
    # Word file on the case page and submits (the imported drafts of the sample have no users:
    # the admin shows cases read-only and only the scripted cycle links its own applicants)
    figures = next(a for a in json.loads((REPO / SAMPLE).read_text(encoding="utf-8"))["applications"]
                   if a["ref"] == SAMPLE_APPLICATION)
    applicant = j.page("applicant-a1")
    form = applicant.get(f"/rounds/{ROUND}/apply/")
    assert form.status_code == 200, form.text[:2000]
    values = {name: str(figures[name]) for name in ("name_en", "name_ru", "region", "city", "sector",
                                                     "anchor_enterprises", "smes", "employees",
                                                     "export_share_pct", "research_partners")}
    filed = applicant.post(f"/rounds/{ROUND}/apply/", allow_redirects=False,
                           data={"csrfmiddlewaretoken": csrf(form.text), **values, "name_kk": "", "language": "ru"})
    assert filed.status_code == 302 and re.fullmatch(r"/cases/\d+/", filed.headers["Location"]), filed.text[:2000]
    j.case_id = int(filed.headers["Location"].strip("/").split("/")[-1])
    j.ref = j.case("auditor")["ref"]
    assert j.ref.startswith(f"{ROUND}/A") and j.case("auditor")["applicant"] == "applicant-a1"

    case_page = applicant.get(f"/cases/{j.case_id}/")
    assert case_page.status_code == 200 and j.ref in case_page.text
    attachment = word_file("Кластердің даму бағдарламасы.")
    uploaded = applicant.post(f"/cases/{j.case_id}/attachments/", data={"csrfmiddlewaretoken": csrf(case_page.text)},
                              files={"file": (DOCX_NAME, attachment)}, allow_redirects=False)
    assert uploaded.status_code == 302, uploaded.text[:2000]
    assert DOCX_NAME in applicant.get(f"/cases/{j.case_id}/").text
    application_id = j.case("auditor")["application"]["id"]
    submitted = applicant.post(f"/api/applications/{application_id}/transitions/submit/", json={})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "submitted"
    j.lap("submission")

    # -- reminders: the completeness check's deadline, swept by beat with a moved clock ----------
    _reminders(j)
    j.lap("reminders, worker killed and restarted")

    # -- S3 stops during an upload: 503, nothing changes; back, the same request succeeds --------
    _storage_outage(j)
    j.lap("S3 outage")

    # -- selection ---------------------------------------------------------------------------------
    j.complete("accept", comment="Complete and eligible.")
    if j.case()["state"] == "submission":  # the acceptance may move the case on by itself
        assert j.transition("advance_to_selection")["state"] == "selection"
    assert j.case()["state"] == "selection"
    coordinator = j.page("coordinator")
    work = coordinator.get("/work/", params={"round": ROUND})
    assert work.status_code == 200
    experts = {name: value for value, name in
               re.findall(r'<option value="(\d+)"[^>]*>[^<]*\((expert\d)\)', work.text)}
    assigned = coordinator.post(f"/cases/{j.case_id}/experts/", allow_redirects=False, data={
        "csrfmiddlewaretoken": csrf(work.text), "experts": [experts["expert1"], experts["expert2"]]})
    assert assigned.status_code == 302, assigned.text[:2000]
    for expert, value in (("expert1", 8), ("expert2", 7)):
        sheets = j.api(expert).get("/api/score-sheets/").json()["results"]
        sheet = next(s for s in sheets if s["case_ref"] == j.ref)
        scored = j.api(expert).post(f"/api/score-sheets/{sheet['id']}/transitions/submit/",
                                    json={"data": {"scores": {s["code"]: value for s in sheet["scores"]}}})
        assert scored.status_code == 200, scored.text
        assert scored.json()["state"] == "submitted" and scored.json()["total"] == f"{value * 10}.00"
    # The round and the selection: close, score, rank (start_discussion), the partner discusses,
    # select, decide (the minutes), publish (the decision notice).
    assert j.round_transition("close_applications")["state"] == "closed"
    assert j.round_transition("start_scoring")["state"] == "scoring"
    selections = j.api("coordinator").get("/api/selections/", params={"round__code": ROUND}).json()["results"]
    assert len(selections) == 1, selections
    selection = selections[0]["id"]
    assert j.selection_transition(selection, "complete_scoring")["state"] == "scored"
    assert j.round_transition("start_discussion")["state"] == "discussion"
    assert j.selection_transition(selection, "discuss", user="partner",
                                  comment="Discussed jointly by the operator and the partner.")["state"] == "discussed"
    chosen = j.selection_transition(selection, "select", comment="Score above the pass mark, rank 1.")
    assert chosen["state"] == "selected" and chosen["rank"] == 1, chosen
    assert j.round_transition("decide")["state"] == "decided"
    assert j.round_transition("publish")["state"] == "published"
    assert j.case()["application"]["score"] == "75.00"
    moved = coordinator.post(f"/cases/{j.case_id}/transitions/advance_to_diagnosis/", allow_redirects=False,
                             data={"csrfmiddlewaretoken": csrf(coordinator.get(f"/cases/{j.case_id}/").text)})
    assert moved.status_code == 302, moved.text[:2000]
    assert j.case()["state"] == "diagnosis"
    j.lap("selection")

    # -- diagnosis ---------------------------------------------------------------------------------
    diagnosis = j.created("/api/diagnoses/", {"case": j.case_id, "assessors": "KIID, Atameken"})
    assert diagnosis["state"] == "planned" and len(diagnosis["areas_expected"]) == 6, diagnosis
    j.complete("start_fieldwork")
    assessed = j.api("coordinator").post(f"/api/diagnoses/{diagnosis['id']}/assessment/", json={"areas": [
        {"area": area, "score_pct": 40 + 5 * i, "finding": f"Finding {i}."}
        for i, area in enumerate(diagnosis["areas_expected"], 1)]})
    assert assessed.status_code == 200, assessed.text
    assert assessed.json()["state"] == "draft_report" and assessed.json()["overall_pct"] == "57.50"
    task = j.tasks(outcome="open_discussion")[0]
    inbox = coordinator.get("/inbox/")
    assert f"/inbox/tasks/{task['id']}/complete/" in inbox.text
    done = coordinator.post(f"/inbox/tasks/{task['id']}/complete/", allow_redirects=False, data={
        "csrfmiddlewaretoken": csrf(inbox.text), "transition": "open_discussion", "comment": "With the cluster."})
    assert done.status_code == 302, done.text[:2000]
    j.complete("approve", comment="Results discussed with the cluster.")
    assert j.transition("advance_to_planning")["state"] == "planning"
    j.lap("diagnosis")

    # -- planning: two signatories sign the plan ---------------------------------------------------
    plan = j.created("/api/plans/", {"case": j.case_id, "vision": "A competitive cluster by 2022.",
                                      "governance": "A coordinating body of the members.", "actions": PLAN_ACTIONS})
    assert plan["state"] == "drafting" and plan["total_budget_kzt"] == "111000000.00", plan
    j.complete("submit_for_review")
    signing = j.api("coordinator").post(f"/api/plans/{plan['id']}/transitions/send_for_signing/", json={})
    assert signing.status_code == 200 and signing.json()["state"] == "signing", signing.text
    waiting = j.api("signatory1").get("/api/approvals/").json()["results"]
    decision = next(d for d in waiting if d["approval"]["chain"] == j.ref)
    approved = j.api("signatory1").post(f"/api/approvals/{decision['id']}/approve/",
                                        json={"comment": "Approved by signatory1."})
    assert approved.status_code == 200, approved.text
    signatory2 = j.page("signatory2")
    approvals_page = signatory2.get("/approvals/")
    action = re.findall(r'action="(/decisions/\d+/approve/)"', approvals_page.text)
    assert len(action) == 1, action
    signed = signatory2.post(action[0], allow_redirects=False, data={
        "csrfmiddlewaretoken": csrf(approvals_page.text), "comment": "Approved by signatory2."})
    assert signed.status_code == 302, signed.text[:2000]
    assert decision["approval"]["subject_sha256"]
    concluded = j.api("coordinator").post(f"/api/plans/{plan['id']}/transitions/approve/", json={})
    assert concluded.status_code == 200 and concluded.json()["state"] == "approved", concluded.text
    assert j.transition("advance_to_support")["state"] == "support"
    j.lap("planning")

    # -- support measures agreed ----------------------------------------------------------------------
    measure = j.created("/api/support-measures/", {
        "case": j.case_id, "title": "Reimbursement of cluster management costs", "amount_kzt": "60000000",
        "reimbursement_pct": "75", "legal_basis": "Order No. 1194 of 2015-12-09",
        "bodies": ["Ministry of National Economy", "Akimat of the region"]})
    assert measure["state"] == "coordination" and len(measure["positions"]) == 2, measure
    positions = j.tasks(outcome="agree")
    assert len(positions) == 2 and {t["object"]["type"] for t in positions} == {"support.bodyposition"}
    for task in positions:
        agreed = j.api("coordinator").post(f"/api/tasks/{task['id']}/complete/",
                                           json={"transition": "agree", "comment": "Agreed by letter."})
        assert agreed.status_code == 200, agreed.text
    agreed = j.api("coordinator").post(f"/api/support-measures/{measure['id']}/transitions/agree/", json={})
    assert agreed.status_code == 200 and agreed.json()["state"] == "in_force", agreed.text
    assert j.transition("advance_to_implementation")["state"] == "implementation"
    j.lap("support")

    # -- implementation and monitoring, closed ------------------------------------------------------
    assert j.created("/api/implementations/", {"case": j.case_id, "started_on": "2018-01-01"})["state"] == "active"
    report = coordinator.get(f"/cases/{j.case_id}/reports/")  # the quarter's KPI actuals
    assert report.status_code == 200, report.text[:2000]
    year = re.search(r'name="year" value="(\d{4})"', report.text).group(1)
    positions = re.findall(r'name="actual-(\d+)"', report.text)
    assert len(positions) == 4, positions  # the plan's four actions
    filed = coordinator.post(f"/cases/{j.case_id}/reports/", allow_redirects=False, data={
        "csrfmiddlewaretoken": csrf(report.text), "year": year, "quarter": "1",
        "summary": "First quarter: activities started as planned.", **{f"actual-{p}": "3" for p in positions}})
    assert filed.status_code == 302, filed.text[:2000]
    j.complete("accept_report", comment="Report checked.")
    j.complete("complete", comment="Implementation completed.")
    closed = j.transition("close", comment="Cycle complete.")
    assert closed["state"] == "closed"
    _assert_stage_objects_done(j)
    j.lap("implementation, closed")

    # -- the auditor: history, dossier, chain check ------------------------------------------------
    _auditor(j)
    j.lap("auditor")

    # -- every document version is in the bucket with its recorded sha256 -------------------------
    _documents_in_the_bucket(j)
    j.lap("bucket checked")


def _assert_stage_objects_done(j: Journey) -> None:
    """The closed case's application and stage objects ended in their final states: the last
    state of each object in the case's audit chain (the API lists no stage objects for a closed
    case), and who took each step."""
    case = j.case()
    assert case["application"]["state"] == "accepted" and case["stage_objects"] == []
    last, actors = {}, {}
    for entry in j.audit_entries():
        last[(entry["object_type"], entry["object_id"])] = entry["to_state"]
        actors.setdefault(entry["transition"], set()).add(entry["actor"])
    final = Counter((kind, state) for (kind, _), state in last.items())
    assert final == Counter({("rounds.case", "closed"): 1, ("submission.application", "accepted"): 1,
                             ("selection.selection", "selected"): 1, ("selection.scoresheet", "submitted"): 2,
                             ("diagnosis.diagnosis", "approved"): 1, ("planning.plan", "approved"): 1,
                             ("approvals.approval", "approved"): 1, ("approvals.decision", "approved"): 2,
                             ("support.supportmeasure", "in_force"): 1, ("support.bodyposition", "agreed"): 2,
                             ("implementation.implementation", "completed"): 1,
                             # every stored version is audited: 2 attachments and 9 generated documents
                             ("documents.documentversion", ""): 11}), final
    assert actors["submit"] >= {"applicant-a1"} and actors["accept"] == {"coordinator"}
    assert {"signatory1", "signatory2"} <= actors["approve"]


def _reminders(j: Journey) -> None:
    from workflow.deadlines import working_days_before

    stack, office = j.stack, j.office
    deadlines = office("open_deadlines")
    assert [(d["chain"], d["role"], d["responsible"]) for d in deadlines] == [(j.ref, "coordinator", None)], deadlines
    deadline = deadlines[0]
    due_day = dt.date.fromisoformat(deadline["due_day"])
    assert stack.sent_mail() == []

    def owed_at(now: dt.datetime) -> list[str]:
        return office("owed", deadline_id=deadline["id"], now=now.isoformat(), role="coordinator")

    def deadline_rows() -> list[dict]:
        return [row for row in office("outbox") if row["key"].startswith("deadline:")]

    def settle(owed: list[str], sends_before: int) -> list[dict]:
        """Beat has fired the clock task at least twice since the clock moved, every owed e-mail
        is marked sent and at the sink, and nothing more arrives over 2 further beats."""
        wait_for(lambda: beat_sends(stack) >= sends_before + 2, "beat to send the sweep twice")

        def delivered() -> bool:
            rows = [r for r in deadline_rows() if r["key"] in owed and r["channel"] == "email"]
            sent = {r["key"] for r in rows if r["status"] == "sent"}
            return sent == set(owed) and {r["message_id"] for r in rows} <= set(sink_ids(stack))

        wait_for(delivered, f"the {len(owed)} owed e-mails to be sent and received", timeout=90)
        settled_at, arrived = beat_sends(stack), len(stack.sent_mail())
        wait_for(lambda: beat_sends(stack) >= settled_at + 2, "two more beats")
        assert len(stack.sent_mail()) == arrived, "e-mail kept arriving after everything owed was sent"
        return deadline_rows()

    def assert_exactly(owed: list[str], rows: list[dict], resent: frozenset = frozenset()) -> None:
        assert Counter((r["key"], r["channel"]) for r in rows) == Counter(
            {(key, channel): 1 for key in owed for channel in ("in_app", "email")})
        assert {r["status"] for r in rows if r["channel"] == "email"} == {"sent"}
        expected = Counter({r["message_id"]: 1 + (r["message_id"] in resent) for r in rows if r["channel"] == "email"})
        received = Counter({mid: n for mid, n in sink_ids(stack).items() if mid in expected})
        assert received == expected, f"owed once each {expected}, received {received}"
        assert set(sink_ids(stack)) <= {r["message_id"] for r in office("outbox") if r["channel"] == "email"}

    # 1. The clock at the "-2" reminder: one e-mail per coordinator.
    first = at_nine(working_days_before(due_day, 2))
    owed = owed_at(first)
    assert len(owed) == 1 + EXTRA_COORDINATORS and all(":reminder:-2:" in key for key in owed), owed
    sends = beat_sends(stack)
    office("reminder_clock", name=CLOCK_TASK, now=first.isoformat())
    assert_exactly(owed, settle(owed, sends))

    # 2. The due day's reminder, delivered slowly; the worker is killed in the middle, restarted.
    stack.set_mail_delay(0.3)
    second = at_nine(due_day)
    due_day_owed = owed_at(second)
    assert len(due_day_owed) == 1 + EXTRA_COORDINATORS and all(":reminder:0:" in key for key in due_day_owed)
    owed = sorted(set(owed) | set(due_day_owed))
    before = len(stack.sent_mail())
    sends = beat_sends(stack)
    office("reminder_clock", name=CLOCK_TASK, now=second.isoformat())
    wait_for(lambda: len(stack.sent_mail()) >= before + 3, "the first of the due day's e-mails", interval=0.01)
    time.sleep(0.15)  # into the sink's wait for the next message: the worker is in the middle of sending it
    stack.kill_worker()
    at_kill = len(stack.sent_mail())
    assert at_kill - before < len(due_day_owed), "the delivery was over before the worker was killed"
    time.sleep(0.6)
    assert len(stack.sent_mail()) == at_kill  # nobody delivers while the worker is down
    rows = deadline_rows()  # nothing lost: every owed row is there, the unsent ones pending
    assert Counter((r["key"], r["channel"]) for r in rows) == Counter(
        {(key, channel): 1 for key in owed for channel in ("in_app", "email")})
    pending = {r["message_id"] for r in rows if r["channel"] == "email" and r["status"] == "pending"}
    assert pending and {r["status"] for r in rows if r["channel"] == "email"} <= {"sent", "pending"}
    # A message the sink accepted while the worker died before recording it (a window of
    # milliseconds after the sink's answer) is sent again with the same Message-ID: e-mail is
    # at-least-once by design (docs/deadlines.md). At most that one message may arrive twice.
    in_flight = pending & set(sink_ids(stack))
    assert len(in_flight) <= 1, in_flight
    j.timings["reminders: accepted but unrecorded at the kill"] = len(in_flight)
    stack.set_mail_delay(0)
    stack.start_worker()
    # The restarted worker's sweeps create nothing (every row exists), so they queue no delivery,
    # and the killed delivery task comes back only after Redis's visibility timeout (an hour): in
    # production the periodic delivery (every 5 minutes) sends what was left pending. The test
    # runs that delivery every second instead of waiting 5 minutes.
    office("delivery_every_second", name=DELIVERY_TASK)
    assert_exactly(owed, settle(owed, sends), frozenset(in_flight))
    office("reminder_clock", name=CLOCK_TASK, now=second.isoformat(), enabled=False)
    office("delivery_every_second", name=DELIVERY_TASK, enabled=False)
    j.timings["reminders: e-mails before the kill"] = at_kill - before


def _storage_outage(j: Journey) -> None:
    stack = j.stack
    applicant = j.page("applicant-a1")
    image = png_file()

    def snapshot():
        return (j.case("auditor")["state"], j.case("auditor")["application"]["state"], j.documents(),
                [(e["seq"], e["hash"]) for e in j.audit_entries()], stack.s3_objects())

    before = snapshot()
    body = SlowBody(b"", stack.stop_s3)
    from urllib3 import encode_multipart_formdata

    payload, content_type = encode_multipart_formdata({"file": ("site-photo.png", image, "image/png")})
    body.data = payload
    started = time.monotonic()
    refused = applicant.post(f"/api/cases/{j.case_id}/attachments/", data=body,
                             headers={"Content-Type": content_type})
    j.timings["S3 outage: refusal took"] = round(time.monotonic() - started, 1)
    assert body.fired and not stack.running("s3proxy")
    assert refused.status_code == 503, f"{refused.status_code} {refused.text[:2000]}"
    problem = refused.json()
    assert problem["code"] == "storage_unavailable" and problem["message"], problem
    assert snapshot()[:4] == before[:4]  # case, application, documents, audit chain unchanged
    assert stack.s3_objects() == before[4]  # and nothing half-written in the bucket

    stack.start_s3()
    accepted = applicant.post(f"/api/cases/{j.case_id}/attachments/", data=payload,
                              headers={"Content-Type": content_type})
    assert accepted.status_code == 201, f"{accepted.status_code} {accepted.text[:2000]}"
    assert accepted.json()["sha256"] == sha256(image)
    after = j.documents()
    assert set(after) - set(before[2]) and sha256(image) in after.values()
    assert sha256(image) in stack.s3_objects().values()


def _auditor(j: Journey) -> None:
    stack = j.stack
    with ThreadPoolExecutor(1) as pool:
        command = pool.submit(stack.manage, "verify_audit", check=False)  # meanwhile, over HTTP:
        _auditor_pages(j)
        result = command.result()
    assert result.returncode == 0 and "audit chains intact" in result.stdout, result.stdout + result.stderr


def _auditor_pages(j: Journey) -> None:
    auditor = j.page("auditor")
    history = auditor.get("/audit/", params={"case": j.ref})
    assert history.status_code == 200 and "advance_to_implementation" in history.text

    dossier = auditor.get(f"/cases/{j.case_id}/dossier/", allow_redirects=False)
    if dossier.status_code == 302 and "/jobs/" in dossier.headers["Location"]:  # built by the worker
        job = dossier.headers["Location"]
        status = wait_for(lambda: (s := auditor.get(job, headers={"Accept": "application/json"}).json())
                          ["status"] in ("done", "failed") and s, "the dossier job")
        assert status["status"] == "done", status
        dossier = auditor.get(f"{job}download/")
    assert dossier.status_code == 200, dossier.text[:2000]
    with zipfile.ZipFile(io.BytesIO(dossier.content)) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["case"]["ref"] == j.ref and manifest["generated_by"] == "auditor"
        for item in manifest["files"]:
            assert sha256(archive.read(item["path"])) == item["sha256"], item["path"]
    form = auditor.get("/audit/dossiers/verify/")
    checked = auditor.post("/audit/dossiers/verify/", data={"csrfmiddlewaretoken": csrf(form.text), "database": "1"},
                           files={"file": ("dossier.zip", dossier.content, "application/zip")})
    assert checked.status_code == 200
    assert 'id="dossier-result" data-testid="dossier-result" data-ok="true"' in checked.text
    assert manifest["audit"]["head_hash"] in checked.text

    # The chain: the auditor's check page (this case's chain, then all), the API's links, the command.
    page = auditor.get("/audit/")
    for case in (j.ref, ""):
        verified = auditor.post("/audit/verify/", data={"csrfmiddlewaretoken": csrf(page.text), "case": case})
        assert verified.status_code == 200 and 'data-ok="true"' in verified.text, verified.text[:2000]
    entries = j.audit_entries()
    assert [e["seq"] for e in entries] == list(range(entries[0]["seq"], entries[0]["seq"] + len(entries)))
    for previous, entry in zip(entries, entries[1:]):
        assert entry["prev_hash"] == previous["hash"], entry
    assert entries[-1]["hash"] == manifest["audit"]["head_hash"]
    transitions = [e["transition"] for e in entries]
    for name in ("submit", "accept", "advance_to_selection", "advance_to_diagnosis", "advance_to_planning",
                 "approve", "advance_to_support", "advance_to_implementation", "complete", "close"):
        assert name in transitions, f"{name} missing from the case's audit chain"


def _documents_in_the_bucket(j: Journey) -> None:
    stack, office = j.stack, j.office
    recorded = office("versions")
    objects = stack.s3_objects()
    for version in recorded:
        assert version["key"] in objects, f"{version['key']} is not in the bucket"
        assert objects[version["key"]] == version["sha256"], f"{version['key']}: bytes differ from the record"
    versioned = {v["key"] for v in recorded}
    assert all(key.startswith("jobs/") for key in set(objects) - versioned), sorted(set(objects) - versioned)
    kinds = Counter(v["kind"] for v in recorded if v["owner_ref"] == j.ref)
    assert kinds == Counter({"attachment": 2, "score_sheet": 2, "application_receipt": 1, "decision_notice": 1,
                             "diagnosis_report": 1, "development_plan": 1, "approval_sheet": 1,
                             "support_coordination_sheet": 1, "monitoring_report": 1}), kinds
    assert {v["kind"] for v in recorded if v["owner_ref"] == ROUND} == {"selection_minutes"}
    # The API lists the same versions with the same sha256.
    listed = j.documents()
    assert sorted(listed.values()) == sorted(v["sha256"] for v in recorded if v["owner_ref"] == j.ref)
