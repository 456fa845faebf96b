"""Request ids and structured logs.

Every request gets an id: the ``X-Request-ID`` header the client (or the proxy in front) sent
when it is a plausible id (1-128 characters of letters, digits, ``.``, ``_``, ``:``, ``-``),
otherwise a new random one (32 hex digits). :class:`operations.middleware.ObservabilityMiddleware`
keeps it in a context variable for the request's lifetime and returns it in the response's
``X-Request-ID`` header; :class:`RequestIdFilter` puts it on every log record as
``request_id`` (``-`` outside a request; ``task:<celery task id>`` inside a Celery task).
``LOG_FORMAT=json`` (the production default) writes one JSON object per line
(:func:`json_formatter`).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

#: The current request's (or task's) id; ``-`` when there is none.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("kelisim_request_id", default="-")

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """The id for a request whose ``X-Request-ID`` header is ``header``: the header itself when it
    is a plausible id, else a new ``uuid4`` hex string (a forged header cannot inject text into logs)."""
    if header and _VALID_ID.match(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The id of the request (or Celery task) being handled, ``-`` outside one."""
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's id) to every record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class ClientLimitFilter(logging.Filter):
    """Logs a request refused for its size as what it is, a client's mistake: Django logs
    ``TooManyFieldsSent``, ``TooManyFilesSent`` and ``RequestDataTooBig`` (answered 400 or 413)
    at ERROR with a traceback on ``django.security.*``; this filter makes them one WARNING line
    without the traceback. Every other record passes unchanged; none is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security.") and record.levelno >= logging.ERROR and record.exc_info:
            from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

            if isinstance(record.exc_info[1], (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
                record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
                record.exc_info, record.exc_text = None, None
        return True


def json_formatter() -> logging.Formatter:
    """python-json-logger's formatter: one JSON object per line with ``time`` (ISO 8601),
    ``level``, ``logger``, ``message``, ``request_id``, any ``extra`` fields, and ``exc_info``."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         datefmt="%Y-%m-%dT%H:%M:%S%z")
