"""The scale check (issue 7, item 6): the inbox, the case page and the coordinator's work page
make the same number of queries whatever the number of tasks and the length of a history; the
load-data generator writes valid hash chains and refuses an existing round.

Counts are compared between a small and a large situation (never hard-coded).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from processes.portal import selectors
from processes.rounds import loadgen
from processes.rounds.models import Case
from workflow import audit
from workflow.audit import verify_chains
from workflow.models import AuditChain, AuditEntry

pytestmark = pytest.mark.django_db

#: Every generated case waits for its completeness check (one open task each).
FILED = [m for m in loadgen.MIX if m[1] == "submitted"]


def queries(client, url: str) -> tuple[int, str]:
    """The number of queries of one GET of ``url`` and the page's text (asserting 200).

    Counted twice, by an execute wrapper (``bench.scale.count_queries``, what the bench
    reports) and by Django's query log, which must agree."""
    from bench.scale import count_queries

    with count_queries() as counted, CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    assert counted.count == len(captured) > 0
    return counted.count, response.content.decode()


def coordinator_client(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username=loadgen.COORDINATOR))
    return client


def append_notes(case: Case, n: int) -> None:
    """``n`` more entries on ``case``'s chain through the ordinary append."""
    for i in range(n):
        audit.append_entry(chain=case.ref, actor=None, object_type="portal.casecomment", object_id=str(i),
                           object_repr=f"{case.ref} note", transition="comment_added", from_state="",
                           to_state="", comment=f"note {i}")


def test_the_generator_writes_valid_chains_tasks_and_refuses_an_existing_round():
    result = loadgen.generate(cases=60, audit_entries=1000, round_code="LOAD-T1")
    assert result.cases == Case.objects.filter(round__code="LOAD-T1").count() == 60
    generated = AuditEntry.objects.filter(chain__startswith="LOAD-T1/").exclude(
        chain__in=[f"LOAD-T1/A{i}" for i in range(1, 10)])
    assert generated.count() == result.audit_entries == 1000
    assert result.open_tasks > 0 and result.done_tasks > 0
    chains = list(AuditChain.objects.filter(key__startswith="LOAD-T1/").values_list("key", flat=True))
    check = verify_chains(chains)
    assert check.ok, check.broken
    assert check.chains == 60
    heavy = result.heavy_refs[0]
    assert AuditChain.objects.get(key=heavy).length == max(
        AuditChain.objects.filter(key__in=chains).values_list("length", flat=True))
    with pytest.raises(loadgen.LoadDataExists):
        loadgen.generate(cases=60, audit_entries=1000, round_code="LOAD-T1")
    assert Case.objects.filter(round__code="LOAD-T1").count() == 60  # nothing more written


def test_the_command_reports_rates_verifies_and_refuses_bad_sizes_and_existing_rounds():
    out = io.StringIO()
    call_command("generate_load_data", "--cases", "20", "--audit-entries", "200", "--round", "LOAD-T2", stdout=out)
    text = out.getvalue()
    assert "round LOAD-T2: 20 cases, 200 audit entries" in text
    assert "entries/s" in text and "audit entries  [" in text
    assert "sampled chains" in text and ": OK" in text
    with pytest.raises(CommandError, match="exists already") as exists:
        call_command("generate_load_data", "--cases", "20", "--audit-entries", "200", "--round", "LOAD-T2",
                     stdout=io.StringIO())
    assert exists.value.returncode == 2
    with pytest.raises(CommandError, match="at least") as small:
        call_command("generate_load_data", "--cases", "5", "--audit-entries", "200", "--round", "LOAD-T3",
                     stdout=io.StringIO())
    assert small.value.returncode == 2
    assert not Case.objects.filter(round__code="LOAD-T3").exists()


def test_a_broken_generated_chain_is_found():
    result = loadgen.generate(cases=12, audit_entries=60, round_code="LOAD-T4")
    ref = result.heavy_refs[0]
    AuditEntry.objects.filter(chain=ref, seq=3).update(comment="edited")
    check = verify_chains([ref])
    assert not check.ok and check.broken.seq == 3


def test_the_case_page_makes_the_same_queries_for_10_and_200_entries_and_shows_a_window(client):
    loadgen.generate(cases=10, audit_entries=10, round_code="LOAD-C")
    case = Case.objects.get(ref="LOAD-C/A10")
    assert AuditChain.objects.get(key=case.ref).length == 10
    client = coordinator_client(client)
    url = reverse("portal:case-detail", args=[case.pk])
    small, html = queries(client, url)
    assert html.count('id="entry-') == 10 and 'id="history-window"' not in html
    append_notes(case, 190)
    large, html = queries(client, url)
    assert large == small
    assert html.count('id="entry-') == selectors.HISTORY_WINDOW == 100
    assert 'id="entry-200"' in html and 'id="entry-101"' in html and 'id="entry-100"' not in html
    assert "?history_to=100#history" in html  # the older window
    older, html = queries(client, url + "?history_to=100")
    assert older == small
    assert 'id="entry-1"' in html and 'id="entry-100"' in html and 'id="entry-101"' not in html
    assert "?history_to=200#history" in html  # back to the newer window
    _, html = queries(client, url + "?history_to=999999")  # past the end: the latest
    assert 'id="entry-200"' in html


def add_versions(case: Case, documents: int, versions: int) -> None:
    """``documents`` Word documents on ``case`` with ``versions`` versions each, every other
    version with a PDF rendition (done or failed)."""
    from documents.models import Document, Rendition
    from documents.render import DOCX_CONTENT_TYPE
    from documents.storage import store_version

    start = Document.objects.filter(owner_ref=case.ref).count()
    for d in range(start, start + documents):
        document = Document.objects.create(owner_ref=case.ref, stage="diagnosis", kind="note", key=f"k{d}",
                                           language="ru", title=f"Note {d}")
        for v in range(versions):
            version = store_version(document=document, content=f"v{v}".encode(), extension="docx",
                                    content_type=DOCX_CONTENT_TYPE, original_name=f"note-{d}.docx")
            if v % 2:
                Rendition.objects.create(source=version, status=Rendition.Status.DONE if v % 4 == 1
                                         else Rendition.Status.FAILED, error="x")


def test_the_case_page_makes_the_same_queries_for_2_and_40_document_versions(client, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    loadgen.generate(cases=10, audit_entries=10, round_code="LOAD-V")
    case = Case.objects.get(ref="LOAD-V/A10")
    client = coordinator_client(client)
    url = reverse("portal:case-detail", args=[case.pk])
    add_versions(case, documents=1, versions=2)
    small, html = queries(client, url)
    assert html.count("/download/") >= 2
    add_versions(case, documents=4, versions=10)
    large, html = queries(client, url)
    assert large == small
    assert html.count('<td class="num">') >= 42  # every version has its row (version and size cells)


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", "9" * 12])
def test_a_bad_history_window_is_400(client, value):
    loadgen.generate(cases=10, audit_entries=10, round_code="LOAD-B")
    case = Case.objects.get(ref="LOAD-B/A10")
    response = coordinator_client(client).get(reverse("portal:case-detail", args=[case.pk]),
                                              {"history_to": value})
    assert response.status_code == 400
    assert "history_to" in response.content.decode()


def test_the_inbox_makes_the_same_queries_for_5_and_500_tasks_and_is_paginated(client):
    loadgen.generate(cases=14, audit_entries=28, round_code="LOAD-I1", mix=FILED)
    client = coordinator_client(client)
    url = reverse("portal:inbox")
    small, html = queries(client, url)
    few = html.count('<tr id="task-')
    assert few >= 5
    loadgen.generate(cases=504, audit_entries=1008, round_code="LOAD-I2", mix=FILED)
    large, html = queries(client, url)
    assert large == small
    assert html.count('<tr id="task-') == selectors.INBOX_PER_PAGE
    assert 'id="inbox-older"' in html
    total = few + 495
    pages = -(-total // selectors.INBOX_PER_PAGE)
    last, html = queries(client, url + f"?page={pages}")
    assert last <= small  # one query per kind of object on the page: the last page has fewer kinds
    assert html.count('<tr id="task-') == total - (pages - 1) * selectors.INBOX_PER_PAGE
    assert 'id="inbox-newer"' in html


def test_the_work_page_makes_the_same_queries_for_2_and_40_cases_in_support(client):
    """(Each generated round also holds the sample's 9 applications.)"""
    support = [m for m in loadgen.MIX if m[0] == "support"]
    loadgen.generate(cases=11, audit_entries=22, round_code="LOAD-S1", mix=support)
    loadgen.generate(cases=49, audit_entries=98, round_code="LOAD-S2", mix=support)
    client = coordinator_client(client)
    small, html = queries(client, reverse("portal:coordinator") + "?round=LOAD-S1")
    assert html.count('data-testid="work-case"') == 11
    large, html = queries(client, reverse("portal:coordinator") + "?round=LOAD-S2")
    assert html.count('data-testid="work-case"') == 49
    assert large == small  # the transitions' stage checks read the prefetched support measures


def test_the_work_page_makes_the_same_queries_for_more_tasks_and_longer_histories(client):
    loadgen.generate(cases=14, audit_entries=28, round_code="LOAD-W1", mix=FILED)
    client = coordinator_client(client)
    url = reverse("portal:coordinator") + "?round=LOAD-W1"
    small, html = queries(client, url)
    assert "LOAD-W1/A10" in html
    for case in Case.objects.filter(round__code="LOAD-W1", number__in=["A10", "A11"]):
        append_notes(case, 190)
    loadgen.generate(cases=504, audit_entries=1008, round_code="LOAD-W2", mix=FILED)
    again, _ = queries(client, url)
    assert again == small
    everything, html = queries(client, reverse("portal:coordinator"))
    assert html.count("LOAD-W2/") > 0
    # a first page made only of cases with open deadlines does not read the cases without one
    # (the round's page above reaches them): one query fewer, never more
    assert everything <= small


def test_a_work_page_past_the_cases_with_deadlines_makes_the_same_queries_at_any_size(client):
    """Deep pages of the work list (past every case with an open deadline: the page counts them
    and reads the cases without one) make as many queries with 150 cases as with 750."""
    from processes.portal.roles.common import PER_PAGE
    from processes.portal.roles.coordinator import work_list
    from processes.rounds.actors import ensure_user

    # filed applications (an open check and its deadline each) and refused ones (no deadline)
    mix = FILED + [m for m in loadgen.MIX if m[0] == "refused"]
    loadgen.generate(cases=150, audit_entries=300, round_code="LOAD-D1", mix=mix)
    client = coordinator_client(client)

    def deep_page() -> tuple[int, int]:
        work = work_list(user=ensure_user(loadgen.COORDINATOR, "coordinator"), filters={})
        deep = work._firsts().count() // PER_PAGE + 2  # wholly past the cases with deadlines
        assert (deep - 1) * PER_PAGE < work.count()
        count, html = queries(client, reverse("portal:coordinator") + f"?page={deep}")
        assert html.count('data-testid="work-case"') == min(PER_PAGE, work.count() - (deep - 1) * PER_PAGE)
        assert 'data-testid="overdue"' not in html and "refused" in html
        return deep, count

    small_page, small = deep_page()
    loadgen.generate(cases=600, audit_entries=1200, round_code="LOAD-D2", mix=mix)
    large_page, large = deep_page()
    assert large_page > small_page
    assert large == small


def test_the_api_task_list_pages_in_the_database(client):
    """``GET /api/tasks/`` reads one page of the queue (a count and the page), not every open
    task: the same queries with 5 and with 500 open checks, 25 per page, the count right."""
    import json

    from django.contrib.auth import get_user_model

    from workflow import tasks as human_tasks

    loadgen.generate(cases=14, audit_entries=28, round_code="LOAD-API1", mix=FILED)
    client = coordinator_client(client)
    small, body = queries(client, "/api/tasks/")
    assert json.loads(body)["count"] >= 5
    loadgen.generate(cases=509, audit_entries=1018, round_code="LOAD-API2", mix=FILED)
    large, body = queries(client, "/api/tasks/")
    assert large == small
    page = json.loads(body)
    coordinator = get_user_model().objects.get(username=loadgen.COORDINATOR)
    assert page["count"] == human_tasks.inbox(coordinator).count() >= 500
    assert len(page["results"]) == 25 and page["next"]
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/tasks/").status_code == 200
    reads = [q["sql"] for q in captured.captured_queries
             if q["sql"].lstrip().upper().startswith("SELECT") and '"viewflow_task"."flow_task"' in q["sql"]
             and "COUNT(" not in q["sql"].upper()]
    assert reads and all("LIMIT 25" in sql for sql in reads)  # one page read, not the whole queue


def test_a_work_page_by_cursor_reads_only_its_rows_whatever_its_depth(client):
    """A page reached by its cursor (the page's "next" link) among the cases with deadlines, or
    past them, makes the same queries with 150 and with 750 cases, and none of them skips rows
    with an OFFSET: it reads the rows after the cursor's key (docs/scale.md)."""
    from processes.portal.roles.common import PER_PAGE
    from processes.portal.roles.coordinator import Cursor, CursorKey, work_list
    from processes.rounds.actors import ensure_user

    mix = FILED + [m for m in loadgen.MIX if m[0] == "refused"]
    loadgen.generate(cases=150, audit_entries=300, round_code="LOAD-K1", mix=FILED * 3 + mix)
    client = coordinator_client(client)
    url = reverse("portal:coordinator")

    def cursor_page(where: str) -> tuple[int, list[str]]:
        work = work_list(user=ensure_user(loadgen.COORDINATOR, "coordinator"), filters={})
        with_deadline = work._firsts().count()
        # the row before the page: the middle of the cases with deadlines, or past them
        offset = with_deadline - PER_PAGE - 1 if where == "deadlines" else with_deadline + 3
        assert offset > 0
        before = work[offset - 1:offset][0]
        cursor = Cursor(Cursor.NEXT, 9, CursorKey.of(before)).encode()
        with CaptureQueriesContext(connection) as captured:
            count, html = queries(client, f"{url}?cursor={cursor}")
        assert not [q["sql"] for q in captured.captured_queries if "OFFSET" in q["sql"].upper()]
        refs = [line.split('"')[0] for line in html.split('data-testid="work-case" data-ref="')[1:]]
        assert refs == [c.ref for c in work[offset:offset + PER_PAGE]]
        return count, refs

    small = {where: cursor_page(where)[0] for where in ("deadlines", "past")}
    loadgen.generate(cases=600, audit_entries=1200, round_code="LOAD-K2", mix=FILED * 3 + mix)
    large = {where: cursor_page(where)[0] for where in ("deadlines", "past")}
    assert large == small
