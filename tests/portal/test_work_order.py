"""The coordinator's work list pages in the database (``roles.coordinator.WorkList``, issue 7)
and keeps the page's order: overdue first, then by the nearest open due date, then the cases
without an open deadline; ties by round code, number and id.

Every page is compared with the order computed in Python from that definition, over cases of
two rounds whose codes sort the other way round from their ids, with several open deadlines on
one chain, closed deadlines that must not count, equal due dates across rounds and cases
without any deadline.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.paginator import Paginator
from django.urls import reverse
from django.utils import timezone

from processes.portal.roles.common import PER_PAGE
from processes.portal.roles.coordinator import work_list
from processes.rounds import loadgen
from processes.rounds.actors import ensure_user
from processes.rounds.models import Case
from workflow.models import Deadline

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def deadline(case: Case, days: float, *, closed: bool = False) -> Deadline:
    return Deadline.objects.create(chain=case.ref, label="Test", due_at=NOW + dt.timedelta(days=days),
                                   role="coordinator", closed_at=NOW if closed else None)


@pytest.fixture(params=["walk", "annotate", "sparse"])
def strategy(request, monkeypatch):
    """Every way of reading a page: walking the deadlines (``FEW`` = 0, ``DEEP`` = 3 so that the
    deep-page count is used too), sorting the filtered cases whole (``FEW`` above any size), or
    (filtered lists) sorting whole only the filtered cases with a deadline (``SPARSE``)."""
    from processes.portal.roles.coordinator import WorkList

    if request.param in ("walk", "sparse"):
        monkeypatch.setattr(WorkList, "FEW", 0)
        monkeypatch.setattr(WorkList, "DEEP", 3)
        monkeypatch.setattr(WorkList, "SPARSE", 10**9 if request.param == "sparse" else -1)
    else:
        monkeypatch.setattr(WorkList, "FEW", 10**9)
    return request.param


@pytest.fixture
def cases(strategy):
    """Two rounds (``LOAD-Z`` made first, so lower ids, but sorting after ``LOAD-A``) of 40
    cases each, with deadlines added on top of the generated ones."""
    loadgen.generate(cases=40, audit_entries=80, round_code="LOAD-Z")
    loadgen.generate(cases=40, audit_entries=80, round_code="LOAD-A")
    z = list(Case.objects.filter(round__code="LOAD-Z").order_by("pk"))
    a = list(Case.objects.filter(round__code="LOAD-A").order_by("pk"))
    same = NOW - dt.timedelta(days=2)
    for case in (z[0], z[1], a[0], a[1]):  # one due time shared across both rounds (overdue)
        Deadline.objects.create(chain=case.ref, label="Same", due_at=same, role="coordinator")
    deadline(z[2], -5, closed=True)  # closed: not overdue because of it
    deadline(z[2], 9)
    deadline(z[2], 4)  # its nearest open one
    deadline(a[2], -1)
    deadline(a[2], -8)  # its nearest (and overdue)
    deadline(a[3], -30, closed=True)
    return z + a


def expected(now, *, overdue_only=False, round_code=None) -> list[tuple[str, bool]]:
    """``(ref, overdue)`` of the visible cases in the page order at ``now``, from the definition."""
    rows = []
    for case in Case.objects.select_related("round"):
        if round_code and case.round.code != round_code:
            continue
        due = [d.due_at for d in Deadline.objects.filter(chain=case.ref, closed_at__isnull=True)]
        nearest = min(due) if due else None
        late = nearest is not None and nearest < now
        if overdue_only and not late:
            continue
        rows.append(((nearest is None, nearest or now, case.round.code, case.number, case.pk), case.ref, late))
    rows.sort(key=lambda row: row[0])
    return [(ref, late) for _key, ref, late in rows]


def listed(work, per_page: int) -> list[tuple[str, bool]]:
    paginator = Paginator(work, per_page)
    out = []
    for number in paginator.page_range:
        page = paginator.page(number)
        assert len(page.object_list) == (per_page if number < paginator.num_pages
                                         else paginator.count - (number - 1) * per_page)
        out += [(case.ref, case.overdue) for case in page.object_list]
    return out


def coordinator():
    return ensure_user(loadgen.COORDINATOR, "coordinator")


@pytest.mark.parametrize("per_page", [1, 7, 50])
def test_every_page_follows_the_order_of_the_definition(cases, per_page):
    work = work_list(user=coordinator(), filters={})
    want = expected(work.now)
    assert work.count() == len(want) == Case.objects.count()
    got = listed(work, per_page)
    assert got == want
    assert sum(late for _ref, late in got) >= 5  # the shared due time (4) and a[2]
    assert any(not late for _ref, late in got)


def test_closed_deadlines_do_not_count_and_the_nearest_open_one_gives_the_date(cases):
    z2, a2, a3 = cases[2], cases[42], cases[43]
    work = work_list(user=coordinator(), filters={})
    rows = {c.ref: c for c in work[0:work.count()]}
    assert rows[z2.ref].overdue is False
    assert rows[z2.ref].next_due == Deadline.objects.get(chain=z2.ref, closed_at__isnull=True,
                                                         due_at__lt=NOW + dt.timedelta(days=5)).due_at
    assert rows[a2.ref].overdue is True
    assert rows[a2.ref].next_due < NOW - dt.timedelta(days=7)
    assert rows[a3.ref].overdue is False


def test_the_overdue_filter_pages_only_overdue_cases(cases):
    work = work_list(user=coordinator(), filters={"overdue": True})
    want = expected(work.now, overdue_only=True)
    assert work.count() == len(want) > 0
    assert listed(work, 2) == want
    assert all(late for _ref, late in want)


def test_a_round_filter_keeps_the_order(cases, strategy):
    work = work_list(user=coordinator(), filters={"round": "LOAD-A"})
    assert work.strategy == strategy
    want = expected(work.now, round_code="LOAD-A")
    assert listed(work, 6) == want
    assert {ref.split("/")[0] for ref, _late in want} == {"LOAD-A"}


def test_a_round_filter_with_overdue_keeps_the_order(cases, strategy):
    work = work_list(user=coordinator(), filters={"round": "LOAD-Z", "overdue": True})
    assert work.strategy == strategy
    want = expected(work.now, round_code="LOAD-Z", overdue_only=True)
    assert work.count() == len(want) > 0
    assert listed(work, 4) == want


def test_slices_are_plain_and_bounded(cases):
    work = work_list(user=coordinator(), filters={})
    assert work[5:5] == []
    assert [c.ref for c in work[3:9]] == [ref for ref, _late in expected(work.now)[3:9]]
    assert work[work.count():work.count() + 10] == []
    with pytest.raises(TypeError):
        work[3]
    with pytest.raises(TypeError):
        work[0:10:2]


def test_the_pages_of_the_view_continue_each_other(cases, client):
    client.force_login(coordinator())
    url = reverse("portal:coordinator")
    refs = []
    pages = -(-Case.objects.count() // PER_PAGE)
    assert pages >= 2
    for number in range(1, pages + 1):
        response = client.get(url, {"page": number})
        assert response.status_code == 200
        refs += [line["case"].ref for line in response.context["lines"]]
    # the order does not depend on the clock (only the overdue marks do)
    assert refs == [ref for ref, _late in expected(timezone.now())]


# -- keyset ("seek") paging: the links of the page (``?cursor=``) ---------------------------------

def by_cursor(work, per_page: int) -> list[tuple[str, bool]]:
    """Every page read forwards through its ``next`` cursors (checking the page numbers)."""
    from processes.portal.roles.coordinator import Cursor

    out, cursor, number = [], None, 1
    while True:
        page = work.seek_page(cursor, per_page)
        assert page.number == number
        assert len(page.object_list) == (per_page if page.has_next else work.count() - (number - 1) * per_page)
        out += [(case.ref, case.overdue) for case in page.object_list]
        if not page.has_next:
            assert page.number == page.num_pages and not page.last_cursor
            return out
        cursor, number = Cursor.decode(page.next_cursor), number + 1


def by_cursor_backwards(work, per_page: int) -> list[tuple[str, bool]]:
    """Every page read from the last one backwards through its ``previous`` cursors."""
    from processes.portal.roles.coordinator import Cursor

    pages, cursor = [], Cursor(Cursor.LAST, 1)
    while True:
        page = work.seek_page(cursor, per_page)
        pages.insert(0, [(case.ref, case.overdue) for case in page.object_list])
        if not page.has_previous:
            assert page.number == 1
            return [row for rows in pages for row in rows]
        assert len(page.object_list) == per_page or not page.has_next
        cursor = Cursor.decode(page.previous_cursor)


@pytest.mark.parametrize("per_page", [1, 7, 50])
def test_pages_by_cursor_follow_the_definition_both_ways(cases, per_page):
    work = work_list(user=coordinator(), filters={})
    want = expected(work.now)
    assert by_cursor(work, per_page) == want
    # backwards the first page is full (the pages are aligned on the last one): same rows
    assert by_cursor_backwards(work, per_page) == want


@pytest.mark.parametrize("filters", [{"overdue": True}, {"round": "LOAD-A"}, {"round": "LOAD-Z", "overdue": True},
                                     {"q": "LOAD-Z/A1"}, {"state": "selection"}, {"state": "not_selected"}])
def test_filtered_pages_by_cursor_follow_the_definition(cases, strategy, filters):
    work = work_list(user=coordinator(), filters=filters)
    states = dict(Case.objects.values_list("ref", "state"))
    want = [row for row in expected(work.now, overdue_only=bool(filters.get("overdue")),
                                    round_code=filters.get("round"))
            if filters.get("q", "") in row[0] and filters.get("state", states[row[0]]) == states[row[0]]]
    assert want and work.count() == len(want)
    if set(filters) - {"overdue"}:
        assert work.strategy == strategy
    assert listed(work, 4) == want
    assert by_cursor(work, 4) == want
    assert by_cursor_backwards(work, 4) == want


def test_a_cursor_keeps_its_place_when_cases_come_before_it(cases):
    """Offsets shift when a case joins the list before the page; a cursor does not: the next
    page starts after the last case shown, whatever was added before it."""
    from processes.portal.roles.coordinator import Cursor

    work = work_list(user=coordinator(), filters={})
    first = work.seek_page(None, 10)
    shown = [c.ref for c in first.object_list]
    # the last case of the list gets a deadline due before every other: it moves to the top
    moved = expected(work.now)[-1][0]
    earliest = Deadline.objects.filter(closed_at__isnull=True).order_by("due_at").first().due_at
    Deadline.objects.create(chain=moved, label="Urgent", due_at=earliest - dt.timedelta(days=1), role="coordinator")
    again = work_list(user=coordinator(), filters={})
    second = again.seek_page(Cursor.decode(first.next_cursor), 10)
    want = [ref for ref, _late in expected(again.now)]
    after = want[want.index(shown[-1]) + 1:][:10]
    assert [c.ref for c in second.object_list] == after
    assert want[0] == moved and moved not in after and not set(shown) & set(after)
    # by number, the second page would now repeat the first page's last case
    assert [c.ref for c in again[10:20]][0] == shown[-1]


def test_the_links_of_the_view_walk_every_page_and_back(cases, client):
    import re

    client.force_login(coordinator())
    url = reverse("portal:coordinator")

    def link(html, name):
        found = re.search(rf'href="\?([^"]*)" id="work-{name}"', html)
        return url + "?" + found.group(1).replace("&amp;", "&") if found else None

    refs, numbers, html, page_url = [], [], "", url + "?q=LOAD-"
    while page_url:
        response = client.get(page_url)
        assert response.status_code == 200
        html = response.content.decode()
        refs += [line["case"].ref for line in response.context["lines"]]
        numbers.append(response.context["page"].number)
        assert "q=LOAD-" in (link(html, "next") or link(html, "previous"))  # the filters stay
        page_url = link(html, "next")
    assert refs == [ref for ref, _late in expected(timezone.now()) if ref.startswith("LOAD-")]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == -(-80 // PER_PAGE) >= 2
    back, page_url = [], link(html, "previous")
    while page_url:
        response = client.get(page_url)
        back = [line["case"].ref for line in response.context["lines"]] + back
        page_url = link(response.content.decode(), "previous")
    assert back == refs[:len(back)] and len(back) == PER_PAGE


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "abc", "!!!", "x" * 401, _b64("not json"), _b64("{}"), _b64('["n"]'), _b64('["x",2,null,"R","A1",1]'),
    _b64('["n",0,null,"R","A1",1]'), _b64('["n",true,null,"R","A1",1]'), _b64('["n",2,null,"R","A1",-1]'),
    _b64('["n",2,null,"R","A1",1.5]'), _b64('["n",2,null,"R","A1",99999999999999999999]'),
    _b64('["n",2,"2026-01-01T10:00:00","R","A1",1]'), _b64('["n",2,"yesterday","R","A1",1]'),
    _b64('["n",2,null,"","A1",1]'), _b64('["n",2,null,"R","A\\u0000",1]'), _b64('["n",2,null,"R",7,1]'),
    _b64('["l",2,null]'), _b64('["n",2,null,"R","A1",1,9]'), "%ff%fe", _b64('["n",2,null,"R","' + "9" * 30 + '",1]'),
    # dates at the ends of the calendar (a 500 "date value out of range" in the database before)
    _b64('["n",2,"9999-12-31T23:59:59-14:00","TC-2017","A1",1]'), _b64('["p",2,"0001-01-01T00:00:00+14:00","R","A1",1]'),
    _b64('["n",2,"1899-12-31T23:00:00+00:00","R","A1",1]'),
])
def test_a_bad_cursor_is_400_with_the_first_page(cases, client, cursor):
    client.force_login(coordinator())
    before = (Case.objects.count(), Deadline.objects.count())
    response = client.get(reverse("portal:coordinator"), {"cursor": cursor})
    assert response.status_code == 400
    assert "link to this page is damaged" in response.content.decode()
    first = [ref for ref, _late in expected(timezone.now())][:PER_PAGE]
    assert [line["case"].ref for line in response.context["lines"]] == first
    assert (Case.objects.count(), Deadline.objects.count()) == before


def test_a_cursor_past_the_end_or_of_a_gone_case_is_an_ordinary_page(cases, client):
    """A well-formed cursor always names a place in the order, even if its case is gone: the
    page after the last case is empty (200), one of an unknown case continues from its key."""
    from processes.portal.roles.coordinator import Cursor, CursorKey

    client.force_login(coordinator())
    url = reverse("portal:coordinator")
    end = Cursor(Cursor.NEXT, 99, CursorKey(None, "ZZZZ", "A999", 2**62)).encode()
    response = client.get(url, {"cursor": end})
    assert response.status_code == 200 and response.context["lines"] == []
    assert 'id="work-next"' not in response.content.decode()
    page = response.context["page"]
    assert page.number == page.num_pages  # "page 99 of 3" is not shown: the number is the last page's at most
    want = [ref for ref, _late in expected(timezone.now())]
    between = Cursor(Cursor.NEXT, 2, CursorKey(None, "LOAD-A", "A15x", 2**62)).encode()  # no such case
    response = client.get(url, {"cursor": between})
    assert response.status_code == 200
    refs = [line["case"].ref for line in response.context["lines"]]
    open_chains = set(Deadline.objects.filter(closed_at__isnull=True).values_list("chain", flat=True))
    assert refs == [ref for ref in want if ref not in open_chains
                    and tuple(ref.split("/")) > ("LOAD-A", "A15x")][:PER_PAGE] != []
