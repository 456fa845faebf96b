"""The API of the stage objects after selection: the diagnosis (with its assessed areas), the
development plan (with its actions), the support measures and the implementation (docs/api.md,
"Stage objects").

Each is created for a case in the matching stage by a coordinator (operator or partner; 403
for anybody else, 404 for a case the user may not see), read by whoever sees the case, and
moved on with ``POST <object>/transitions/<name>/`` like cases, selections and rounds
(:class:`api.views.TransitionsMixin`, i.e. :func:`workflow.tasks.take`). The steps ``run_cycle``
does through a service go through the same service here and from an inbox task, routed by the
model's ``take_task_transition`` (``routed_transitions``; docs/cycle.md, "Tasks and the stage
services"), so the documents are the same on every path:

* ``POST /api/diagnoses/<id>/assessment/`` and the transition ``draft_report``:
  :func:`processes.diagnosis.services.record_assessment` (the diagnosis report document; the
  transition alone drafts from the areas already recorded, else 400 ``condition_unmet``);
* the plan's ``send_for_signing``: :func:`processes.planning.services.send_for_signing` (the plan
  document, the signatories' approval); ``approve``/``reject`` once the approval is decided:
  :func:`~processes.planning.services.conclude_signing` (the approval sheet);
* ``POST /api/support-measures/``: :func:`processes.support.services.propose_measure`; the
  measure's ``agree`` (every body agreed) / ``decline`` (a body objected):
  :func:`~processes.support.services.conclude_coordination` (the coordination sheet, then in force).

Creating an object and changing a draft plan's content are audited (``created``,
``content_changed``) on the case's chain; every state change goes through ``perform``.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from processes.diagnosis.forms import area_problems, assess, create_diagnosis
from processes.diagnosis.models import Diagnosis, DiagnosisArea
from processes.implementation.models import Implementation
from processes.planning.forms import EDITABLE, MAX_KZT, MAX_TARGET, create_plan, update_plan
from processes.planning.models import Plan, PlanAction
from processes.portal import selectors
from processes.rounds.models import Case
from processes.stages import date_problem
from processes.support.forms import body_problem
from processes.support.models import SupportMeasure
from workflow import audit, permissions
from workflow import exceptions as wf
from workflow.tasks import follow_up

from . import serializers as s
from .errors import ApiError
from .language import ApiLanguageMixin
from .views import COMMON_ERRORS, ID_REGEX, LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, TransitionsMixin, \
    _payload, error, transition_actions

# MAX_KZT, MAX_TARGET and the checks below are shared with the case page's forms
# (processes/{diagnosis,planning,support}/forms.py, processes/portal/stages.py).


# -- serializers -------------------------------------------------------------------------------

_API_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?", re.ASCII)
_API_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class AsciiDecimalField(serializers.DecimalField):
    """A decimal given as a JSON number or as a string of ASCII digits with at most one decimal
    point (``"15000000.50"``): no grouping, comma, sign, exponent or other script's digits
    (Python's ``Decimal("١٢")`` is 12; the forms refuse those digits too, processes/stages.py).
    Then DRF's checks (``max_digits``, ``decimal_places``, ``min_value``, ``max_value``)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not _API_NUMBER.fullmatch(data.strip()):
            self.fail("invalid")
        return super().to_internal_value(data)


class PlanDateField(serializers.DateField):
    """A calendar date ``YYYY-MM-DD`` in ASCII digits, in the years
    :data:`processes.stages.FIRST_YEAR` to :data:`~processes.stages.LAST_YEAR` (the forms' rule)."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not _API_DATE.fullmatch(value.strip()):
            self.fail("invalid", format="YYYY-MM-DD")
        date = super().to_internal_value(value)
        if problem := date_problem(date):
            raise serializers.ValidationError(problem)
        return date


class _StageSerializer(serializers.ModelSerializer):
    case_ref = serializers.CharField(source="case.ref", read_only=True)
    state_display = serializers.CharField(source="get_state_display", read_only=True)
    transitions = serializers.SerializerMethodField()

    @extend_schema_field(s.TransitionOptionSerializer(many=True))
    def get_transitions(self, obj):
        return s.transitions_of(obj, self.context["request"])


class AreaSerializer(serializers.ModelSerializer):
    class Meta:
        model = DiagnosisArea
        fields = ["position", "area", "score_pct", "finding"]


class DiagnosisSerializer(_StageSerializer):
    """A case's diagnosis: assessors, the areas (score 0..100 each), the overall percentage
    (their mean, set by ``draft_report``) and what the user may do with it."""

    areas = AreaSerializer(many=True, read_only=True)
    areas_expected = serializers.ListField(child=serializers.CharField(), source="case.round.diagnosis_areas",
                                           read_only=True, help_text="the round's areas, each assessed once")

    class Meta:
        model = Diagnosis
        fields = ["id", "case", "case_ref", "state", "state_display", "assessors", "overall_pct", "areas",
                  "areas_expected", "transitions"]


class PlanActionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanAction
        fields = ["position", "measure", "responsible", "deadline", "budget_kzt", "kpi", "kpi_target", "kpi_unit"]


class PlanSerializer(_StageSerializer):
    """A case's development plan: vision, governance, actions (budgets in KZT), the total."""

    actions = PlanActionSerializer(many=True, read_only=True)
    total_budget_kzt = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)

    class Meta:
        model = Plan
        fields = ["id", "case", "case_ref", "state", "state_display", "vision", "governance", "actions",
                  "total_budget_kzt", "transitions"]


class PositionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    state = serializers.CharField()
    comment = serializers.CharField(allow_blank=True)


class SupportMeasureSerializer(_StageSerializer):
    """A support measure (``amount_kzt`` per year, KZT; ``reimbursement_pct`` 0..100) and the
    government bodies' positions (recorded through their tasks: ``agree`` / ``lodge_objection``)."""

    positions = PositionSerializer(many=True, read_only=True)

    class Meta:
        model = SupportMeasure
        fields = ["id", "case", "case_ref", "state", "state_display", "title", "amount_kzt", "reimbursement_pct",
                  "legal_basis", "positions", "transitions"]


class ImplementationSerializer(_StageSerializer):
    """A case's implementation (``started_on``: a calendar date)."""

    class Meta:
        model = Implementation
        fields = ["id", "case", "case_ref", "state", "state_display", "started_on", "transitions"]


class _Strict(serializers.Serializer):
    """A body whose unknown keys are a 400 (a misspelt field must not be dropped silently)."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(str(k)[:40] for k in data.keys() if k not in self.fields)
            if unknown:
                raise serializers.ValidationError({k: [_("unknown field")] for k in unknown})
        return super().to_internal_value(data)


class CaseInput(_Strict):
    case = serializers.IntegerField(min_value=1, max_value=10 ** 18, help_text="the case's id")


class DiagnosisInput(CaseInput):
    """The body of ``POST /api/diagnoses/``."""

    assessors = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class AreaInput(_Strict):
    area = serializers.CharField(max_length=200, help_text="one of the round's diagnosis areas")
    score_pct = AsciiDecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)
    finding = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class AssessmentInput(_Strict):
    """The body of ``POST /api/diagnoses/<id>/assessment/``: every area of the round, once."""

    areas = AreaInput(many=True, allow_empty=False, max_length=50)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=s.MAX_COMMENT)


class ActionInput(_Strict):
    measure = serializers.CharField(max_length=4000)
    responsible = serializers.CharField(max_length=300)
    deadline = PlanDateField(help_text="calendar date, YYYY-MM-DD, years 2000 to 2100")
    budget_kzt = AsciiDecimalField(max_digits=16, decimal_places=2, min_value=0, max_value=MAX_KZT,
                                   help_text="KZT, 0 to 9999999999999.99")
    kpi = serializers.CharField(max_length=300)
    kpi_target = AsciiDecimalField(max_digits=14, decimal_places=2, min_value=0, max_value=MAX_TARGET)
    kpi_unit = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)


class PlanUpdateInput(_Strict):
    """The body of ``PATCH /api/plans/<id>/``: what is given replaces what the plan has
    (``actions`` replaces every action, numbered 1.. in the given order)."""

    vision = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    governance = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    actions = ActionInput(many=True, required=False, max_length=100)


class PlanInput(PlanUpdateInput, CaseInput):
    """The body of ``POST /api/plans/``."""


class MeasureInput(CaseInput):
    """The body of ``POST /api/support-measures/``."""

    title = serializers.CharField(max_length=300)
    amount_kzt = AsciiDecimalField(max_digits=16, decimal_places=2, min_value=0, max_value=MAX_KZT,
                                   help_text="KZT per year, 0 to 9999999999999.99")
    reimbursement_pct = AsciiDecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)
    legal_basis = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    bodies = serializers.ListField(child=serializers.CharField(max_length=300), allow_empty=False, max_length=20,
                                   help_text="the government bodies whose positions are collected")

    def validate_bodies(self, value):
        problem = body_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class ImplementationInput(CaseInput):
    """The body of ``POST /api/implementations/``."""

    started_on = serializers.DateField(help_text="calendar date, YYYY-MM-DD")


# -- shared rules ------------------------------------------------------------------------------

def _case_for(request, case_id: int, stage: str) -> Case:
    """The case ``case_id`` for creating a ``stage`` object: 404 unless the user sees it, 403
    unless a coordinator, 409 (``details.state``) unless the case is in ``stage``."""
    case = selectors.visible_cases(user=request.user).filter(pk=case_id).first()
    if case is None:
        raise ApiError(404, "not_found", _("No such case, or not one you may see."))
    _require_coordinator(request.user)
    if case.state != stage:
        raise ApiError(409, "transition_not_allowed",
                       _("The case is in the state “%(state)s”, not in the stage this object belongs to.")
                       % {"state": case.get_state_display()}, {"state": case.state})
    return Case.objects.select_for_update().get(pk=case.pk)


def _require_coordinator(user) -> None:
    if not permissions.coordinators(None, user):
        raise ApiError(403, "permission_denied", str(permissions.coordinators.reason))


def _exists(obj) -> ApiError:
    return ApiError(409, "already_exists", _("The case already has this object."), {"state": obj.state, "id": obj.pk})


def _audit(obj, transition: str, actor, data: dict) -> None:
    audit.append_entry(chain=obj.audit_chain, actor=actor, object_type=obj._meta.label_lower, object_id=str(obj.pk),
                       object_repr=str(obj), transition=transition, from_state=obj.state, to_state=obj.state,
                       data=data)


def _visible(model, user):
    return model.objects.filter(case__in=selectors.visible_cases(user=user).values("pk")).select_related(
        "case").order_by("pk")


CREATE_ERRORS = {**COMMON_ERRORS, 400: error("invalid values (details.fields)"),
                 403: error("only coordinators create it"), 404: error("no such case, or not one the user may see"),
                 409: error("the case is not in the stage (details.state), or already has the object")}


def _read_views(name: str, serializer):
    return extend_schema_view(
        list=extend_schema(summary=f"{name.capitalize()}s of the cases the user may see",
                           responses={200: serializer(many=True), **LIST_ERRORS}),
        retrieve=extend_schema(summary=f"One {name}", responses={200: serializer, **READ_ERRORS}))


class _StageViewSet(ApiLanguageMixin, TransitionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    viewsets.GenericViewSet):
    model = None
    lookup_value_regex = ID_REGEX
    filterset_fields = {"state": ["exact"], "case": ["exact"]}
    ordering_fields = ["pk", "state"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return _visible(self.model, self.request.user)

    def _answer(self, obj, status=200):
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data, status=status)


# -- diagnosis ---------------------------------------------------------------------------------

@_read_views("diagnosis", DiagnosisSerializer)
class DiagnosisViewSet(_StageViewSet):
    """Diagnoses: created ``planned`` (``start_fieldwork`` task open); the assessment of every
    area of the round takes ``draft_report`` and generates the diagnosis report; then
    ``open_discussion``, ``approve`` (or ``return_to_draft``)."""

    model = Diagnosis
    serializer_class = DiagnosisSerializer

    def get_queryset(self):
        return super().get_queryset().prefetch_related("areas")

    @extend_schema(summary="Create the diagnosis of a case in the diagnosis stage (coordinators)",
                   request=DiagnosisInput, responses={201: DiagnosisSerializer, **CREATE_ERRORS})
    @transaction.atomic
    def create(self, request):
        body = _payload(DiagnosisInput, request)
        case = _case_for(request, body["case"], Case.State.DIAGNOSIS)
        existing = Diagnosis.objects.filter(case=case).first()
        if existing is not None:
            raise _exists(existing)
        diagnosis = create_diagnosis(case=case, assessors=body["assessors"], actor=request.user)
        return self._answer(diagnosis, 201)

    @extend_schema(summary="Record the area assessments and draft the report (takes draft_report)",
                   request=AssessmentInput,
                   responses={200: DiagnosisSerializer, **WRITE_ERRORS,
                              400: error("invalid values (details.fields): an unknown or repeated area, a score "
                                         "outside 0..100, an area missing")})
    @action(detail=True, methods=["post"], url_path="assessment", url_name="assessment", filter_backends=[])
    def assessment(self, request, pk=None):
        diagnosis = self.get_object()
        _require_coordinator(request.user)
        body = _payload(AssessmentInput, request)
        expected = list(diagnosis.case.round.diagnosis_areas or [])
        names = [a["area"] for a in body["areas"]]
        problems = area_problems(expected, names)
        if problems:
            raise ApiError(400, "invalid", _("The areas assessed must be the round's diagnosis areas, each once."),
                           {"fields": {"areas": problems}})
        self._record(diagnosis, [(a["area"], a["score_pct"], a["finding"]) for a in body["areas"]], request.user)
        return self._answer(diagnosis)

    @staticmethod
    def _record(diagnosis, areas, actor):
        # fieldwork only (409), coordinators only (403), then the service: shared with the case page's form
        return assess(diagnosis=diagnosis, areas=areas, actor=actor)

    # draft_report as a transition: TransitionsMixin -> workflow.tasks.take, routed to
    # Diagnosis.take_task_transition (the areas already recorded and the report, or a 400 naming
    # where to enter them), the same path as the inbox task (docs/cycle.md)

    transitions, transition = transition_actions(Diagnosis, DiagnosisSerializer)


# -- development plan --------------------------------------------------------------------------

@_read_views("development plan", PlanSerializer)
class PlanViewSet(_StageViewSet):
    """Development plans: created ``drafting`` with their actions, changed (``PATCH``) while
    ``drafting`` or ``revision_requested``; ``submit_for_review``; ``send_for_signing``
    renders the plan document and asks the round's signatories (``/api/approvals/``);
    ``approve`` / ``reject`` conclude the signing once the approval is decided (approval sheet)."""

    model = Plan
    serializer_class = PlanSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().prefetch_related("actions")

    @extend_schema(summary="Create the development plan of a case in the planning stage (coordinators)",
                   request=PlanInput, responses={201: PlanSerializer, **CREATE_ERRORS})
    @transaction.atomic
    def create(self, request):
        body = _payload(PlanInput, request)
        case = _case_for(request, body.pop("case"), Case.State.PLANNING)
        existing = Plan.objects.filter(case=case).first()
        if existing is not None:
            raise _exists(existing)
        plan = create_plan(case=case, body=body, actor=request.user)
        return self._answer(plan, 201)

    @extend_schema(summary="Change a draft plan (drafting or revision requested; coordinators)",
                   request=PlanUpdateInput, responses={200: PlanSerializer, **WRITE_ERRORS})
    @transaction.atomic
    def partial_update(self, request, pk=None):
        plan = self.get_object()
        body = _payload(PlanUpdateInput, request)
        _require_coordinator(request.user)
        plan = Plan.objects.select_for_update().get(pk=plan.pk)
        if plan.state not in EDITABLE:
            raise ApiError(409, "transition_not_allowed",
                           _("The plan can only be changed while it is drafted or revised (it is “%(state)s”).")
                           % {"state": plan.get_state_display()}, {"state": plan.state})
        update_plan(plan=plan, body=body, actor=request.user)
        return self._answer(plan)

    # send_for_signing, approve and reject: TransitionsMixin -> workflow.tasks.take, routed to
    # Plan.take_task_transition (processes.planning.services.take_routed), the same path as the
    # inbox task "Review the plan and send it for signing" (docs/cycle.md)

    transitions, transition = transition_actions(Plan, PlanSerializer)


# -- support measures --------------------------------------------------------------------------

@_read_views("support measure", SupportMeasureSerializer)
class SupportMeasureViewSet(_StageViewSet):
    """Support measures: proposed and sent to the government bodies at once (a task per
    body: ``agree`` / ``lodge_objection`` through ``/api/tasks/``); then ``agree`` (put in
    force) or ``decline`` concludes the coordination (coordination sheet)."""

    model = SupportMeasure
    serializer_class = SupportMeasureSerializer

    def get_queryset(self):
        return super().get_queryset().prefetch_related("positions")

    @extend_schema(summary="Propose a support measure for a case in the support stage (coordinators)",
                   request=MeasureInput, responses={201: SupportMeasureSerializer, **CREATE_ERRORS})
    @transaction.atomic
    def create(self, request):
        from processes.support.services import propose_measure

        body = _payload(MeasureInput, request)
        case = _case_for(request, body["case"], Case.State.SUPPORT)
        measure = propose_measure(case=case, title=body["title"], amount_kzt=body["amount_kzt"],
                                  reimbursement_pct=body["reimbursement_pct"], legal_basis=body["legal_basis"],
                                  bodies=body["bodies"], actor=request.user)
        return self._answer(measure, 201)

    # agree and decline: TransitionsMixin -> workflow.tasks.take, routed to
    # SupportMeasure.take_task_transition (processes.support.services.take_routed: the
    # coordination sheet, then in force), the same path as an inbox task (docs/cycle.md)

    transitions, transition = transition_actions(SupportMeasure, SupportMeasureSerializer)


# -- implementation ----------------------------------------------------------------------------

@_read_views("implementation", ImplementationSerializer)
class ImplementationViewSet(_StageViewSet):
    """Implementations: created ``active`` (the task "Collect the quarterly monitoring report"
    opens); reports through ``POST /api/cases/<id>/monitoring-reports/``; ``accept_report``,
    ``complete``, ``suspend``, ``resume`` as transitions."""

    model = Implementation
    serializer_class = ImplementationSerializer

    @extend_schema(summary="Create the implementation of a case in the implementation stage (coordinators)",
                   request=ImplementationInput, responses={201: ImplementationSerializer, **CREATE_ERRORS})
    @transaction.atomic
    def create(self, request):
        body = _payload(ImplementationInput, request)
        case = _case_for(request, body["case"], Case.State.IMPLEMENTATION)
        existing = Implementation.objects.filter(case=case).first()
        if existing is not None:
            raise _exists(existing)
        started: dt.date = body["started_on"]
        impl = Implementation.objects.create(case=case, started_on=started)
        follow_up(impl)
        _audit(impl, "created", request.user, {"started_on": started.isoformat()})
        return self._answer(impl, 201)

    transitions, transition = transition_actions(Implementation, ImplementationSerializer)
