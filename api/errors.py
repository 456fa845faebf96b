"""One JSON shape for every error of the API, and the handlers that produce it.

Every error body is ``{"code": "...", "message": "...", "details": {...}}``:

* ``code``: stable, machine-readable (the table in docs/api.md);
* ``message``: for a person, in the request's language (:mod:`api.language`: the
  ``Accept-Language`` header, else the user's saved language, else English);
* ``details``: structured context, e.g. the per-field problems of an invalid request
  (``{"fields": {"name_en": ["..."]}}``), the transition and state of a refused transition,
  or the reason of an unmet condition.

:func:`exception_handler` is DRF's ``EXCEPTION_HANDLER``. It covers DRF's own exceptions
(validation 400, not authenticated 401, permission 403, not found 404, method 405, not
acceptable 406, unsupported media type 415, throttled 429), Django's ``Http404`` and
``PermissionDenied``, the workflow engine's errors (each carries its ``http_status``: 400,
403 or 409; an unmet condition its ``reason``), ``ApplicationInvalid`` (400 with the
problems), upload refusals (``documents.uploads.UploadRejected``: 400/413/415), a body over
the limits (Django's ``RequestDataTooBig``: 413; ``TooManyFieldsSent``: 400), and checksum
or storage failures (409/503). Anything else is logged and answered 500 with the same shape.

:class:`ApiRequestSizeLimitMiddleware` and :func:`not_found` give the same shape to the two
answers made outside a DRF view: a declared body over the limit (413) and an unknown URL
under ``/api/`` (404).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from documents.storage import ChecksumMismatch, StorageError
from documents.uploads import UploadRejected
from processes.submission.services import ApplicationInvalid
from workflow import exceptions as wf

logger = logging.getLogger("kelisim.api")

#: Path prefix of the API (JSON errors outside DRF views are answered for it).
API_PREFIX = "/api/"

#: ``code`` of each workflow error class.
WORKFLOW_CODES = {
    wf.UnknownTransition: "unknown_transition",
    wf.TransitionNotAllowed: "transition_not_allowed",
    wf.ConditionUnmet: "condition_unmet",
    wf.StaleObject: "stale_object",
    wf.TransitionPermissionDenied: "permission_denied",
}


class ApiError(drf_exceptions.APIException):
    """An error a view raises with its own ``status``, ``code``, ``message`` and ``details``."""

    def __init__(self, status_code: int, code: str, message: str, details: dict | None = None):
        super().__init__(message, code)
        self.status_code, self.code, self.message, self.details = status_code, code, message, details or {}


def body(code: str, message: str, details: dict | None = None) -> dict:
    """The error body: ``{"code", "message", "details"}``."""
    return {"code": code, "message": str(message), "details": details or {}}


def _workflow_code(exc: wf.WorkflowError) -> str:
    for cls in type(exc).__mro__:
        if cls in WORKFLOW_CODES:
            return WORKFLOW_CODES[cls]
    return "workflow_error"


def _flatten(detail):
    """DRF's ``ErrorDetail`` tree as plain strings (lists and dicts kept)."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            text = _first_message(value)
            return text if key in ("non_field_errors", "detail") else f"{key}: {text}"
        return gettext("invalid request")
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else gettext("invalid request")
    return str(detail)


def too_large_message(*, upload: bool) -> str:
    """The 413 message for a body over the form/JSON limit or a file over the upload limit, in
    the active language, the limit in MiB (``processes.portal.files.mib``)."""
    from documents.uploads import setting
    from processes.portal.files import mib

    if upload:
        return gettext("The file is larger than the %(limit)s accepted; nothing was stored.") % {
            "limit": mib(setting("KELISIM_UPLOAD_MAX_BYTES"))}
    return gettext("The request body is larger than the %(limit)s accepted for a JSON or form request; "
                   "nothing was done.") % {"limit": mib(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}


def owner_state(owner_ref: str) -> str:
    """The current state of the case (or round) whose reference or code is ``owner_ref`` (a
    document's owner), or ``""`` when there is none: ``details.state`` of a 409 about a document."""
    from processes.rounds.models import Case, Round

    state = Case.objects.filter(ref=owner_ref).values_list("state", flat=True).first()
    if state is None:
        state = Round.objects.filter(code=owner_ref).values_list("state", flat=True).first()
    return state or ""


def _state_of(exc: wf.WorkflowError) -> str:
    """The state a workflow error names: the one it carries, else its object's current state."""
    if exc.state:
        return str(exc.state)
    return str(getattr(exc.obj, "state", "") or "")


def describe_exception(exc) -> tuple[int, dict, dict]:
    """``(status, body, headers)`` for ``exc``, or ``(500, ...)`` for an unexpected error."""
    headers: dict = {}
    if isinstance(exc, ApiError):
        return exc.status_code, body(exc.code, exc.message, exc.details), headers
    if isinstance(exc, wf.WorkflowError):
        details = {"transition": exc.transition, "state": _state_of(exc)}
        if isinstance(exc, wf.ConditionUnmet):
            details["reason"] = exc.reason
        return exc.http_status, body(_workflow_code(exc), exc.message, details), headers
    if isinstance(exc, ApplicationInvalid):
        return 400, body("invalid_application", str(exc), {"fields": dict(exc.problems)}), headers
    if isinstance(exc, UploadRejected):
        return exc.status, body(exc.code, exc.message), headers
    if isinstance(exc, RequestDataTooBig):
        return 413, body("too_large", too_large_message(upload=False)), headers
    if isinstance(exc, TooManyFieldsSent):
        return 400, body("too_many_fields", gettext("The request sent too many fields; nothing was done.")), headers
    if isinstance(exc, ChecksumMismatch):
        return 409, body("checksum_mismatch", gettext(
            "%(problem)s. The incident was logged; please tell the administrator.") % {"problem": exc}), headers
    if isinstance(exc, StorageError):
        return 503, body("storage_unavailable", gettext(
            "The document storage cannot be used just now (%(problem)s); nothing was changed. Please try again "
            "later.") % {"problem": exc}), headers
    if isinstance(exc, Http404):
        # Django's get_object_or_404 says "No X matches the given query." in English: not shown.
        return 404, body("not_found", gettext("No such object, or not one you may see.")), headers
    if isinstance(exc, PermissionDenied):
        return 403, body("permission_denied", str(exc) or gettext("You may not do this.")), headers
    if isinstance(exc, drf_exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
        detail = exc.detail
        if isinstance(exc, drf_exceptions.ValidationError):
            fields = _flatten(detail if isinstance(detail, dict) else {"non_field_errors": detail})
            return exc.status_code, body("invalid", _first_message(detail), {"fields": fields}), headers
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        return exc.status_code, body(code, _first_message(detail)), headers
    return 500, body("server_error", gettext("An unexpected error occurred; nothing was changed. It was logged.")), \
        headers


def current_state(view) -> str:
    """The current state of the object a view works on (``details.state`` of a 409 whose error
    did not name one): the object's own ``state``, else its case's (a document version: its
    document's owner), else ``""``. Never raises."""
    if view is None or not hasattr(view, "get_object") or "pk" not in getattr(view, "kwargs", {}):
        return ""
    try:
        obj = view.get_object()
        if getattr(obj, "state", ""):
            return str(obj.state)
        document = getattr(obj, "document", None)
        if document is not None:
            return owner_state(document.owner_ref)
        case = getattr(obj, "case", None)
        return str(getattr(case, "state", "") or "")
    except Exception:  # noqa: BLE001 - only a detail of an error answer; the error itself stands
        return ""


def exception_handler(exc, context):
    """DRF's ``EXCEPTION_HANDLER``: every error as ``{"code", "message", "details"}``; every 409
    names the current state of the object concerned in ``details.state``."""
    status_code, payload, headers = describe_exception(exc)
    if status_code == 409 and not payload["details"].get("state"):
        payload["details"]["state"] = current_state(context.get("view"))
    if status_code >= 500 and not isinstance(exc, (StorageError, ApiError)):
        logger.error("unexpected API error", exc_info=(type(exc), exc, exc.__traceback__))
    return Response(payload, status=status_code, headers=headers)


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


class ApiRequestSizeLimitMiddleware:
    """For ``/api/`` requests: answer 413 in the JSON error shape when the declared
    ``Content-Length`` is over the limit, before anything reads the body.

    The same limits as ``processes.portal.files.RequestSizeLimitMiddleware`` (which answers
    the other paths with a page): ``multipart/form-data`` up to ``KELISIM_UPLOAD_MAX_BYTES``
    plus ``MULTIPART_SLACK``, any other body up to ``DATA_UPLOAD_MAX_MEMORY_SIZE``. Installed
    just before it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _is_api(request):
            from processes.portal.files import MULTIPART_SLACK, upload_limit

            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared:
                multipart = request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data")
                limit = upload_limit() + MULTIPART_SLACK if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                if limit is not None and declared > limit:
                    return JsonResponse(body("too_large", too_large_message(upload=multipart),
                                             {"declared_bytes": declared, "limit_bytes": limit}), status=413)
        return self.get_response(request)


def not_found(request, exception=None):
    """``handler404``: JSON for ``/api/`` paths, Django's page anywhere else."""
    if _is_api(request):
        return JsonResponse(body("not_found", gettext("No such API endpoint or object.")), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
