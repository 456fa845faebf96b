"""Liveness (``/health/``), readiness (``/ready/``) and metrics (``/metrics``); docs/operations.md.

* ``/health/``: 200 ``{"status": "ok"}`` while the process answers; touches nothing else.
  Public (no login), like any load balancer's probe.
* ``/ready/``: probes the database, broker and storage (:mod:`operations.probes`); 200 when all
  answer, 503 when one does not; JSON ``{"status": "ok"|"error", "checks": {"database":
  {"status", "latency_ms"[, "error"]}, "broker": ..., "storage": ...}}`` with the exception's
  type only (details, with host and port, go to the log). Public, never cached.
* ``/metrics``: Prometheus text format. Allowed for a request with ``Authorization: Bearer
  <KELISIM_METRICS_TOKEN>`` when that setting is set (then nobody else: 401), otherwise only
  for a loopback client (``REMOTE_ADDR`` 127.0.0.0/8 or ::1) that did not come through a proxy
  (no ``X-Forwarded-For``); others get 403.

All three answer GET (and HEAD); other methods get 405.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import probes

log = logging.getLogger("kelisim.ready")


@never_cache
@require_safe
def health(request):
    """Liveness: the process is up."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request):
    """Readiness: the database, broker and storage answer (200), or not (503)."""
    results = probes.probe_all()
    for probe in results:
        if not probe.ok:
            log.warning("not ready: the %s at %s: %s", probe.name, probe.target, probe.error)
    ok = all(p.ok for p in results)
    return JsonResponse({"status": "ok" if ok else "error", "checks": {p.name: p.as_json() for p in results}},
                        status=200 if ok else 503)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_allowed(request) -> int:
    """0 when ``request`` may read the metrics, else the status to answer (401 or 403)."""
    token = getattr(settings, "KELISIM_METRICS_TOKEN", "")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return 0 if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()) else 401
    if _loopback(request.META.get("REMOTE_ADDR", "")) and "HTTP_X_FORWARDED_FOR" not in request.META:
        return 0
    return 403


@never_cache
@require_safe
def metrics(request):
    """The Prometheus exposition of :func:`operations.metrics.registry`."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from .metrics import registry

    refused = metrics_allowed(request)
    if refused == 401:
        response = HttpResponse("a bearer token is required (KELISIM_METRICS_TOKEN)\n", status=401,
                                content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if refused:
        return HttpResponse("metrics are served to local clients only; set KELISIM_METRICS_TOKEN to scrape "
                            "from elsewhere\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
