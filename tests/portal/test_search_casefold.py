"""Case-insensitive search in any alphabet on SQLite, as on PostgreSQL (finding F17,
operations/sqlite.py): the API's ``?search=``, the work page's ``q`` and the ``i*`` lookups."""

from __future__ import annotations

import pytest
from django.urls import reverse

from processes.rounds.models import Case

from . import roles_support
from .roles_support import as_user

people = roles_support.people  # the module's fixture (demo users)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("term", ["Туристический", "туристический", "ТУРИСТИЧЕСКИЙ", "тУРИСТИЧЕСКИЙ"])
def test_cyrillic_search_ignores_case_in_the_api_and_on_the_work_page(people, client, term):
    client = as_user(client, "coordinator")
    api = client.get("/api/cases/", {"search": term, "round": "TC-2017"})
    assert api.status_code == 200
    assert sorted(row["ref"] for row in api.json()["results"]) == ["TC-2017/A1", "TC-2017/A2", "TC-2017/A6"]
    work = client.get(reverse("portal:coordinator"), {"q": term}).content.decode()
    assert all(f"TC-2017/{n}<" in work for n in ("A1", "A2", "A6")) and "TC-2017/A3<" not in work


@pytest.mark.parametrize(("term", "expected"), [
    ("шымкента", {"A5"}), ("ШЫМКЕНТА", {"A5"}), ("ақмола", {"A3"}), ("АҚМОЛА", {"A3"}), ("СҮТ", {"A3"}),
    ("сүт", {"A3"}), ("ALMATY", {"A1"}), ("almaty", {"A1"})])
def test_kazakh_and_latin_search_ignores_case(people, term, expected):
    Case.objects.filter(ref="TC-2017/A3").update(name_kk="Ақмола облысының сүт кластері")
    found = set()
    for field in ("name_en", "name_ru", "name_kk"):
        found |= set(Case.objects.filter(round__code="TC-2017", **{f"{field}__icontains": term})
                     .values_list("number", flat=True))
    assert found == expected


def test_the_other_case_insensitive_lookups_ignore_case_too(people):
    Case.objects.filter(ref="TC-2017/A3").update(name_kk="Ақмола облысының сүт кластері")
    assert list(Case.objects.filter(name_kk__iexact="АҚМОЛА ОБЛЫСЫНЫҢ СҮТ КЛАСТЕРІ").values_list("number", flat=True)) \
        == ["A3"]
    assert Case.objects.filter(name_kk__istartswith="АҚМОЛА").count() == 1
    assert Case.objects.filter(name_kk__iendswith="КЛАСТЕРІ").count() == 1
    assert Case.objects.filter(name_kk__icontains="%").count() == 0  # the pattern's wildcards stay escaped
