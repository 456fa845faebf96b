"""Prometheus metrics (prometheus-client), served at ``/metrics`` (:func:`operations.views.metrics`).

Names (docs/operations.md):

``kelisim_http_requests_total{method, route, status}``            requests answered
``kelisim_http_request_duration_seconds{method, route}``          latency histogram
``kelisim_transitions_total{stage, model, transition}``           transitions committed
    (``stage`` is the model's app: submission, selection, ...; counted after commit)
``kelisim_reminders_queued_total``                                reminder/escalation e-mails queued by sweeps
``kelisim_notifications_delivered_total{kind, result}``           e-mail deliveries (sent, retried, failed)
``kelisim_celery_task_failures_total{task}``                      Celery tasks that raised
``kelisim_document_renders_total{kind, language}``                Word documents rendered
``kelisim_document_render_seconds{kind}``                         render time histogram

``route`` is the URL name (e.g. ``portal:case-detail``), ``<unmatched>`` for unknown URLs, so
label values stay few. Several processes (gunicorn workers, Celery prefork children) share the
numbers through prometheus-client's multiprocess mode: set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory writable by all of them, the same for every process of one machine, emptied
when the server starts (``settings/gunicorn.py`` does both for gunicorn).

Each update is one dictionary lookup and an addition (a few microseconds): cheap enough for
``workflow.transitions.perform`` (``make bench``'s ``transition_overhead_ratio``).
"""

from __future__ import annotations

import os

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # prometheus-client writes its files there from the first metric on
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import Counter, Histogram  # noqa: E402

HTTP_REQUESTS = Counter("kelisim_http_requests", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram("kelisim_http_request_duration_seconds", "HTTP request latency (seconds)",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
TRANSITIONS = Counter("kelisim_transitions", "Workflow transitions committed", ["stage", "model", "transition"])
REMINDERS_QUEUED = Counter("kelisim_reminders_queued", "Reminder and escalation messages queued by deadline sweeps")
DELIVERIES = Counter("kelisim_notifications_delivered", "E-mail notification deliveries by result",
                     ["kind", "result"])
TASK_FAILURES = Counter("kelisim_celery_task_failures", "Celery tasks that raised", ["task"])
RENDERS = Counter("kelisim_document_renders", "Word documents rendered", ["kind", "language"])
RENDER_SECONDS = Histogram("kelisim_document_render_seconds", "Word document render time (seconds)", ["kind"],
                           buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


_TRANSITION_CHILDREN: dict = {}


def transition_committed(stage: str, model: str, transition: str) -> None:
    """Count one committed transition (called by ``perform`` through ``transaction.on_commit``).

    The labelled child counter is cached per label triple (``labels()`` takes a lock and builds
    a key each time)."""
    key = (stage, model, transition)
    child = _TRANSITION_CHILDREN.get(key)
    if child is None:
        child = _TRANSITION_CHILDREN[key] = TRANSITIONS.labels(stage, model, transition)
    child.inc()


def registry():
    """The registry to expose: every process's numbers in multiprocess mode
    (``PROMETHEUS_MULTIPROC_DIR`` set), else this process's default registry."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return REGISTRY


def _task_failed(sender=None, **kwargs):
    TASK_FAILURES.labels(getattr(sender, "name", None) or "unknown").inc()


def _task_starts(task_id=None, **kwargs):
    from .logs import request_id_var

    request_id_var.set(f"task:{task_id}")


def _task_ends(**kwargs):
    from .logs import request_id_var

    request_id_var.set("-")


def connect_celery_signals() -> None:
    """Count task failures (``task_failure``) and give each task's log records the request id
    ``task:<task id>`` (``task_prerun``/``task_postrun``). Idempotent (weak=False, dispatch uids)."""
    from celery import signals

    signals.task_failure.connect(_task_failed, weak=False, dispatch_uid="kelisim.task_failure")
    signals.task_prerun.connect(_task_starts, weak=False, dispatch_uid="kelisim.task_prerun")
    signals.task_postrun.connect(_task_ends, weak=False, dispatch_uid="kelisim.task_postrun")


def start_worker_metrics_server(port: int) -> None:
    """Serve this Celery worker's metrics (all its prefork children's in multiprocess mode) on
    ``port`` (``KELISIM_WORKER_METRICS_PORT``), plain HTTP, for a scraper on the private network."""
    from prometheus_client import start_http_server

    start_http_server(port, registry=registry())
