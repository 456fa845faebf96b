"""/health/, /ready/, /metrics, request ids, JSON logs and the metrics Kelisim counts
(operations/, docs/operations.md)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse
from prometheus_client import REGISTRY

from operations.logs import RequestIdFilter, json_formatter, request_id_from, request_id_var
from settings.storage_url import parse_storage_url

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- liveness and readiness ------------------------------------------------------------------------

def test_health_answers_without_touching_anything(client):
    response = client.get(reverse("health"))  # no django_db mark: a database query would fail the test
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert client.post(reverse("health")).status_code == 405


@pytest.mark.django_db
def test_ready_reports_each_service_with_its_latency(client):
    response = client.get(reverse("ready"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and set(body["checks"]) == {"database", "broker", "storage"}
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["latency_ms"] >= 0 and "error" not in check


@pytest.mark.django_db
def test_ready_is_503_when_a_service_fails_and_shows_no_secret(client, settings, tmp_path, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://:hunter2secret@127.0.0.1:1/0"
    settings.STORAGES = {**settings.STORAGES, "default": parse_storage_url((tmp_path / "gone").as_uri())}
    with caplog.at_level(logging.WARNING, logger="kelisim.ready"):
        response = client.get(reverse("ready"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"] == {"status": "error", "latency_ms": body["checks"]["broker"]["latency_ms"],
                                        "error": "OperationalError"}
    assert body["checks"]["storage"]["error"] == "FileNotFoundError"
    assert "hunter2secret" not in response.content.decode() and "127.0.0.1" not in response.content.decode()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "the broker at redis://127.0.0.1:1" in logged and "hunter2secret" not in logged


# -- metrics access --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_metrics_from_loopback_without_a_token(client):
    client.get(reverse("health"))
    response = client.get(reverse("metrics"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert 'kelisim_http_requests_total{method="GET",route="health",status="200"}' in response.content.decode()


@pytest.mark.parametrize("meta", [{"REMOTE_ADDR": "10.1.2.3"}, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}])
def test_metrics_refused_to_other_clients_without_a_token(client, meta):
    response = client.get(reverse("metrics"), **meta)
    assert response.status_code == 403 and b"KELISIM_METRICS_TOKEN" in response.content


def test_metrics_with_a_token_only_for_its_bearer(client, settings, admin_user):
    settings.KELISIM_METRICS_TOKEN = "t0ken-for-tests"
    url = reverse("metrics")
    assert client.get(url).status_code == 401  # even from loopback
    assert client.get(url, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.force_login(admin_user)  # a login is no token
    refused = client.get(url)
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    ok = client.get(url, HTTP_AUTHORIZATION="Bearer t0ken-for-tests", REMOTE_ADDR="10.1.2.3")
    assert ok.status_code == 200 and b"kelisim_http_requests_total" in ok.content


# -- request ids and logs --------------------------------------------------------------------------

def test_a_request_id_is_made_or_kept_and_returned(client):
    made = client.get(reverse("health"))["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get(reverse("health"), HTTP_X_REQUEST_ID="lb-1234.abc")["X-Request-ID"] == "lb-1234.abc"
    forged = client.get(reverse("health"), HTTP_X_REQUEST_ID="x\ninjected log line")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)
    assert request_id_from("a" * 129) != "a" * 129


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.django_db
def test_every_record_of_a_request_carries_its_id(client):
    handler = Collect()
    logger = logging.getLogger("kelisim.request")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client.get(reverse("login"), HTTP_X_REQUEST_ID="req-42")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [line] = handler.records
    assert line.request_id == "req-42" and line.status == 200 and line.route == "login"
    # CPU time of the handling thread: some was spent (a page rendered), never more than the wall clock
    assert 0 < line.cpu_ms <= line.duration_ms + 1
    assert line.getMessage().endswith(f"cpu {line.cpu_ms:.1f}ms")
    assert request_id_var.get() == "-"  # reset after the request


def test_json_lines_have_time_level_logger_message_and_request_id():
    record = logging.LogRecord("kelisim.test", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    token = request_id_var.set("abc")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(json_formatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "request_id")} == \
        {"level": "WARNING", "logger": "kelisim.test", "message": "hello world", "request_id": "abc"}
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])


# -- what is counted -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_committed_transition_is_counted_and_a_refused_one_is_not(sample_round, round_file,
                                                                   django_capture_on_commit_callbacks):
    from processes.rounds.actors import ensure_user
    from processes.rounds.importer import import_round
    from workflow.exceptions import TransitionNotAllowed
    from workflow.transitions import perform

    def mutate(doc):
        doc["round"]["code"] = "TC-M"

    coordinator = ensure_user("coordinator", "coordinator")
    rnd = import_round(round_file(mutate)).round
    perform(rnd, "open_applications", actor=coordinator)
    application = rnd.applications.get(ref="A1")
    labels = {"stage": "submission", "model": "application", "transition": "submit"}
    before = sample("kelisim_transitions_total", **labels)
    with django_capture_on_commit_callbacks(execute=True):
        perform(application, "submit", actor=coordinator)
    assert sample("kelisim_transitions_total", **labels) == before + 1
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(TransitionNotAllowed):
        perform(application, "submit", actor=coordinator)
    assert sample("kelisim_transitions_total", **labels) == before + 1


@pytest.mark.django_db
def test_reminders_queued_and_delivered_are_counted(django_capture_on_commit_callbacks, settings):
    import datetime as dt

    from processes.rounds.actors import ensure_user
    from workflow import calendar
    from workflow.deadlines import deliver, open_deadline, sweep

    settings.CELERY_TASK_ALWAYS_EAGER = True
    owner = ensure_user("owner-m", "expert")
    open_deadline(chain="TC-M/A1", label="Score", due_at=calendar.due_at(dt.date(2017, 3, 15), 5),
                  responsible=owner, language="en")
    queued = sample("kelisim_reminders_queued_total")
    sent = sample("kelisim_notifications_delivered_total", kind="deadline_reminder", result="sent")
    with django_capture_on_commit_callbacks(execute=False):  # the delivery task is not run here
        created = sweep(now=dt.datetime(2017, 3, 27, 9, tzinfo=dt.timezone(dt.timedelta(hours=5)))).created
    assert created == 2
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sweep(now=dt.datetime(2017, 3, 27, 10, tzinfo=dt.timezone(dt.timedelta(hours=5))))
    from workflow.deadlines import _queue_delivery

    # nothing new, nothing counted; only a delivery is queued, as e-mail is still pending
    assert callbacks == [_queue_delivery]
    with django_capture_on_commit_callbacks(execute=True):
        deliver(now=dt.datetime(2017, 3, 27, 10, tzinfo=dt.timezone.utc))
    assert sample("kelisim_notifications_delivered_total", kind="deadline_reminder", result="sent") == sent + 1
    assert sample("kelisim_reminders_queued_total") == queued  # the sweep's callback was not executed


@pytest.mark.django_db
def test_the_sweeps_count_is_added_after_commit(django_capture_on_commit_callbacks):
    import datetime as dt

    from processes.rounds.actors import ensure_user
    from workflow import calendar
    from workflow.deadlines import open_deadline, sweep

    owner = ensure_user("owner-q", "expert")
    open_deadline(chain="TC-Q/A1", label="Score", due_at=calendar.due_at(dt.date(2017, 3, 15), 5),
                  responsible=owner, language="en")
    queued = sample("kelisim_reminders_queued_total")
    with django_capture_on_commit_callbacks(execute=True), pytest.MonkeyPatch.context() as patch:
        patch.setattr("workflow.deadlines._queue_delivery", lambda: None)
        created = sweep(now=dt.datetime(2017, 3, 27, 9, tzinfo=dt.timezone(dt.timedelta(hours=5)))).created
    assert created == 2 and sample("kelisim_reminders_queued_total") == queued + 2


def test_document_renders_are_counted_and_timed(monkeypatch):
    from documents import render

    monkeypatch.setattr(render, "render_template", lambda path, context: b"docx")
    before = sample("kelisim_document_renders_total", kind="plan", language="kk")
    timed = sample("kelisim_document_render_seconds_count", kind="plan")
    monkeypatch.setattr(render, "template_path", lambda kind, language: "plan.docx")
    assert render.render_docx("plan", "kk", {}) == b"docx"
    assert sample("kelisim_document_renders_total", kind="plan", language="kk") == before + 1
    assert sample("kelisim_document_render_seconds_count", kind="plan") == timed + 1

    def broken(path, context):
        raise render.RenderError("broken template")
    monkeypatch.setattr(render, "render_template", broken)
    with pytest.raises(render.RenderError):
        render.render_docx("plan", "kk", {})
    assert sample("kelisim_document_renders_total", kind="plan", language="kk") == before + 1  # failures are not


def test_celery_task_failures_are_counted():
    from celery import signals

    from workflow.jobs import deliver_notifications

    before = sample("kelisim_celery_task_failures_total", task=deliver_notifications.name)
    signals.task_failure.send(sender=deliver_notifications, task_id="t1", exception=RuntimeError("x"))
    assert sample("kelisim_celery_task_failures_total", task=deliver_notifications.name) == before + 1


def test_several_processes_add_up_in_multiprocess_mode(tmp_path):
    """gunicorn workers write to PROMETHEUS_MULTIPROC_DIR; /metrics's registry sums them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    count = "from operations import metrics; metrics.TRANSITIONS.labels('s', 'm', 't').inc(3)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], cwd=ROOT, env=env, check=True, timeout=60)
    read = ("from operations import metrics; "
            "print(metrics.registry().get_sample_value('kelisim_transitions_total', "
            "{'stage': 's', 'model': 'm', 'transition': 't'}))")
    out = subprocess.run([sys.executable, "-c", read], cwd=ROOT, env=env, check=True, capture_output=True,
                         text=True, timeout=60).stdout
    assert float(out) == 6.0


def test_the_container_healthcheck_sends_the_allowed_host():
    from operations.healthcheck import host_header

    assert host_header("kelisim.example.org,www.example.org") == "kelisim.example.org"
    assert host_header(".example.org") == "example.org"
    assert host_header("*") == host_header("") == "localhost"


@pytest.mark.django_db
def test_a_form_with_too_many_fields_is_one_warning_line_without_a_traceback(client, settings):
    import io

    from operations.logs import ClientLimitFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ClientLimitFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("django.security")
    logger.addHandler(handler)
    try:
        settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
        response = client.post(reverse("login"), {f"f{i}": "x" for i in range(20)})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 400
    text = stream.getvalue()
    assert text.startswith("WARNING django.security.TooManyFieldsSent") and "Traceback" not in text
    # any other error of django.security keeps its level and its traceback
    other = logging.LogRecord("django.security.csrf", logging.ERROR, __file__, 1, "m", (), None)
    try:
        raise ValueError("x")
    except ValueError:
        import sys

        other.exc_info = sys.exc_info()
    assert ClientLimitFilter().filter(other) and other.levelno == logging.ERROR and other.exc_info
    from django.conf import settings as configured

    assert "client_limits" in configured.LOGGING["handlers"]["console"]["filters"]  # what every process logs through
