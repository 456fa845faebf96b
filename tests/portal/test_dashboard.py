"""The round dashboard: funnel, working days per stage, overdue work; access; query count."""

from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from processes.portal import dashboard
from processes.rounds.models import Case, Round
from workflow import calendar
from workflow.models import AuditEntry, Deadline

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture(scope="module")
def users(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("create_demo_users", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def login(client, username):
    client.force_login(get_user_model().objects.get(username=username))
    return client


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ALMATY)


# -- the figures -------------------------------------------------------------------------------

def test_visits_follow_the_entries_of_each_case():
    rows = [("R/A", at(2017, 3, 17, 10), "", "submission"),
            ("R/A", at(2017, 3, 24, 10), "submission", "selection"),
            ("R/A", at(2017, 3, 27, 9), "", ""),  # a document or comment entry: no state change
            ("R/B", at(2017, 3, 20, 9), "", "submission")]
    visits = dashboard.visits_from_entries(rows)
    assert sorted((v.case, v.state, v.start, v.end) for v in visits) == [
        ("R/A", "selection", at(2017, 3, 24, 10), None),
        ("R/A", "submission", at(2017, 3, 17, 10), at(2017, 3, 24, 10)),
        ("R/B", "submission", at(2017, 3, 20, 9), None)]


def test_time_in_stage_counts_working_days_of_kazakhstan():
    # From Friday 17 March 2017 to Friday 24 March 2017: the working Saturday 18 March (2017
    # transfer decree) and Friday 24 March; 20 March was the transferred day off, 21-23 Nauryz
    # (workflow/calendar.py, add_working_days).
    visits = [dashboard.Visit("R/A", "submission", at(2017, 3, 17, 10), at(2017, 3, 24, 10)),
              dashboard.Visit("R/B", "submission", at(2017, 3, 17, 10), at(2017, 3, 17, 18)),
              dashboard.Visit("R/B", "selection", at(2017, 3, 17, 18), None)]
    now = at(2017, 3, 27, 12)
    times = {t.state: t for t in dashboard.time_in_stages(visits, now=now, tz="Asia/Almaty")}
    spent = calendar.working_days_between(dt.date(2017, 3, 17), dt.date(2017, 3, 24))
    assert spent == calendar.working_days_between(dt.date(2017, 3, 17), calendar.add_working_days(dt.date(2017, 3, 17), 2))
    assert (times["submission"].stays, times["submission"].longest) == (2, spent)
    assert times["submission"].mean == round(spent / 2, 1)
    assert times["selection"].longest == calendar.working_days_between(dt.date(2017, 3, 17), dt.date(2017, 3, 27))
    assert times["closed"].stays == 0 and times["closed"].mean == 0
    assert [t.state for t in dashboard.time_in_stages(visits, now=now, tz="Asia/Almaty")] == [
        str(s) for s in dashboard.FUNNEL_STAGES]


def test_working_days_use_the_local_date():
    # 20:00 UTC on Friday 17 March 2017 is already Saturday 18 March in Almaty (UTC+6 then)
    start = dt.datetime(2017, 3, 17, 20, tzinfo=dt.timezone.utc)
    end = dt.datetime(2017, 3, 18, 10, tzinfo=ALMATY)
    assert dashboard.working_days(start, end, "Asia/Almaty") == 0
    assert dashboard.working_days(start, end, "UTC") == calendar.working_days_between(
        dt.date(2017, 3, 17), dt.date(2017, 3, 18))


def test_bar_chart_geometry():
    chart = dashboard.bar_chart([("a", 4), ("b", 2), ("c", 0)])
    widths = [b["width"] for b in chart["bars"]]
    plot = dashboard.CHART_WIDTH - dashboard.LABEL_WIDTH - dashboard.VALUE_WIDTH
    assert widths == [plot, plot / 2, 0]
    assert [b["y"] for b in chart["bars"]] == [0, dashboard.BAR_HEIGHT + dashboard.BAR_GAP,
                                               2 * (dashboard.BAR_HEIGHT + dashboard.BAR_GAP)]
    assert dashboard.bar_chart([("a", 0)])["bars"][0]["width"] == 0
    assert dashboard.bar_chart([])["bars"] == []


# -- the page ------------------------------------------------------------------------------------

def test_the_dashboard_of_the_sample_round(users, client):
    rnd = Round.objects.get(code="TC-2017")
    response = login(client, "coordinator").get(reverse("portal:round-dashboard", args=[rnd.code]))
    assert response.status_code == 200
    stats = response.context["stats"]
    refs = list(Case.objects.filter(round=rnd).values_list("ref", flat=True))
    assert stats["cases"] == len(refs)
    funnel = {state: n for state, _label, n in stats["funnel"]}
    for state in dashboard.FUNNEL_STAGES:
        reached = (AuditEntry.objects.filter(chain__in=refs, object_type="rounds.case", to_state=state)
                   .values("chain").distinct().count())
        assert funnel[str(state)] == reached, state
    assert funnel["submission"] == len(refs)
    html = response.content.decode()
    assert html.count('role="img"') == 3 and html.count('class="chart-table"') == 3
    for figure in html.split("<svg")[1:]:  # each chart is well-formed SVG with a title and a description
        root = ET.fromstring("<svg" + figure.split("</svg>")[0] + "</svg>")
        assert root.find("{http://www.w3.org/2000/svg}title").text
        assert root.find("{http://www.w3.org/2000/svg}desc").text


def test_overdue_deadlines_are_counted_by_the_stage_of_their_case(users, client):
    rnd = Round.objects.get(code="TC-2017")
    a1 = Case.objects.get(ref="TC-2017/A1")
    before = {s: n for s, _l, n in dashboard.round_statistics(rnd)["overdue"]}
    now = timezone.now()
    Deadline.objects.create(chain=a1.ref, label="late", due_at=now - dt.timedelta(days=3))
    Deadline.objects.create(chain=a1.ref, label="later", due_at=now - dt.timedelta(hours=1))
    Deadline.objects.create(chain=a1.ref, label="not yet", due_at=now + dt.timedelta(days=3))
    Deadline.objects.create(chain=a1.ref, label="closed", due_at=now - dt.timedelta(days=3), closed_at=now)
    Deadline.objects.create(chain="OTHER/X1", label="another round", due_at=now - dt.timedelta(days=3))
    after = {s: n for s, _l, n in dashboard.round_statistics(rnd)["overdue"]}
    assert after[a1.state] == before[a1.state] + 2
    assert {s: n for s, n in after.items() if s != a1.state} == {s: n for s, n in before.items() if s != a1.state}


def test_the_dashboard_costs_a_constant_number_of_queries(users, client, django_assert_max_num_queries):
    from processes.submission.services import create_application
    from workflow.transitions import perform

    rnd = Round.objects.get(code="TC-2017")
    url = reverse("portal:round-dashboard", args=[rnd.code])
    login(client, "auditor")
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    coordinator = get_user_model().objects.get(username="coordinator")
    for i in range(10):  # ten more cases with their entries and deadlines
        application = create_application(round=rnd, values={"ref": f"M{i}", "name_en": f"More {i}"}, actor=coordinator)
        perform(application.case, "withdraw", actor=coordinator, comment="more entries")
        Deadline.objects.create(chain=application.case.ref, label="late", due_at=timezone.now() - dt.timedelta(days=1))
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(large) == len(small)
    with django_assert_max_num_queries(10):
        client.get(url)


@pytest.mark.parametrize(("username", "status"), [("coordinator", 200), ("partner", 200), ("auditor", 200),
                                                  ("admin", 200), ("expert1", 403), ("signatory1", 403),
                                                  ("applicant-a1", 403)])
def test_who_sees_the_dashboard(users, client, username, status):
    assert login(client, username).get(reverse("portal:round-dashboard", args=["TC-2017"])).status_code == status


def test_an_unknown_round_is_404(users, client):
    assert login(client, "coordinator").get(reverse("portal:round-dashboard", args=["NO-SUCH"])).status_code == 404
