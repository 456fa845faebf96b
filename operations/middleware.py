"""The first middleware: request id, access log line, HTTP metrics (docs/operations.md)."""

from __future__ import annotations

import logging
import time

from .logs import request_id_from, request_id_var
from .metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("kelisim.request")
#: Probe and scrape paths are logged at DEBUG (they come every few seconds).
QUIET_PATHS = ("/health/", "/ready/", "/metrics")


class ObservabilityMiddleware:
    """Gives the request its id (``X-Request-ID``, see :mod:`operations.logs`) for every log
    record made while it is handled and returns it in the ``X-Request-ID`` response header;
    counts it in ``kelisim_http_requests_total`` and ``kelisim_http_request_duration_seconds``
    (labels: method, URL name, status); logs one ``kelisim.request`` line (method, path, status,
    duration_ms, cpu_ms, route) at INFO.

    ``duration_ms`` is wall-clock time from this middleware until the response object is
    returned (a streamed body is sent after it); ``cpu_ms`` is the CPU time the handling thread
    spent in that span (:func:`time.thread_time`: Python, template rendering, drivers' parsing;
    not the time spent waiting for the GIL, the database or the network), so that what a request
    costs can be told apart from the queueing on a busy machine."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        cpu_start = time.thread_time()
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - start
            cpu = time.thread_time() - cpu_start
            match = getattr(request, "resolver_match", None)
            route = (match.view_name or match.route) if match is not None else "<unmatched>"
            method = request.method if request.method in _METHODS else "other"
            HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            response["X-Request-ID"] = request_id
            log.log(logging.DEBUG if request.path in QUIET_PATHS else logging.INFO,
                    "%s %s %s %.1fms cpu %.1fms", request.method, request.path, response.status_code,
                    elapsed * 1000, cpu * 1000,
                    extra={"method": request.method, "path": request.path, "status": response.status_code,
                           "duration_ms": round(elapsed * 1000, 1), "cpu_ms": round(cpu * 1000, 1),
                           "route": route})
            return response
        finally:
            request_id_var.reset(token)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
