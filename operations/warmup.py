"""Warm a new web process before it takes requests (gunicorn's ``post_worker_init``).

A fresh gunicorn worker's first requests each paid what Django and the libraries do once per
process: the URL resolver, compiling every template the page includes (the cached loader keeps
them afterwards), reading the kk and ru translation catalogues and the language's date and
number formats, and the S3 service models. Measured on this project's machine with the load
test's data: the first case page of a process took 590-800 ms of CPU, the same page
afterwards 40-60 ms, and the first page in each other language 10-30 ms more. gunicorn
replaces a worker every ``GUNICORN_MAX_REQUESTS`` (default 2,000) requests, so in production
these first requests recur, and they were the slowest 1% of the load test (docs/load.md).

:func:`warm_web` does that work at the worker's start instead. It sends no request, writes
nothing and makes no database query; a failure is logged and the worker serves on (cold).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("kelisim.startup")


def _template_names() -> list[str]:
    """Names of the ``.html`` templates of Kelisim's own apps (``portal/case_detail.html``, ...)."""
    from django.apps import apps
    from django.conf import settings

    base = Path(settings.BASE_DIR).resolve()
    names = []
    for config in apps.get_app_configs():
        root = Path(config.path).resolve()
        if base not in root.parents or "site-packages" in root.parts:
            continue  # a library's templates (admin, DRF, viewflow) load on demand
        folder = root / "templates"
        if folder.is_dir():
            names.extend(str(path.relative_to(folder)) for path in sorted(folder.rglob("*.html")))
    return names


def warm_web() -> dict:
    """Load what a fresh web process's first requests would: the URL resolver's tables in each
    language,
    Kelisim's templates (compiled into the cached loader), every language's translation
    catalogue and formats, the REST framework's configured classes, and the S3 models (:func:`documents.s3.warm`).

    Returns ``{"templates": count compiled, "languages": count, "storage": bool, "cpu_ms":
    CPU time spent}``. Never raises: a template that fails to compile is logged (the page
    that uses it will fail as it would have).
    """
    from django.conf import settings
    from django.template.loader import get_template
    from django.urls import get_resolver
    from django.utils import formats, translation

    from documents.s3 import warm as warm_storage

    started = time.thread_time()
    resolver = get_resolver()
    compiled = 0
    for name in _template_names():
        try:
            get_template(name)
            compiled += 1
        except Exception:  # noqa: BLE001 - logged; the worker serves on
            log.exception("warm-up: template %s does not compile", name)
    languages = 0
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            # the resolver's reverse tables are built per active language (about 250 ms of CPU)
            resolver.reverse_dict, resolver.namespace_dict, resolver.app_dict  # noqa: B018
            translation.gettext("Kelisim")  # loads the catalogue of the language
            for name in ("DATE_FORMAT", "SHORT_DATETIME_FORMAT", "DECIMAL_SEPARATOR", "THOUSAND_SEPARATOR"):
                formats.get_format(name)
        languages += 1
    from rest_framework.settings import api_settings

    for key in api_settings.defaults:  # DRF imports its renderers, parsers, authentication... on first use
        try:
            getattr(api_settings, key)
        except Exception:  # noqa: BLE001 - a setting that does not import fails its requests as before
            log.exception("warm-up: REST_FRAMEWORK[%r] does not load", key)
    storage = warm_storage()
    cpu_ms = round(1000 * (time.thread_time() - started), 1)
    log.info("web process warmed: %s templates, %s languages, storage %s, %.1f ms CPU", compiled, languages,
             "ready" if storage else "not S3", cpu_ms)
    return {"templates": compiled, "languages": languages, "storage": storage, "cpu_ms": cpu_ms}
