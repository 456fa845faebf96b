"""schemathesis against the API's own OpenAPI schema: no input gives a server error.

The schema is loaded from the application (``/api/schema/?format=json`` through WSGI, no
server), and every operation gets generated requests (valid data; data the schema says is
invalid: wrong types, out-of-range ids, bad filters and bodies; and, for operations on one
object, valid data sent to a real object of case A1, so that the bodies reach it) as
an authenticated coordinator (who may do the most) and as an applicant (who sees least),
with a token header. Each response must not be a 5xx (``not_a_server_error``) and must
conform to the schema where that is cheap to check: its status code is documented, its
content type and (for JSON) its body match the schema.

Examples per operation and phase: ``KELISIM_SCHEMATHESIS_EXAMPLES`` (default 10),
derandomized so that a run is reproducible. Every request's changes are rolled back with
its test. schemathesis' own pytest plugin (``schema.parametrize``) does not run under
pytest 9, so the operations are parametrized here and driven with Hypothesis' ``given``.
"""

from __future__ import annotations

import collections
import functools
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import user

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("KELISIM_SCHEMATHESIS_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Negative cases send what the schema forbids, so only "no server error" is asked of them.
NEGATIVE_CHECKS = [not_a_server_error]
ROLES = ("coordinator", "applicant-a1")
#: Status codes answered in this module's run, counted (tests/api/conftest.py reports them).
STATUSES: collections.Counter = collections.Counter()


def operation_labels() -> list[str]:
    """``METHOD /path`` of every operation of the schema (computed without a request)."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [f"{method.upper()} {path}" for path, item in paths.items() for method in item
            if method in ("get", "post", "put", "patch", "delete")]


@functools.cache
def _load():
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def api_schema(world, db):
    """The schema, with the application called in this test's transaction: like Django's test
    client, keep the WSGI handler from closing the database connection after each request
    (``close_old_connections``; on PostgreSQL that would end the test's transaction)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield _load()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def token_header(username: str) -> dict:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user(username))
    return {"Authorization": f"Token {token.key}"}


def real_id(path: str) -> int | None:
    """The id of an existing object for ``{id}`` in ``path`` (of case A1 where it matters), so
    that generated queries and bodies reach an object instead of a 404."""
    from documents.models import DocumentVersion
    from processes.rounds.models import Case
    from processes.selection.models import ScoreSheet
    from workflow import tasks as human_tasks
    from workflow.approvals.models import Decision
    from workflow.models import AuditEntry

    a1 = Case.objects.get(ref="TC-2017/A1")
    version = DocumentVersion.objects.filter(document__owner_ref=a1.ref).order_by("pk").first()
    finders = {
        "/api/cases/": lambda: a1.pk,
        "/api/applications/": lambda: a1.application.pk,
        "/api/score-sheets/": lambda: ScoreSheet.objects.filter(application__case=a1).order_by("pk").first().pk,
        "/api/documents/": lambda: version.document_id,
        "/api/versions/": lambda: version.pk,
        "/api/tasks/": lambda: getattr(human_tasks.inbox(user("coordinator")).order_by("pk").first(), "pk", None),
        "/api/approvals/": lambda: Decision.objects.order_by("pk").values_list("pk", flat=True).first(),
        "/api/audit-entries/": lambda: AuditEntry.objects.filter(chain=a1.ref).order_by("seq").first().pk,
    }
    for prefix, find in finders.items():
        if path.startswith(prefix):
            return find()
    return None


def run(operation, mode: GenerationMode, headers: dict, checks, **fixed) -> int:
    """Run ``operation`` with ``EXAMPLES`` generated cases of ``mode`` (``fixed``: path
    parameters not to generate); return the calls made."""
    calls = []

    @given(operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(headers=headers)
        calls.append(response.status_code)
        STATUSES[response.status_code] += 1
        case.validate_response(response, checks=checks)

    check()
    return len(calls)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", operation_labels())
def test_no_server_error_and_conformance(api_schema, label, role):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    headers = token_header(role)
    made = run(operation, GenerationMode.POSITIVE, headers, CHECKS)
    made += run(operation, GenerationMode.NEGATIVE, headers, NEGATIVE_CHECKS)
    if "{id}" in operation.path and (pk := real_id(operation.path)) is not None:
        made += run(operation, GenerationMode.POSITIVE, headers, CHECKS, id=pk)
    assert made > 0
    assert not any(code >= 500 for code in STATUSES)


def test_the_schema_covers_every_api_url():
    """Every API route is an operation of the schema (so the run above reaches it)."""
    from tests.portal.test_authorization_matrix import url_patterns

    routes = {route for name, route in url_patterns() if name and name.startswith("api:")
              and name not in ("api:schema", "api:docs")}
    assert len(operation_labels()) >= len(routes) >= 15
