"""gunicorn configuration (``gunicorn -c python:settings.gunicorn settings.wsgi:application``).

Read from the environment: ``GUNICORN_BIND`` (default ``0.0.0.0:8000``), ``GUNICORN_WORKERS``
(processes, default 2 x CPU cores, at least 2, at most 8), ``GUNICORN_THREADS`` (threads per
process, default 2; more than 1 selects the ``gthread`` worker), ``GUNICORN_TIMEOUT`` (seconds a request
may take, default 60), ``GUNICORN_MAX_REQUESTS`` (a worker is replaced after this many requests,
default 2000, with jitter). The web process is stateless: run as many as needed on as many
machines (deploy/README.md).

Metrics: with ``PROMETHEUS_MULTIPROC_DIR`` set (the compose file does), the directory is emptied
when gunicorn starts and a dead worker's live gauges are dropped (prometheus-client's
multiprocess mode), so ``/metrics`` sums every worker's counters.

Control socket (gunicorn >= 25, used only by the ``gunicornc`` tool): gunicorn's default path,
``$XDG_RUNTIME_DIR/gunicorn.ctl`` or ``~/.gunicorn/gunicorn.ctl``, is one socket for every
gunicorn the user runs, so two Kelisim instances on one machine would take each other's. Kelisim
does not use it: it is off unless ``GUNICORN_CONTROL_SOCKET`` names a path for this instance
(e.g. ``/run/kelisim-a/gunicorn.ctl``; the directory is created, the socket is mode 0600).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Kelisim's requests spend most of their time in Python (the GIL): more processes with few
# threads each kept the load test's slowest requests lowest on two cores (4 x 2: p99 320-330
# ms; 3 x 4: 380-390; 5 x 2: 440; 6 x 1: 340; docs/load.md).
workers = int(os.environ.get("GUNICORN_WORKERS") or max(2, min(2 * (os.cpu_count() or 1), 8)))
threads = int(os.environ.get("GUNICORN_THREADS") or 2)
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 60)
graceful_timeout = 30
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 2000)
max_requests_jitter = max_requests // 10
accesslog = None  # Kelisim logs one line per request itself, with its request id (operations/middleware.py)
errorlog = "-"
# gunicorn sees the client through the proxy's X-Forwarded-* only from these addresses.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The control socket: off, or at this instance's own path (see the module docstring).
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket


def on_starting(server):
    """Empty ``PROMETHEUS_MULTIPROC_DIR`` (numbers of a previous run must not be added again)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    """Tell prometheus-client that ``worker`` is gone (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Before the worker takes a request: warm it (``operations.warmup.warm_web``: URL tables,
    templates, catalogues, REST framework classes, S3 models; measured 590-800 ms of CPU that a
    fresh worker's first page paid), then move every object made so far into the garbage
    collector's permanent generation (``gc.freeze``), so that the full collections of a
    long-lived worker scan the requests' objects only: about 130 ms per full collection with
    the start-up objects, 15 ms without (measured on the load test's pages; docs/load.md)."""
    import gc
    import logging

    from operations.warmup import warm_web

    try:
        warm_web()
    except Exception:  # noqa: BLE001 - a cold worker still serves; its first requests show the fault
        logging.getLogger("kelisim.startup").exception("warming the web worker failed")
    gc.collect()
    gc.freeze()
