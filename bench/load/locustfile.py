"""Kelisim's load test (issue 7, item 5): Locust users in the proportions of the roles, each
doing what that role does (``bench/load.py`` runs it headless against the real stack).

Run by ``python -m bench.load`` (see there); by hand: ``KELISIM_LOAD_DATA=accounts.json locust
-f bench/load/locustfile.py --host http://127.0.0.1:PORT --headless -u 50 -r 10 --run-time 60s``.
Locust (and gevent's monkey-patching) lives only in that process: nothing of Kelisim imports
this file.

``KELISIM_LOAD_DATA`` is the JSON of ``bench/load/prepare.py``: per role, accounts with a
logged-in session, an API token and the ids each works on. Every Locust user takes the next
account of its role (accounts are shared in turn) and sends ``X-Forwarded-Proto: https`` as
the TLS-terminating proxy in front of gunicorn would (production settings redirect plain HTTP).
Users are ``FastHttpUser`` (geventhttpclient): the load generator runs on the same cores as the
stack, and it takes several times less CPU per request than ``HttpUser`` (requests).

The mix (weights: users per 50; think time 1 to 3 s between actions):

* applicants (16): their case list and case page, download one of their documents (a version
  checked against its sha256 on the way out), attach a small PDF through the API (stored in
  S3, a new version each time);
* coordinators (10): the inbox, the work page, a case page, the task list of the API; complete
  an open completeness check through the API (``accept`` or ``return_for_revision``, one the
  application allows, each task once by one user), suspend and resume one of their own cases in diagnosis to implementation
  (``POST /api/cases/{id}/transitions/suspend/`` then ``resume``): transitions stay possible
  for the whole run;
* experts (10): their page and score-sheet pages, keep draft scores through the API (``PATCH
  /api/score-sheets/{id}/``), the API list of their sheets;
* signatories (6): the approvals page and API list, download a version they signed, a case page;
* auditors (8): history search by case, actor or transition (page and API), a case page.

A request counts as an error when its status is not the expected one (2xx, or 302 for a
redirecting page); the names group URLs by kind (``/cases/[id]/`` etc.) in Locust's statistics.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import defaultdict
from pathlib import Path

from locust import FastHttpUser, between, events, task

from bench.load import multipart  # gevent-free helpers of the bench (run from the repository)

_DATA = None
_NEXT = defaultdict(itertools.count)

#: The file applicants attach: a one-page PDF (the upload check reads the type from the content).
PDF = (Path(__file__).resolve().parent / "letter.pdf").read_bytes()


def data() -> dict:
    global _DATA
    if _DATA is None:
        with open(os.environ["KELISIM_LOAD_DATA"], encoding="utf-8") as handle:
            _DATA = json.load(handle)
    return _DATA


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--kelisim-data", default="", help="bench/load/prepare.py's JSON (or KELISIM_LOAD_DATA)")


@events.init.add_listener
def _(environment, **_kwargs):
    options = environment.parsed_options
    if options is not None and getattr(options, "kelisim_data", ""):
        os.environ["KELISIM_LOAD_DATA"] = options.kelisim_data


class KelisimUser(FastHttpUser):
    abstract = True
    role = ""
    wait_time = between(1, 3)

    def on_start(self):
        accounts = data()["roles"][self.role]
        self.account = accounts[next(_NEXT[self.role]) % len(accounts)]
        # every request through page(), api() or download(): the proxy's header, a language,
        # and either the session cookie (pages) or the token (API)
        base = {"X-Forwarded-Proto": "https", "Accept-Language": random.choice(["ru", "kk", "en"])}
        self.page_headers = {**base, "Cookie": f"sessionid={self.account['session']}"}
        self.api_headers = {**base, "Authorization": f"Token {self.account['token']}", "Accept": "application/json"}

    def page(self, url: str, name: str | None = None):
        with self.client.get(url, name=name or url, headers=self.page_headers, allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            return response

    def api(self, method: str, url: str, name: str, expect=(200,), headers=None, **kwargs):
        with self.client.request(method, url, name=name, headers={**self.api_headers, **(headers or {})},
                                 catch_response=True, **kwargs) as response:
            if response.status_code not in expect:
                response.failure(f"{response.status_code}: {response.text[:300]}")
            return response

    def download(self, version: int):
        with self.client.get(f"/documents/versions/{version}/download/", name="/documents/versions/[id]/download/",
                             headers=self.page_headers, catch_response=True) as response:
            if response.status_code != 200 or not response.content:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    def case_page(self, cases):
        if cases:
            self.page(f"/cases/{random.choice(cases)}/", name="/cases/[id]/")


class Applicant(KelisimUser):
    role = "applicant"
    weight = 16

    @task(2)
    def case_list(self):
        self.page("/")

    @task(4)
    def own_case(self):
        self.case_page(self.account["cases"])

    @task(3)
    def download_document(self):
        if self.account["versions"]:
            self.download(random.choice(self.account["versions"]))

    @task(1)
    def attach_file(self):
        case = random.choice(self.account["cases"])
        body, content_type = multipart("file", f"letter-{random.randrange(10**6)}.pdf", PDF, "application/pdf")
        self.api("POST", f"/api/cases/{case}/attachments/", "/api/cases/[id]/attachments/", expect=(201,),
                 data=body, headers={"Content-Type": content_type})


class Coordinator(KelisimUser):
    role = "coordinator"
    weight = 10
    #: Cases each coordinator user suspends and resumes (its own: no two users move one case).
    CASES_EACH = 5

    def on_start(self):
        super().on_start()
        pools = _pools()
        self.own_cases = [pools["movable"].pop() for _ in range(min(self.CASES_EACH, len(pools["movable"])))]
        self.suspended = set()

    @task(3)
    def inbox(self):
        self.page("/inbox/")

    @task(2)
    def work(self):
        self.page("/work/")

    @task(3)
    def case(self):
        self.case_page(self.account["cases"])

    @task(1)
    def api_tasks(self):
        self.api("GET", "/api/tasks/", "/api/tasks/")

    @task(2)
    def complete_check(self):
        tasks = _pools()["tasks"]
        if not tasks:  # every check of the round is done: keep moving cases instead
            return self.move_case()
        task_id, outcome = tasks.pop()  # an outcome the application allows (prepare.py)
        self.api("POST", f"/api/tasks/{task_id}/complete/", "/api/tasks/[id]/complete/",
                 json={"transition": outcome, "comment": "load test"})

    @task(2)
    def move_case(self):
        if not self.own_cases:
            return
        case = random.choice(self.own_cases)
        name = "resume" if case in self.suspended else "suspend"
        response = self.api("POST", f"/api/cases/{case}/transitions/{name}/", f"/api/cases/[id]/transitions/{name}/",
                            json={"comment": "load test"})
        if response.status_code == 200:
            (self.suspended.discard if name == "resume" else self.suspended.add)(case)


_POOLS = None


def _pools() -> dict:
    """The coordinators' shared work (this process): open checks and movable cases, shuffled;
    each is popped by one user only."""
    global _POOLS
    if _POOLS is None:
        accounts = data()["roles"]["coordinator"]
        _POOLS = {"tasks": [t for a in accounts for t in a["tasks"]],
                  "movable": [c for a in accounts for c in a["movable"]]}
        for pool in _POOLS.values():
            random.shuffle(pool)
    return _POOLS


class Expert(KelisimUser):
    role = "expert"
    weight = 10

    @task(2)
    def own_page(self):
        self.page("/expert/")

    @task(3)
    def sheet(self):
        if self.account["sheets"]:
            self.page(f"/expert/sheets/{random.choice(self.account['sheets'])}/", name="/expert/sheets/[id]/")

    @task(2)
    def keep_draft(self):
        if self.account["sheets"]:
            sheet = random.choice(self.account["sheets"])
            scores = {f"C{i}": {"value": random.randrange(11), "comment": "load test"} for i in range(1, 8)}
            self.api("PATCH", f"/api/score-sheets/{sheet}/", "/api/score-sheets/[id]/", json={"scores": scores})

    @task(1)
    def api_sheets(self):
        self.api("GET", "/api/score-sheets/", "/api/score-sheets/")


class Signatory(KelisimUser):
    role = "signatory"
    weight = 6

    @task(3)
    def approvals(self):
        self.page("/approvals/")

    @task(1)
    def api_approvals(self):
        self.api("GET", "/api/approvals/", "/api/approvals/")

    @task(2)
    def download_signed(self):
        if self.account["versions"]:
            self.download(random.choice(self.account["versions"]))

    @task(2)
    def case(self):
        self.case_page(self.account["cases"])


class Auditor(KelisimUser):
    role = "auditor"
    weight = 8

    @task(3)
    def search_case(self):
        self.page(f"/audit/?case={random.choice(self.account['chains'])}", name="/audit/?case=")

    @task(1)
    def search_actor(self):
        self.page(f"/audit/?actor={random.choice(['coordinator', 'expert1', 'signatory1', 'load-coordinator'])}",
                  name="/audit/?actor=")

    @task(1)
    def search_transition(self):
        self.page(f"/audit/?transition={random.choice(['submit', 'accept', 'approve', 'suspend'])}",
                  name="/audit/?transition=")

    @task(2)
    def api_history(self):
        self.api("GET", f"/api/audit-entries/?chain={random.choice(self.account['chains'])}", "/api/audit-entries/?chain=")

    @task(1)
    def case(self):
        self.case_page(self.account["cases"])
