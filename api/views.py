"""The API's views: cases, applications, score sheets, documents and versions, attachments,
tasks, approvals and audit entries (see docs/api.md).

Who sees what is decided by :mod:`processes.portal.selectors`, as in the portal: an object a
user may not see is 404, an action they may not take 403 (the engine's permission check), a
wrong state 409; every state change goes through ``workflow.transitions.perform`` (directly,
through a human task with :func:`workflow.tasks.take`, or through a service that does).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from documents.models import Document, DocumentVersion
from documents.storage import ChecksumMismatch, StorageError, attachment_header, read_verified
from processes.portal import selectors
from processes.rounds.models import Case, Round
from processes.selection.models import ScoreSheet, Selection
from processes.submission.models import Application
from workflow import permissions
from workflow import tasks as human_tasks
from workflow.approvals.models import Decision
from workflow.models import AuditEntry, Deadline

from . import serializers as s
from .errors import ApiError, owner_state, too_large_message
from .language import ApiLanguageMixin
from .paging import Pagination, SafeSearchFilter  # noqa: F401 (settings name them here too)

# -- shared ------------------------------------------------------------------------------------


#: Object ids in URLs: 1 to 18 digits (larger numbers match no URL: 404, never a database overflow).
ID_REGEX = r"[0-9]{1,18}"


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(s.ErrorSerializer, description=description)


#: The error answers every authenticated endpoint may give.
COMMON_ERRORS = {401: error("not authenticated (no or a bad token/session)")}
#: ... and every list: a bad filter value, a page that does not exist.
LIST_ERRORS = {**COMMON_ERRORS, 400: error("an invalid filter value"), 404: error("no such page")}
READ_ERRORS = {**COMMON_ERRORS, 404: error("no such object, or not one the user may see")}
WRITE_ERRORS = {**READ_ERRORS, 400: error("invalid request, unknown transition or unmet condition (the reason)"),
                403: error("the user may not take this action"),
                409: error("the object is not in a state that allows it, or was changed meanwhile"),
                413: error("the request body is too large")}


def transition_names(model) -> list[str]:
    """Every FSM transition name of ``model`` (for the schema's enum)."""
    names = set()
    for field in model._meta.fields:
        if hasattr(field, "get_all_transitions"):
            names.update(t.name for t in field.get_all_transitions(model))
    return sorted(names)


def _payload(serializer_class, request):
    """The validated body (400 in the error shape when it is not an object or is invalid)."""
    if not hasattr(request.data, "get"):
        raise ApiError(400, "invalid", _("The request body must be a JSON object."))
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class TransitionsMixin:
    """``GET <object>/transitions/`` and ``POST <object>/transitions/<name>/`` on a viewset's
    objects. A transition is taken through its open human task when the user holds or may
    claim one (:func:`workflow.tasks.take`), otherwise with ``perform``; the answer is the
    object as it is afterwards."""

    def take_transition(self, obj, name: str, *, actor, comment: str, data: dict):
        """Take ``name`` on ``obj``; subclasses route some transitions through services."""
        return human_tasks.take(obj, name, actor=actor, comment=comment, data=data)

    def _transitions(self, request, pk=None):
        obj = self.get_object()
        return Response(s.transitions_of(obj, request))

    def _transition(self, request, pk=None, name=None):
        obj = self.get_object()
        obj = type(obj)._default_manager.get(pk=obj.pk)  # fresh: conditions must not read prefetched rows
        body = _payload(s.TransitionInput, request)
        self.take_transition(obj, name, actor=request.user, comment=body.get("comment", ""),
                             data=dict(body.get("data") or {}))
        obj = self.get_queryset().get(pk=obj.pk)
        return Response(self.get_serializer(obj).data)


def transition_actions(model, output):
    """The two transition actions of a viewset over ``model`` (answering ``output``)."""
    names = transition_names(model)
    name_param = OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=names,
                                  description="the transition's name")

    @extend_schema(summary=f"What the user may do with the {model._meta.verbose_name}, and why not",
                   responses={200: s.TransitionOptionSerializer(many=True), **READ_ERRORS})
    @action(detail=True, methods=["get"], url_path="transitions", url_name="transitions", pagination_class=None,
            filter_backends=[])
    def transitions(self, request, pk=None, **lookup):  # lookup: another lookup field (a round's code)
        return self._transitions(request, pk)

    @extend_schema(summary=f"Take a transition of the {model._meta.verbose_name} (comment and data are audited)",
                   parameters=[name_param], request=s.TransitionInput, responses={200: output, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path=r"transitions/(?P<name>[A-Za-z0-9_]+)", url_name="transition",
            filter_backends=[])
    def transition(self, request, pk=None, name=None, **lookup):
        return self._transition(request, pk, name)

    return transitions, transition


# -- cases ---------------------------------------------------------------------------------------

def overdue_deadlines():
    """Open deadlines past due on the case's chain (for ``Exists``)."""
    return Deadline.objects.filter(chain=OuterRef("ref"), closed_at__isnull=True, due_at__lt=timezone.now())


@extend_schema_field({"type": "string", "enum": ["true", "false"]})
class TrueFalseFilter(filters.TypedChoiceFilter):
    """``true`` or ``false`` and nothing else (a BooleanFilter ignores other values silently);
    its schema is given here because the field is an annotation, not a model field."""


class CaseFilter(filters.FilterSet):
    round = filters.CharFilter(field_name="round__code", help_text="the round's code, e.g. TC-2017")
    state = filters.ChoiceFilter(choices=Case.State.choices)
    stage = filters.ChoiceFilter(choices=[(v, l) for v, l in Case.State.choices if v in Case.ACTIVE_STATES],
                                 method="filter_stage",
                                 help_text="the stage a case is in, or was in when it was suspended")
    overdue = TrueFalseFilter(field_name="overdue", choices=[("true", "true"), ("false", "false")],
                                        coerce=lambda value: value == "true",
                                        help_text="true or false: an open deadline of the case is past due "
                                                  "(any other value is a 400)")

    class Meta:
        model = Case
        fields = ["round", "state", "stage", "overdue"]

    def filter_stage(self, queryset, name, value):
        return queryset.filter(Q(state=value) | Q(state=Case.State.SUSPENDED, suspended_from=value))


@extend_schema_view(
    list=extend_schema(summary="Cases the user may see", responses={200: s.CaseSerializer(many=True),
                                                                     **LIST_ERRORS}),
    retrieve=extend_schema(summary="One case", responses={200: s.CaseSerializer, **READ_ERRORS}),
)
class CaseViewSet(ApiLanguageMixin, TransitionsMixin, viewsets.ReadOnlyModelViewSet):
    """Cases: the ones the user may see (``selectors.visible_cases``), with their application,
    the objects of their stage and the transitions the user may take."""

    serializer_class = s.CaseSerializer
    lookup_value_regex = ID_REGEX
    filterset_class = CaseFilter
    search_fields = ["ref", "number", "name_en", "name_ru", "name_kk"]
    ordering_fields = ["ref", "number", "state", "created_at", "round__code"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Case.objects.none()
        return (selectors.visible_cases(user=self.request.user)
                .annotate(overdue=Exists(overdue_deadlines())))

    transitions, transition = transition_actions(Case, s.CaseSerializer)

    @extend_schema(summary="Record a quarter's KPI actuals of the case's implementation (coordinators)",
                   request=s.MonitoringReportInput,
                   responses={201: s.MonitoringReportSerializer, **WRITE_ERRORS,
                              400: error("invalid values (details.fields): year, quarter, a KPI missing or not a "
                                         "number, an unknown action")})
    @action(detail=True, methods=["post"], url_path="monitoring-reports", url_name="monitoring-reports",
            filter_backends=[])
    def monitoring_reports(self, request, pk=None):
        """``processes.implementation.services.record_quarterly_report``: the report then awaits
        ``accept_report`` (``POST /api/tasks/<id>/complete/`` or the implementation's transition)."""
        from processes.implementation.services import ReportInvalid, record_quarterly_report

        case = self.get_object()
        implementation = getattr(case, "implementation", None)
        if implementation is None:
            raise ApiError(404, "not_found", _("This case has no implementation to report on."))
        body = _payload(s.MonitoringReportInput, request)
        try:
            report = record_quarterly_report(implementation=implementation, year=body["year"],
                                             quarter=body["quarter"], actuals=body["actuals"],
                                             summary=body.get("summary", ""), actor=request.user)
        except ReportInvalid as exc:
            raise ApiError(400, "invalid", str(exc), {"fields": {k: [v] for k, v in exc.problems.items()}}) from exc
        report = type(report).objects.select_related("implementation").prefetch_related("values__action").get(
            pk=report.pk)
        return Response(s.MonitoringReportSerializer(report).data, status=201)


# -- selections and rounds -----------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="Selections (staff: coordinators, partner coordinators, auditors)",
                       responses={200: s.SelectionSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One selection", responses={200: s.SelectionSerializer, **READ_ERRORS}),
)
class SelectionViewSet(ApiLanguageMixin, TransitionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    """The selection of each accepted application (staff viewers only; 404 for anybody else):
    ``complete_scoring`` once the experts have submitted, ``discuss`` once the round's ranking is
    computed, then ``select`` or ``reject`` (the comment is the reason), each through its open
    task when the user may take it."""

    serializer_class = s.SelectionSerializer
    lookup_value_regex = ID_REGEX
    filterset_fields = {"state": ["exact"], "round__code": ["exact"]}
    ordering_fields = ["rank", "score", "state", "pk"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) or not selectors.is_staff_viewer(user=self.request.user):
            return Selection.objects.none()
        return Selection.objects.select_related("application__case", "round").order_by("round__code", "pk")

    transitions, transition = transition_actions(Selection, s.SelectionSerializer)


#: Round codes in URLs (the importer's pattern): anything else matches no URL (404).
ROUND_CODE_REGEX = r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}"


@extend_schema_view(
    list=extend_schema(summary="Rounds (calls for applications)", responses={200: s.RoundSerializer(many=True),
                                                                             **LIST_ERRORS}),
    retrieve=extend_schema(summary="One round, by its code", responses={200: s.RoundSerializer, **READ_ERRORS}),
)
class RoundViewSet(ApiLanguageMixin, TransitionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    """Rounds by code (every signed-in user sees them: a call for applications is public); their
    transitions (``open_applications``, ``close_applications``, ``start_scoring``,
    ``start_discussion`` with the ranking, ``decide`` with the selection minutes, ``publish``
    with the decision notices) are the coordinators' (403 for anybody else)."""

    serializer_class = s.RoundSerializer
    lookup_field = "code"
    lookup_value_regex = ROUND_CODE_REGEX
    filterset_fields = {"state": ["exact"]}
    ordering_fields = ["code", "state", "applications_close"]

    def get_queryset(self):
        return Round.objects.defer("source").order_by("code")

    transitions, transition = transition_actions(Round, s.RoundSerializer)


# -- applications --------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="Applications the user may see",
                       responses={200: s.ApplicationSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One application", responses={200: s.ApplicationSerializer, **READ_ERRORS}),
)
class ApplicationViewSet(ApiLanguageMixin, TransitionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    """Applications of the cases the user may see; an applicant files a new one (``POST``) and
    changes a draft or one returned for revision (``PATCH``)."""

    serializer_class = s.ApplicationSerializer
    lookup_value_regex = ID_REGEX
    filterset_fields = {"state": ["exact"], "round__code": ["exact"]}
    search_fields = ["ref", "name_en", "name_ru", "name_kk", "case__ref"]
    ordering_fields = ["ref", "state", "submitted_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Application.objects.none()
        cases = selectors.visible_cases(user=self.request.user).values("pk")
        return (Application.objects.filter(case__in=cases)
                .select_related("case__applicant", "round", "case").order_by("round__code", "pk"))

    def take_transition(self, obj, name, *, actor, comment, data):
        from processes.submission import services

        if name == "submit":  # also opens the coordinators' completeness-check task
            return services.submit_application(application=obj, actor=actor, comment=comment)
        if name == "resubmit":
            return services.resubmit_application(application=obj, actor=actor, comment=comment)
        return super().take_transition(obj, name, actor=actor, comment=comment, data=data)

    @extend_schema(summary="File a new application (applicants)", request=s.ApplicationCreateInput,
                   responses={201: s.ApplicationSerializer, **COMMON_ERRORS,
                              400: error("invalid values (details.fields) or unknown round"),
                              403: error("only applicants file applications"),
                              409: error("the round is not open for applications")})
    def create(self, request):
        from processes.submission.services import file_new_application

        if not permissions.has_role(request.user, permissions.APPLICANT):
            raise ApiError(403, "permission_denied", _("Only applicants file applications."))
        if not hasattr(request.data, "get"):
            raise ApiError(400, "invalid", _("The request body must be a JSON object."))
        values = {k: v for k, v in request.data.items() if k not in ("round", "language")}
        code, language = request.data.get("round"), request.data.get("language")
        if not isinstance(code, str) or not code:
            required = _("the round's code is required")
            raise ApiError(400, "invalid", f"round: {required}.", {"fields": {"round": [required]}})
        if language is not None and not isinstance(language, str):
            problem = _("must be kk, ru or en")
            raise ApiError(400, "invalid", f"language: {problem}.", {"fields": {"language": [problem]}})
        rnd = Round.objects.filter(code=code).first()
        if rnd is None:
            problem = _("no round with the code %(code)s") % {"code": repr(code)}
            raise ApiError(400, "invalid", f"round: {problem}.", {"fields": {"round": [problem]}})
        application = file_new_application(round=rnd, applicant=request.user, values=values,
                                           language=language or None)
        application = self.get_queryset().get(pk=application.pk)
        return Response(self.get_serializer(application).data, status=201)

    @extend_schema(summary="Change a draft application or one returned for revision",
                   request=s.ApplicationValuesInput, responses={200: s.ApplicationSerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        from processes.submission.services import update_application

        application = self.get_object()
        if not hasattr(request.data, "items"):
            raise ApiError(400, "invalid", _("The request body must be a JSON object."))
        update_application(application=application, values=dict(request.data.items()), actor=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=application.pk)).data)

    transitions, transition = transition_actions(Application, s.ApplicationSerializer)


# -- score sheets --------------------------------------------------------------------------------

def visible_score_sheets(user):
    """Score sheets ``user`` may see: every sheet for staff viewers (coordinators, partner
    coordinators, auditors, administrators), an expert its own, nobody else any."""
    queryset = ScoreSheet.objects.select_related("application__case", "application__round", "expert")
    if selectors.is_staff_viewer(user=user):
        return queryset.order_by("pk")
    return queryset.filter(expert_id=user.pk).order_by("pk")


@extend_schema_view(
    list=extend_schema(summary="Score sheets (an expert: its own; staff: all)",
                       responses={200: s.ScoreSheetSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One score sheet with the criteria and weights",
                           responses={200: s.ScoreSheetSerializer, **READ_ERRORS}),
)
class ScoreSheetViewSet(ApiLanguageMixin, TransitionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """Expert score sheets with every criterion of the round, its weight and the score given.

    ``PATCH`` keeps draft scores (the sheet's expert); the ``submit`` transition with
    ``data.scores`` records the scores and submits (``submit_score_sheet``)."""

    serializer_class = s.ScoreSheetSerializer
    lookup_value_regex = ID_REGEX
    filterset_fields = {"state": ["exact"], "application__round__code": ["exact"]}
    ordering_fields = ["pk", "state", "total"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ScoreSheet.objects.none()
        return visible_score_sheets(self.request.user).prefetch_related("scores", "application__round__criteria")

    def take_transition(self, obj, name, *, actor, comment, data):
        if name == "submit" and "scores" in data:
            from processes.selection.services import submit_score_sheet

            scores = _scores_of(data["scores"], allow_null=False)
            try:
                return submit_score_sheet(sheet=obj, scores=scores, actor=actor)
            except ValueError as exc:
                raise ApiError(400, "invalid_scores", str(exc)) from exc
        return super().take_transition(obj, name, actor=actor, comment=comment, data=data)

    @extend_schema(summary="Keep draft scores (the sheet's expert, while it is a draft)",
                   request=s.ScoreSheetUpdateInput, responses={200: s.ScoreSheetSerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        from processes.selection.services import save_draft_scores

        sheet = ScoreSheet.objects.get(pk=self.get_object().pk)
        body = _payload(s.ScoreSheetUpdateInput, request)
        scores = {code: (v["value"], v.get("comment", "")) for code, v in body["scores"].items()}
        try:
            save_draft_scores(sheet=sheet, scores=scores, actor=request.user)
        except ValueError as exc:
            raise ApiError(400, "invalid_scores", str(exc)) from exc
        return Response(self.get_serializer(self.get_queryset().get(pk=sheet.pk)).data)

    transitions, transition = transition_actions(ScoreSheet, s.ScoreSheetSerializer)


def _scores_of(raw, *, allow_null: bool) -> dict:
    """``{"C1": 7}`` or ``{"C1": {"value": 7, "comment": "..."}}`` as ``{code: (value, comment)}``."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_scores", _("data.scores must map criterion codes to scores."))
    scores = {}
    for code, item in raw.items():
        value, comment = (item.get("value"), item.get("comment", "")) if isinstance(item, dict) else (item, "")
        if not isinstance(comment, str) or len(comment) > s.MAX_COMMENT:
            raise ApiError(400, "invalid_scores", _("the comment on %(code)s must be text of at most %(count)s "
                                                    "characters") % {"code": code, "count": s.MAX_COMMENT})
        if value is None and not allow_null:
            raise ApiError(400, "invalid_scores", _("score for %(code)s is missing") % {"code": code})
        scores[str(code)] = (value, comment)
    return scores


# -- documents and versions ----------------------------------------------------------------------

def visible_documents(user):
    """Documents ``user`` may see: every one for staff viewers; otherwise those of the cases
    it sees, as far as ``selectors.case_documents`` shows them (an expert who only scores a
    case sees its application papers and its own score sheet)."""
    queryset = Document.objects.prefetch_related("versions__created_by").order_by("owner_ref", "pk")
    if selectors.is_staff_viewer(user=user):
        return queryset
    ids = set()
    for case in selectors.visible_cases(user=user):
        ids.update(selectors.case_documents(case=case, user=user).values_list("pk", flat=True))
    return queryset.filter(pk__in=ids)


class BinaryRenderer(BaseRenderer):
    """Lets a download be asked for with any ``Accept``; errors are still JSON."""

    media_type = "*/*"
    format = "bin"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return JSONRenderer().render(data)


@extend_schema_view(
    list=extend_schema(summary="Documents the user may see, with their versions",
                       responses={200: s.DocumentSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One document with its versions",
                           responses={200: s.DocumentSerializer, **READ_ERRORS}),
)
class DocumentViewSet(ApiLanguageMixin, viewsets.ReadOnlyModelViewSet):
    """Documents of the cases (and, for staff, the rounds) the user may see."""

    serializer_class = s.DocumentSerializer
    lookup_value_regex = ID_REGEX
    filterset_fields = {"owner_ref": ["exact"], "kind": ["exact"], "stage": ["exact"], "language": ["exact"]}
    search_fields = ["title", "owner_ref", "kind"]
    ordering_fields = ["owner_ref", "created_at", "kind"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Document.objects.none()
        return visible_documents(self.request.user)

    @extend_schema(summary="The versions of a document, oldest first",
                   responses={200: s.VersionSerializer(many=True), **READ_ERRORS})
    @action(detail=True, methods=["get"], url_path="versions", url_name="versions", pagination_class=None,
            filter_backends=[])
    def versions(self, request, pk=None):
        document = self.get_object()
        versions = document.versions.select_related("created_by").order_by("number")
        return Response(s.VersionSerializer(versions, many=True, context={"request": request}).data)


class VersionViewSet(ApiLanguageMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One document version (``selectors.visible_version``) and its verified bytes."""

    serializer_class = s.VersionSerializer
    lookup_value_regex = ID_REGEX
    queryset = DocumentVersion.objects.none()

    def get_object(self):
        pk = self.kwargs.get("pk")
        version = selectors.visible_version(user=self.request.user, pk=int(pk)) if str(pk).isdigit() else None
        if version is None:
            raise ApiError(404, "not_found", _("No such document version, or not one you may see."))
        return version

    @extend_schema(summary="One document version", responses={200: s.VersionSerializer, **READ_ERRORS})
    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(summary="Download the exact bytes of a version (sha256 verified)",
                   responses={(200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="the file; "
                              "Content-Disposition names it (RFC 5987 filename*), X-Content-SHA256 its sha256"),
                              **READ_ERRORS, 409: error("the stored bytes no longer match the recorded sha256")})
    @action(detail=True, methods=["get"], url_path="download", url_name="download",
            renderer_classes=[JSONRenderer, BinaryRenderer])
    def download(self, request, pk=None):
        version = self.get_object()
        try:
            content = read_verified(version)
        except ChecksumMismatch as exc:
            raise ApiError(409, "checksum_mismatch", _(
                "The stored file of %(title)s, version %(number)s, no longer matches its recorded sha256, so it is "
                "not served. The incident was logged; please tell the administrator.") % {
                    "title": version.document.title, "number": version.number},
                {"version": version.pk, "state": owner_state(version.document.owner_ref)}) from exc
        except StorageError as exc:
            raise ApiError(404, "file_missing", _(
                "The stored file of %(title)s, version %(number)s, cannot be found in the document storage.") % {
                    "title": version.document.title, "number": version.number}, {"version": version.pk}) from exc
        response = HttpResponse(content, content_type=version.content_type or "application/octet-stream")
        response["Content-Disposition"] = attachment_header(version)
        response["Content-Length"] = str(len(content))
        response["Cache-Control"] = "private, no-store"
        response["X-Content-SHA256"] = version.sha256
        return response


class CaseAttachmentView(ApiLanguageMixin, APIView):
    """``POST /api/cases/<pk>/attachments/`` (multipart field ``file``): attach a file to a case.

    The rules of the portal's upload (``processes.portal.files``): the case's applicant and
    coordinators (``may_attach``); the type decided by content (``documents.uploads``); the
    size limit enforced while the body streams in (413, nothing stored); 400 for a missing or
    empty file or a suspicious archive, 415 for a type not accepted or a macro-enabled Office
    file, 503 when the storage cannot be written. Answers 201 with the new version.
    """

    parser_classes = [MultiPartParser, FormParser]

    def initialize_request(self, request, *args, **kwargs):
        from processes.portal.files import LimitedUploadHandler, upload_limit

        # First handler, before anything (authentication's CSRF check included) reads the body.
        self.upload_guard = LimitedUploadHandler(upload_limit(), request)
        request.upload_handlers.insert(0, self.upload_guard)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(summary="Attach a file to a case (applicant of the case, coordinators)",
                   request={"multipart/form-data": s.UploadInput},
                   responses={201: s.VersionSerializer, **WRITE_ERRORS,
                              415: error("not a PDF, PNG, JPEG, .docx or .xlsx, or a macro-enabled Office file"),
                              503: error("the document storage cannot be written just now")})
    def post(self, request, pk: int):
        from documents import uploads
        from processes.portal.files import may_attach

        case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
        if not may_attach(request.user, case):
            raise ApiError(403, "permission_denied", _("Only the case's applicant and coordinators attach files."))
        upload = request.FILES.get("file")
        if self.upload_guard.exceeded:
            raise ApiError(413, "too_large", too_large_message(upload=True))
        if upload is None:
            raise ApiError(400, "no_file", _("Send the file in the multipart form field “file”."),
                           {"fields": {"file": [_("no file was sent")]}})
        try:
            version = uploads.store_upload(owner_ref=case.ref, stage=case.stage, language=case.language,
                                           file=upload, name=upload.name, actor=request.user)
        finally:
            upload.close()
        return Response(s.VersionSerializer(version, context={"request": request}).data, status=201)


# -- tasks ---------------------------------------------------------------------------------------

_UNRESOLVED = object()


def task_row(task, user, case=_UNRESOLVED) -> dict:
    """A task of the inbox as the API shows it; ``case``: its object's case when the caller
    resolved it already (``selectors.cases_of`` for a whole page), else looked up here."""
    data = human_tasks.task_data(task)
    obj = task.process.artifact
    if case is _UNRESOLVED:
        case = selectors.cases_of([obj])[0]
    return {"id": task.pk, "title": data.get("title", ""), "transition": data.get("transition", ""),
            "outcomes": human_tasks.outcomes_of(task), "role": data.get("role"),
            "owner": task.owner.get_username() if task.owner_id else None, "queued": task.owner_id is None,
            "held_by_user": task.owner_id == user.pk, "status": str(task.status), "created": task.created,
            "object": None if obj is None else {"type": f"{obj._meta.app_label}.{obj._meta.model_name}",
                                                "id": obj.pk, "label": str(obj),
                                                "state": str(getattr(obj, "state", "")) or None},
            "case": case.pk if case is not None else None, "case_ref": case.ref if case is not None else None}


class TaskViewSet(ApiLanguageMixin, viewsets.ViewSet):
    """The user's inbox (``workflow.tasks.inbox``): tasks assigned to them, queued for their
    roles, or of signatories they stand in for; claim, unassign and complete them."""

    pagination_class = Pagination
    lookup_value_regex = ID_REGEX

    def _task(self, request, pk):
        task = selectors.visible_task(user=request.user, pk=int(pk)) if str(pk).isdigit() else None
        if task is None:
            raise ApiError(404, "not_found", _("No such open task in your inbox."))
        return task

    def _answer(self, request, task):
        from viewflow.workflow.models import Task

        task = Task.objects.select_related("process", "owner").get(pk=task.pk)
        return Response(s.TaskSerializer(task_row(task, request.user)).data)

    @extend_schema(summary="The user's open tasks, newest first",
                   responses={200: s.TaskSerializer(many=True), **LIST_ERRORS})
    def list(self, request):
        paginator = Pagination()
        # paged in the database (a count and one page with its objects), not every open task
        # loaded to show 25 of them: a coordinators' queue holds thousands at scale
        tasks = human_tasks.inbox(request.user, artifact_querysets=selectors._artifact_querysets())
        page = paginator.paginate_queryset(tasks, request, view=self)
        # every row's case, a signatory's decision's included (one query for the page's chains)
        cases = selectors.cases_of([t.process.artifact for t in page])
        return paginator.get_paginated_response([s.TaskSerializer(task_row(t, request.user, case)).data
                                                 for t, case in zip(page, cases)])

    @extend_schema(summary="One open task", responses={200: s.TaskSerializer, **READ_ERRORS})
    def retrieve(self, request, pk=None):
        return self._answer(request, self._task(request, pk))

    @extend_schema(summary="Take a queued task (needs the task's role)", request=None,
                   responses={200: s.TaskSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        task = self._task(request, pk)
        human_tasks.claim(task, request.user)
        return self._answer(request, task)

    @extend_schema(summary="Return a held task to its role's queue (its holder or a coordinator)", request=None,
                   responses={200: s.TaskSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def unassign(self, request, pk=None):
        task = self._task(request, pk)
        human_tasks.unassign(task, by=request.user)
        return self._answer(request, task)

    @extend_schema(summary="Complete a task by taking one of its transitions", request=s.TaskCompleteInput,
                   responses={200: s.TaskSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        if str(pk).isdigit() and selectors.visible_task(user=request.user, pk=int(pk)) is None:
            closed = human_tasks.seen_closed_task(request.user, int(pk))
            if closed is not None:  # the loser of a concurrent completion: 409, by whom and when
                raise ApiError(409, "stale_object", human_tasks.closed_message(closed), {"state": str(closed.status)})
        task = self._task(request, pk)
        body = _payload(s.TaskCompleteInput, request)
        human_tasks.complete(task, user=request.user, transition=body.get("transition"),
                             comment=body.get("comment", ""), data=dict(body.get("data") or {}) or None)
        return self._answer(request, task)


# -- approvals -----------------------------------------------------------------------------------

def awaiting_decisions(user):
    """Pending decisions on open approvals that ``user`` is asked to take (its own, or as an
    active deputy), oldest approval first."""
    return (Decision.objects.filter(selectors._decisions_covered(user), approval__state="open", state="pending")
            .select_related("approval", "signatory", "decided_by").order_by("approval__created_at", "position"))


class ApprovalViewSet(ApiLanguageMixin, viewsets.GenericViewSet):
    """Decisions awaiting the user on open approvals; approve or reject one with a comment
    (``workflow.approvals.services.decide``: bound to the sha256 of the exact version)."""

    pagination_class = Pagination
    serializer_class = s.DecisionSerializer
    queryset = Decision.objects.none()
    filter_backends: list = []
    lookup_value_regex = ID_REGEX

    @extend_schema(summary="Decisions awaiting the user", responses={200: s.DecisionSerializer(many=True),
                                                                      **LIST_ERRORS})
    def list(self, request):
        page = self.paginate_queryset(awaiting_decisions(request.user))
        return self.get_paginated_response(s.DecisionSerializer(page, many=True).data)

    def _decision(self, request, pk):
        decision = (Decision.objects.select_related("approval", "signatory", "decided_by").filter(pk=pk).first()
                    if str(pk).isdigit() else None)
        if decision is None or not (
                decision.signatory_id == request.user.pk
                or selectors.visible_cases(user=request.user).filter(ref=decision.approval.chain).exists()):
            raise ApiError(404, "not_found", _("No such decision, or not one you may see."))
        return decision

    @extend_schema(summary="One decision", responses={200: s.DecisionSerializer, **READ_ERRORS})
    def retrieve(self, request, pk=None):
        return Response(s.DecisionSerializer(self._decision(request, pk)).data)

    def _decide(self, request, pk, approve: bool):
        from workflow.approvals.services import decide

        decision = self._decision(request, pk)
        body = _payload(s.CommentInput, request)
        decide(decision=decision, actor=request.user, approve=approve, comment=body.get("comment", ""))
        return Response(s.DecisionSerializer(self._decision(request, pk)).data)

    @extend_schema(summary="Approve the exact version the decision names", request=s.CommentInput,
                   responses={200: s.DecisionSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, pk, True)

    @extend_schema(summary="Reject the version (the comment gives the reason)", request=s.CommentInput,
                   responses={200: s.DecisionSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, pk, False)


# -- audit entries -------------------------------------------------------------------------------

class AuditEntryFilter(filters.FilterSet):
    case = filters.NumberFilter(method="filter_case", help_text="a case id: its chain")
    chain = filters.CharFilter(help_text="a chain: a case reference, a round code or 'delegations'")
    actor = filters.CharFilter(method="filter_actor", help_text="the actor's username")
    transition = filters.CharFilter()
    date_from = filters.DateFilter(field_name="created_at", lookup_expr="date__gte",
                                   help_text="on or after this day (Asia/Almaty)")
    date_to = filters.DateFilter(field_name="created_at", lookup_expr="date__lte",
                                 help_text="on or before this day (Asia/Almaty)")

    class Meta:
        model = AuditEntry
        fields = ["case", "chain", "actor", "transition", "date_from", "date_to"]

    def filter_actor(self, queryset, name, value):
        """Entries of the actor named ``value``; none of an expert whose name the reader may not
        read (``processes.portal.redaction``), so the filter does not reveal who scored."""
        from django.contrib.auth import get_user_model

        from processes.portal.redaction import hidden_experts

        queryset = queryset.filter(actor_username=value)
        named = get_user_model().objects.filter(username=value).values_list("pk", flat=True)
        hidden = hidden_experts(self.request.user, set(named))
        return queryset.exclude(actor_id__in=hidden) if hidden else queryset

    def filter_case(self, queryset, name, value):
        if value != value.to_integral_value() or not 0 < value < 2**63:
            return queryset.none()
        ref = Case.objects.filter(pk=int(value)).values_list("ref", flat=True).first()
        return queryset.filter(chain=ref) if ref else queryset.none()


@extend_schema_view(
    list=extend_schema(summary="Audit entries (staff: all; others: the chains of the cases they see)",
                       responses={200: s.AuditEntrySerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="One audit entry", responses={200: s.AuditEntrySerializer, **READ_ERRORS}),
)
class AuditEntryViewSet(ApiLanguageMixin, viewsets.ReadOnlyModelViewSet):
    """The hash-chained history: auditors, coordinators, partner coordinators and
    administrators read every chain in full; anybody else only the chains of the cases they see
    (an applicant its own case's), without another expert's scoring and experts' names
    (``redacted``, ``actor_role``: ``processes.portal.redaction``, docs/security.md)."""

    serializer_class = s.AuditEntrySerializer
    lookup_value_regex = ID_REGEX
    filterset_class = AuditEntryFilter
    ordering_fields = ["created_at", "seq", "chain"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEntry.objects.none()
        queryset = AuditEntry.objects.order_by("chain", "seq")
        if selectors.is_staff_viewer(user=self.request.user):
            return queryset
        refs = selectors.visible_cases(user=self.request.user).values("ref")
        return queryset.filter(chain__in=refs)

    def list(self, request, *args, **kwargs):
        """The entries, each as the reader may read it (``processes.portal.redaction``)."""
        from processes.portal.redaction import redact_entries

        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        entries = redact_entries(page if page is not None else queryset, user=request.user)
        data = self.get_serializer(entries, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def get_object(self):
        from processes.portal.redaction import redact_entries

        return redact_entries([super().get_object()], user=self.request.user)[0]
