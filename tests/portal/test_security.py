"""Security: response headers, Content-Security-Policy, sessions, login rate limiting (django-axes).

The CSRF check of every portal POST URL is in test_authorization_matrix.py
(``test_a_post_without_csrf_token_is_refused``), next to the table of those URLs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "processes"


@pytest.fixture
def people(db):
    make = get_user_model().objects.create_user
    return make("locky", password="right-password-1"), make("other", password="other-password-1")


def login(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_security_headers_on_a_page(client, people):
    client.force_login(people[0])
    response = client.get(reverse("portal:case-list"))
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


def test_the_login_page_has_the_headers_too(client):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in response


def test_no_template_has_an_inline_script():
    """The policy allows scripts from this site only: no template may carry an inline script
    or an event handler attribute."""
    offenders = []
    for path in TEMPLATES.rglob("templates/**/*.html"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b[^>]*>", text, flags=re.I):
            if "src=" not in match.group(0):
                offenders.append(f"{path}: {match.group(0)}")
        offenders += [f"{path}: {m.group(0)}" for m in re.finditer(r"\son[a-z]+\s*=", text, flags=re.I)]
    assert offenders == []


def test_session_settings():
    assert settings.SESSION_COOKIE_AGE == 8 * 3600  # KELISIM_SESSION_HOURS, default 8
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_the_session_cookie_after_a_login(client, people):
    response = login(client, "locky", "right-password-1")
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # gone when the browser closes
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_five_bad_passwords_lock_the_account_for_that_address(people):
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    for _ in range(limit - 1):
        response = login(client, "locky", "wrong")
        assert response.status_code == 200  # the form again, with its error
    locked = login(client, "locky", "wrong")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins" in text and "15 minutes" in text and reverse("login") in text
    assert locked["Retry-After"] == str(15 * 60)
    right = login(client, "locky", "right-password-1")
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    assert "right password is refused" in right.content.decode()
    as_json = login(client, "locky", "right-password-1", HTTP_ACCEPT="application/json")
    assert as_json.status_code == 429 and as_json.json()["code"] == "login_locked_out"
    # another user from the same address, and the same user from another address, may log in
    assert login(Client(), "other", "other-password-1").status_code == 302
    elsewhere = Client(REMOTE_ADDR="10.0.0.7")
    assert login(elsewhere, "locky", "right-password-1").status_code == 302


def test_the_test_client_logs_in_when_given_a_request(people):
    from django.http import HttpRequest

    client = Client()
    assert client.login(request=HttpRequest(), username="locky", password="right-password-1")
    assert client.get(reverse("portal:case-list")).status_code == 200


def test_a_successful_login_resets_the_count(people):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "locky", "wrong")
    assert login(client, "locky", "right-password-1").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "locky", "wrong").status_code == 200


def test_the_lockout_ends_after_the_cool_off(people):
    import datetime as dt

    from axes.models import AccessAttempt

    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "locky", "wrong")
    assert login(client, "locky", "right-password-1").status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16))
    assert login(client, "locky", "right-password-1").status_code == 302
