"""The scale check's deep work page (``bench.scale.deep_work_url``): the URL the bench times is
the page its "Next" links reach, with the rows of that page in the list's order."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from bench.scale import deep_work_url
from processes.portal.roles.common import PER_PAGE
from processes.portal.roles.coordinator import work_list
from processes.rounds import loadgen

pytestmark = pytest.mark.django_db

FILED = [m for m in loadgen.MIX if m[1] == "submitted"]


def test_the_deep_page_is_the_cursor_page_of_its_number(client):
    loadgen.generate(cases=400, audit_entries=800, round_code="LOAD-BD", mix=FILED)
    user = get_user_model().objects.get(username=loadgen.COORDINATOR)
    url, number = deep_work_url(user, share=0.7)
    work = work_list(user=user, filters={})
    assert number == int(work._firsts().count() * 0.7) // PER_PAGE + 1 >= 3
    assert "?cursor=" in url
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["page"].number == number
    assert [line["case"].ref for line in response.context["lines"]] == [
        c.ref for c in work[(number - 1) * PER_PAGE:number * PER_PAGE]]


def test_with_few_cases_the_deep_page_is_the_first(client):
    loadgen.generate(cases=12, audit_entries=24, round_code="LOAD-BS", mix=FILED)
    url, number = deep_work_url(get_user_model().objects.get(username=loadgen.COORDINATOR))
    assert (url, number) == ("/work/", 1)
