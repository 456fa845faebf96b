"""Fixtures and helpers shared by the role-page tests (``tests/portal/test_roles_*.py``).

The data is the session's run of the 2017 sample cycle plus the demo users
(``create_demo_users``), created once per module inside a transaction rolled back at its end;
each test runs in its own savepoint on top of it.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from processes.rounds.models import Case, Round


@pytest.fixture(scope="module")
def people(django_db_setup, django_db_blocker):
    """The demo users (``coordinator``, ``expert1``, ``signatory1``, ``auditor``, ...) by username."""
    fast_hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast_hashers), transaction.atomic():
        call_command("create_demo_users", stdout=io.StringIO())
        yield {u.username: u for u in get_user_model().objects.all()}
        transaction.set_rollback(True)


def user(username: str):
    return get_user_model().objects.get(username=username)


def case(number: str) -> Case:
    return Case.objects.get(ref=f"TC-2017/{number}")


def as_user(client, username: str):
    """``client`` logged in as ``username``, pages in English."""
    client.force_login(user(username))
    client.cookies["django_language"] = "en"
    return client


def open_round(code: str = "T-OPEN") -> Round:
    """A new round open for applications (with the 2017 round's criteria copied)."""
    from workflow.transitions import perform

    sample = Round.objects.get(code="TC-2017")
    rnd = Round.objects.create(code=code, title_en="Test round", title_ru="Тестовый раунд", max_selected=2,
                               pass_mark=60, language="ru", excluded_sectors=["oil and gas"])
    for criterion in sample.criteria.all():
        rnd.criteria.create(code=criterion.code, title_en=criterion.title_en, title_ru=criterion.title_ru,
                            weight=criterion.weight, position=criterion.position)
    return perform(rnd, "open_applications", actor=user("coordinator"))


#: Values of a complete application (every field ``submit`` needs).
COMPLETE = {"name_en": "Test cluster", "name_ru": "Тестовый кластер", "region": "Almaty", "city": "Almaty",
            "sector": "food processing", "anchor_enterprises": "3", "smes": "40", "employees": "1200",
            "export_share_pct": "12.5", "research_partners": "2"}
