"""Fixtures of the API tests: the demo users on top of the 2017 cycle, and API clients.

``world`` (module scope) creates the demo users (``create_demo_users``) inside a transaction
that is rolled back when the module ends; every test then runs in its own savepoint.
``api(role)`` is a DRF test client logged in (session) as that demo user; ``token_client``
authenticates with a real token header.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from processes.rounds.models import Case


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    fast_hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast_hashers), transaction.atomic():
        call_command("create_demo_users", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def user(username: str):
    return get_user_model().objects.get(username=username)


def case(number: str) -> Case:
    return Case.objects.get(ref=f"TC-2017/{number}")


@pytest.fixture
def api(world, db):
    """``api(role)``: an APIClient with a session of that demo user (``None``: anonymous)."""

    def make(username: str | None = None) -> APIClient:
        client = APIClient()
        if username is not None:
            client.force_login(user(username))
        return client

    return make


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is an error in the API's shape (``code``, ``message``, ``details``)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    if code is not None:
        assert body["code"] == code, body
    return body


def pytest_terminal_summary(terminalreporter):
    """After a run of tests/api/test_schemathesis.py: how many requests it made, by status."""
    import sys

    module = sys.modules.get("tests.api.test_schemathesis")
    statuses = getattr(module, "STATUSES", None)
    if statuses:
        terminalreporter.write_line(f"schemathesis: {sum(statuses.values())} requests, status codes "
                                    f"{dict(sorted(statuses.items()))}")
