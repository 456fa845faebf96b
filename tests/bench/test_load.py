"""The load test's parts that can be checked without running it (issue 7, item 5): the data
``bench/load/prepare.py`` writes lets every role do what the Locust users do, the statistics
are read as Locust writes them, and Locust (with gevent) stays out of Kelisim's processes.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from bench import load
from processes.rounds import loadgen

REPO = Path(__file__).resolve().parents[2]


def _prepare_module():
    spec = importlib.util.spec_from_file_location("kelisim_load_prepare", REPO / "bench" / "load" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def prepared(db):
    loadgen.generate(cases=200, audit_entries=400, round_code="LOAD-T")
    return _prepare_module().prepare("LOAD-T")


def _as(client, account):
    client.cookies["sessionid"] = account["session"]
    return client


def _api(client, account):
    return {"HTTP_AUTHORIZATION": f"Token {account['token']}", "HTTP_ACCEPT": "application/json"}


@pytest.mark.django_db
def test_every_account_is_logged_in_on_its_role_pages(client, prepared):
    pages = {"applicant": "portal:case-list", "coordinator": "portal:inbox", "expert": "portal:expert",
             "signatory": "portal:signatory", "auditor": "portal:audit"}
    for role, url in pages.items():
        accounts = prepared["roles"][role]
        assert accounts
        for account in accounts:
            client.cookies.clear()
            response = _as(client, account).get(reverse(url))
            assert response.status_code == 200, (role, account["username"])
            assert response.wsgi_request.user.get_username() == account["username"]


@pytest.mark.django_db
def test_the_work_dealt_out_can_be_done(client, prepared):
    coordinator = prepared["roles"]["coordinator"][0]
    tasks = [t for a in prepared["roles"]["coordinator"] for t in a["tasks"]]
    assert tasks and prepared["counts"]["tasks"] == len(tasks)
    assert len({task_id for task_id, _outcome in tasks}) == len(tasks)  # no task dealt twice
    for task_id, outcome in tasks[:3]:
        response = client.post(f"/api/tasks/{task_id}/complete/", {"transition": outcome, "comment": "t"},
                               content_type="application/json", **_api(client, coordinator))
        assert response.status_code == 200, response.content
    movable = [c for a in prepared["roles"]["coordinator"] for c in a["movable"]]
    assert movable
    for name in ("suspend", "resume", "suspend"):
        response = client.post(f"/api/cases/{movable[0]}/transitions/{name}/", {"comment": "t"},
                               content_type="application/json", **_api(client, coordinator))
        assert response.status_code == 200, response.content

    expert = next(a for a in prepared["roles"]["expert"] if a["sheets"])
    scores = {f"C{i}": {"value": 5} for i in range(1, 8)}
    response = client.patch(f"/api/score-sheets/{expert['sheets'][0]}/", json.dumps({"scores": scores}),
                            content_type="application/json", **_api(client, expert))
    assert response.status_code == 200, response.content

    for role in ("applicant", "signatory"):  # every version dealt out downloads (none is hidden from its user)
        assert any(a["versions"] for a in prepared["roles"][role])
        for account in prepared["roles"][role]:
            client.cookies.clear()
            _as(client, account)
            for version in account["versions"]:
                response = client.get(reverse("portal:document-download", args=[version]))
                assert response.status_code == 200, (role, account["username"], version, response.content[:300])
                assert b"".join(response.streaming_content if response.streaming else [response.content])


@pytest.mark.django_db
def test_applicants_attach_to_their_own_cases(client, prepared):
    applicant = prepared["roles"]["applicant"][0]
    assert applicant["cases"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = (REPO / "bench" / "load" / "letter.pdf").read_bytes()  # what the Locust applicants attach
    response = client.post(f"/api/cases/{applicant['cases'][0]}/attachments/",
                           {"file": SimpleUploadedFile("letter.pdf", body, "application/pdf")},
                           **_api(client, applicant))
    assert response.status_code == 201, response.content
    # the same file in the body the Locust users build by hand
    form, content_type = load.multipart("file", "письмо.pdf", body, "application/pdf")
    response = client.post(f"/api/cases/{applicant['cases'][-1]}/attachments/", data=form,
                           content_type=content_type, **_api(client, applicant))
    assert response.status_code == 201, response.content
    assert response.json()["original_name"] == "письмо.pdf"


STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,/inbox/,120,0,41,45.2,20.1,310.5,51000,2.0,0.0,41,47,52,56,70,95,130,160,310,310,310
POST,/api/tasks/[id]/complete/,30,2,88,90.1,51.0,400.2,900,0.5,0.03,88,95,100,110,150,200,300,400,400,400,400
,Aggregated,150,2,45,54.2,20.1,400.2,40980,2.5,0.03,45,52,58,63,86,120,170,240,400,400,400
"""


def test_locust_statistics_become_the_load_figures(tmp_path):
    (tmp_path / "run_stats.csv").write_text(STATS)
    total, rows = load.read_stats(tmp_path / "run")
    assert [r["Name"] for r in rows] == ["/inbox/", "/api/tasks/[id]/complete/"]
    figures = load.figures_of(total, run_time=60)
    assert figures == {"load_rps": 2.5, "load_p50_ms": 45.0, "load_p95_ms": 120.0, "load_p99_ms": 240.0,
                       "load_errors": 2, "load_requests": 150}


def test_kelisim_never_imports_locust_or_gevent():
    """gevent monkey-patches the standard library when Locust starts: it must stay in the Locust
    subprocess. Importing the bench (and Django with every app) loads neither."""
    code = ("import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'settings.settings'; import django; "
            "django.setup(); import bench.load, bench.scale, api.urls, settings.urls; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust')); "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_locustfile_declares_the_role_mix():
    result = subprocess.run([sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "load" / "locustfile.py"),
                             "--list"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    listed = set(result.stdout.split())
    assert {"Applicant", "Coordinator", "Expert", "Signatory", "Auditor"} <= listed


ACCESS_LOG = """2026-11-29 19:00:01,000 INFO kelisim.request [a1] GET /cases/12/ 200 50.5ms cpu 20.1ms
2026-11-29 19:00:01,100 INFO kelisim.other [a1] something else 99.0ms cpu 99.0ms
2026-11-29 19:00:02,000 INFO kelisim.request [a2] GET /cases/13/ 200 150.0ms cpu 30.0ms
2026-11-29 19:00:03,000 INFO kelisim.request [a3] POST /api/cases/13/attachments/ 201 300.0ms cpu 60.0ms
"""


def test_the_access_log_gives_the_cost_of_each_kind_of_request():
    costs = load.request_costs(ACCESS_LOG)
    assert [(c["name"], c["count"]) for c in costs] == [("POST /api/cases/[id]/attachments/", 1), ("GET /cases/[id]/", 2)]
    case_page = costs[1]
    assert (case_page["wall_p50"], case_page["wall_p99"], case_page["cpu_p50"], case_page["cpu_p95"]) == (50.5, 150.0, 20.1, 30.0)
    assert load.server_figures(ACCESS_LOG) == {"load_server_p99_ms": 300.0, "load_cpu_p50_ms": 30.0, "load_cpu_p95_ms": 60.0}
    assert load.server_figures("no request lines") == {}
