"""Serializers of the API: what each resource looks like in JSON.

Output serializers read the models; the input serializers (``*Input``) describe request
bodies for the OpenAPI schema and check their shape. The values themselves are checked by
the services they are passed to (e.g. ``clean_application_values``), which stay the one
place each rule lives.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from documents.models import Document, DocumentVersion
from processes.rounds.models import Case, Round
from processes.selection.models import ScoreSheet, Selection
from processes.submission.models import Application
from processes.submission.services import EDITABLE_TEXT, FIGURES
from workflow.models import AuditEntry
from workflow.transitions import available_transitions

#: The longest comment accepted with a transition, task or decision (characters).
MAX_COMMENT = 4000


class ErrorSerializer(serializers.Serializer):
    """Every error body (api/errors.py)."""

    code = serializers.CharField(help_text="stable machine-readable code, e.g. transition_not_allowed")
    message = serializers.CharField(help_text="what went wrong, for a person")
    details = serializers.DictField(help_text="structured context: per-field problems, transition, state, reason")


class TransitionOptionSerializer(serializers.Serializer):
    """One transition leaving the object's state: may the user take it now, and why not."""

    name = serializers.CharField()
    target = serializers.CharField(allow_null=True, help_text=(
        "the state it leads to; for a transition whose target is decided when it runs (a case's "
        "resume) the state it would return to, or null when that is not known"))
    allowed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True, help_text="empty when allowed")


def transitions_of(obj, request) -> list[dict]:
    """``available_transitions(obj, user)`` as dicts."""
    return [{"name": o.name, "target": o.target, "allowed": o.allowed, "reason": o.reason}
            for o in available_transitions(obj, request.user)]


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def check_data(value: dict) -> dict:
    """``data`` kept in an audit entry: JSON without NUL characters (PostgreSQL's jsonb refuses them)."""
    if _has_nul(value):
        raise serializers.ValidationError(gettext("NUL characters are not allowed"))
    return value


class TransitionInput(serializers.Serializer):
    """The body of ``POST .../transitions/<name>/``."""

    comment = serializers.CharField(required=False, allow_blank=True, max_length=MAX_COMMENT, default="")
    data = serializers.DictField(required=False, default=dict,
                                 help_text="structured data kept in the audit entry (e.g. a refusal's reason); "
                                           "for a score sheet's submit: {\"scores\": {\"C1\": 7, ...}}")

    def validate_data(self, value):
        return check_data(value)


class StageObjectSerializer(serializers.Serializer):
    """A stage object of a case (application, selection, diagnosis, plan, support measure,
    implementation) with its state."""

    type = serializers.CharField(help_text="app_label.model_name")
    id = serializers.IntegerField()
    state = serializers.CharField()
    label = serializers.CharField()


def stage_objects(case: Case) -> list:
    """The objects of the stage ``case`` is in (or was suspended in): the application in
    submission, its selection in selection, the diagnosis, the plan, the support measures,
    the implementation; none once the case has ended."""
    from processes.rounds.models import _related_or_none

    stage = case.suspended_from if case.state == Case.State.SUSPENDED else case.state
    relation = {"submission": "application", "selection": "application.selection", "diagnosis": "diagnosis",
                "planning": "plan", "implementation": "implementation"}.get(stage)
    if relation:
        obj = _related_or_none(case, relation)
        return [obj] if obj is not None else []
    if stage == "support":
        return list(case.support_measures.order_by("pk"))
    return []


class ApplicationSummarySerializer(serializers.ModelSerializer):
    score = serializers.DecimalField(source="selection.score", max_digits=6, decimal_places=2, read_only=True,
                                     allow_null=True, default=None)
    rank = serializers.IntegerField(source="selection.rank", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Application
        fields = ["id", "ref", "state", "sector", "region", "city", "submitted_at", "score", "rank"]


class CaseSerializer(serializers.ModelSerializer):
    """A case: where it is, its application, the objects of its stage and what the user may do."""

    round = serializers.CharField(source="round.code", read_only=True)
    state_display = serializers.CharField(source="get_state_display", read_only=True)
    applicant = serializers.CharField(source="applicant.username", read_only=True, allow_null=True, default=None)
    overdue = serializers.SerializerMethodField(help_text="an open deadline of the case is past due")
    application = serializers.SerializerMethodField()
    stage_objects = serializers.SerializerMethodField()
    transitions = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = ["id", "ref", "round", "number", "name_en", "name_ru", "name_kk", "language", "state",
                  "state_display", "suspended_from", "applicant", "created_at", "overdue", "application",
                  "stage_objects", "transitions"]

    def get_overdue(self, case) -> bool:
        return bool(getattr(case, "overdue", False))

    @extend_schema_field(ApplicationSummarySerializer(allow_null=True))
    def get_application(self, case):
        try:
            application = case.application
        except Application.DoesNotExist:
            return None
        return ApplicationSummarySerializer(application).data

    @extend_schema_field(StageObjectSerializer(many=True))
    def get_stage_objects(self, case) -> list:
        return [{"type": f"{o._meta.app_label}.{o._meta.model_name}", "id": o.pk, "state": str(o.state),
                 "label": str(o)} for o in stage_objects(case)]

    @extend_schema_field(TransitionOptionSerializer(many=True))
    def get_transitions(self, case):
        return transitions_of(case, self.context["request"])


class ApplicationSerializer(serializers.ModelSerializer):
    """An application with its figures, its state and what the user may do with it."""

    case = serializers.IntegerField(source="case_id", read_only=True)
    case_ref = serializers.CharField(source="case.ref", read_only=True)
    round = serializers.CharField(source="round.code", read_only=True)
    applicant = serializers.CharField(source="case.applicant.username", read_only=True, allow_null=True,
                                      default=None)
    language = serializers.CharField(source="case.language", read_only=True)
    refusal_reason = serializers.CharField(read_only=True, help_text="excluded_sector, incomplete, late, or empty")
    transitions = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = ["id", "case", "case_ref", "round", "ref", "language", "applicant", "state", "name_en", "name_ru",
                  "name_kk", "region", "city", "sector", *FIGURES, "submitted_at", "refusal_reason",
                  "refusal_detail", "transitions"]
        read_only_fields = fields

    @extend_schema_field(TransitionOptionSerializer(many=True))
    def get_transitions(self, application):
        return transitions_of(application, self.context["request"])


def _values_fields() -> dict:
    fields = {key: serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=limit)
              for key, limit in EDITABLE_TEXT.items()}
    for key in FIGURES:
        if key == "export_share_pct":
            fields[key] = serializers.DecimalField(required=False, allow_null=True, max_digits=5, decimal_places=2,
                                                   min_value=0, max_value=100, coerce_to_string=False)
        else:
            fields[key] = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                                   max_value=2**31 - 1)
    return fields


ApplicationValuesInput = type("ApplicationValuesInput", (serializers.Serializer,), {
    "__doc__": "The fields an applicant fills in (all optional on PATCH). Checked by "
               "processes.submission.services.clean_application_values.",
    **_values_fields()})

ApplicationCreateInput = type("ApplicationCreateInput", (serializers.Serializer,), {
    "__doc__": "A new application: the round's code, the case's document language and the values "
               "(name_en required).",
    "round": serializers.CharField(help_text="the round's code, e.g. TC-2017"),
    "language": serializers.ChoiceField(choices=settings.LANGUAGES, required=False,
                                        help_text="the case's document language (default: the round's)"),
    **_values_fields()})


class ScoreSerializer(serializers.Serializer):
    """One criterion of the round with its weight and this sheet's score (null: not scored)."""

    code = serializers.CharField()
    title = serializers.CharField()
    weight = serializers.IntegerField(help_text="percent of the 0..100 total")
    position = serializers.IntegerField()
    value = serializers.IntegerField(allow_null=True, help_text="0..10")
    comment = serializers.CharField(allow_blank=True)


class ScoreSheetSerializer(serializers.ModelSerializer):
    """An expert's score sheet: the criteria with their weights beside each score."""

    application_ref = serializers.CharField(source="application.ref", read_only=True)
    case = serializers.IntegerField(source="application.case_id", read_only=True)
    case_ref = serializers.CharField(source="application.case.ref", read_only=True)
    expert = serializers.CharField(source="expert.username", read_only=True)
    scores = serializers.SerializerMethodField()
    transitions = serializers.SerializerMethodField()

    class Meta:
        model = ScoreSheet
        fields = ["id", "application", "application_ref", "case", "case_ref", "expert", "state", "total",
                  "conflict_note", "scores", "transitions"]
        read_only_fields = fields

    @extend_schema_field(ScoreSerializer(many=True))
    def get_scores(self, sheet):
        language = getattr(self.context.get("request"), "LANGUAGE_CODE", None) or sheet.application.case.language
        given = {s.criterion_id: s for s in sheet.scores.all()}
        rows = []
        for criterion in sheet.application.round.criteria.all():
            score = given.get(criterion.pk)
            rows.append({"code": criterion.code, "title": criterion.title(language), "weight": criterion.weight,
                         "position": criterion.position, "value": score.value if score else None,
                         "comment": score.comment if score else ""})
        return rows

    @extend_schema_field(TransitionOptionSerializer(many=True))
    def get_transitions(self, sheet):
        return transitions_of(sheet, self.context["request"])


class ScoreInput(serializers.Serializer):
    value = serializers.IntegerField(min_value=0, max_value=10, allow_null=True,
                                     help_text="0..10; null removes the score")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_COMMENT)


class ScoreSheetUpdateInput(serializers.Serializer):
    """Draft scores to keep (the sheet's expert, while it is a draft): criterion code -> score."""

    scores = serializers.DictField(child=ScoreInput())


class VersionSerializer(serializers.ModelSerializer):
    """One stored version of a document (sha256 of the exact bytes)."""

    document = serializers.IntegerField(source="document_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DocumentVersion
        fields = ["id", "document", "number", "original_name", "sha256", "size", "content_type",
                  "template_name", "template_version", "created_by", "created_at", "signed", "download_url"]
        read_only_fields = fields

    def get_download_url(self, version) -> str:
        from django.urls import reverse

        url = reverse("api:version-download", args=[version.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class DocumentSerializer(serializers.ModelSerializer):
    """A document (one paper of a case or round) with its versions, oldest first."""

    versions = VersionSerializer(many=True, read_only=True)

    class Meta:
        model = Document
        fields = ["id", "owner_ref", "stage", "kind", "key", "language", "title", "created_at", "versions"]
        read_only_fields = fields


class UploadInput(serializers.Serializer):
    file = serializers.FileField(help_text="PDF, PNG, JPEG, .docx or .xlsx (judged by content), at most "
                                           "KELISIM_UPLOAD_MAX_BYTES (25 MiB)")


class TaskObjectSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.IntegerField()
    label = serializers.CharField()
    state = serializers.CharField(allow_null=True)


class TaskSerializer(serializers.Serializer):
    """A human task of the user's inbox (``workflow.tasks``)."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    transition = serializers.CharField(help_text="the transition the task expects")
    outcomes = serializers.ListField(child=serializers.CharField(), help_text="transitions that complete it")
    role = serializers.CharField(allow_null=True)
    owner = serializers.CharField(allow_null=True, help_text="who holds it; null while queued")
    queued = serializers.BooleanField()
    held_by_user = serializers.BooleanField()
    status = serializers.CharField()
    created = serializers.DateTimeField()
    object = TaskObjectSerializer(allow_null=True)
    case = serializers.IntegerField(allow_null=True)
    case_ref = serializers.CharField(allow_null=True)


class TaskCompleteInput(serializers.Serializer):
    transition = serializers.CharField(required=False, allow_blank=True, help_text=(
        "one of the task's outcomes (absent: its transition; an empty name is refused, 400)"))
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_COMMENT)
    data = serializers.DictField(required=False, default=dict)

    def validate_data(self, value):
        return check_data(value)


class CommentInput(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_COMMENT)


class ApprovalInfoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    key = serializers.CharField()
    chain = serializers.CharField()
    state = serializers.CharField()
    policy = serializers.CharField()
    required = serializers.IntegerField(allow_null=True)
    veto = serializers.BooleanField()
    subject_version = serializers.IntegerField()
    subject_sha256 = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="the DocumentVersion id decided on")


class DecisionSerializer(serializers.Serializer):
    """One decision awaiting the user (as the signatory or their deputy) on an open approval."""

    id = serializers.IntegerField()
    position = serializers.IntegerField()
    signatory = serializers.CharField(source="signatory.username")
    role = serializers.CharField(allow_blank=True)
    organisation = serializers.CharField(allow_blank=True)
    state = serializers.CharField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    sha256 = serializers.CharField(allow_blank=True)
    comment = serializers.CharField(allow_blank=True)
    approval = serializers.SerializerMethodField()
    case = serializers.SerializerMethodField()

    @extend_schema_field(ApprovalInfoSerializer)
    def get_approval(self, decision):
        a = decision.approval
        from documents.models import DocumentVersion as DV
        from django.contrib.contenttypes.models import ContentType

        is_version = a.subject_type_id == ContentType.objects.get_for_model(DV).pk
        return {"id": a.pk, "title": a.title, "key": a.key, "chain": a.chain, "state": a.state, "policy": a.policy,
                "required": a.required, "veto": a.veto, "subject_version": a.subject_version,
                "subject_sha256": a.subject_sha256, "version": a.subject_id if is_version else None}

    @extend_schema_field(OpenApiTypes.INT)
    def get_case(self, decision):
        case = Case.objects.filter(ref=decision.approval.chain).values_list("pk", flat=True).first()
        return case


class AuditEntrySerializer(serializers.ModelSerializer):
    """One entry of a hash-chained history (``workflow.audit``)."""

    actor = serializers.CharField(source="actor_username", read_only=True)
    on_behalf_of = serializers.CharField(source="on_behalf_of_username", read_only=True)
    actor_role = serializers.CharField(read_only=True, default="", help_text=(
        "'expert' when the actor's name is withheld from the reader (actor is then empty), else empty"))
    redacted = serializers.BooleanField(read_only=True, default=False, help_text=(
        "true when the entry is another expert's scoring: data, comment, object_repr and hash are withheld"))

    class Meta:
        model = AuditEntry
        fields = ["id", "chain", "seq", "created_at", "actor", "on_behalf_of", "actor_role", "object_type",
                  "object_id", "object_repr", "transition", "from_state", "to_state", "comment", "data",
                  "prev_hash", "hash", "redacted"]
        read_only_fields = fields


class SelectionSerializer(serializers.ModelSerializer):
    """The selection of one accepted application: state, score (0..100, the mean of the
    submitted sheets), rank in the round, divergent criteria, the decision's reason, and what
    the user may do with it (``complete_scoring``, ``discuss``, ``select``, ``reject``)."""

    round = serializers.CharField(source="round.code", read_only=True)
    case = serializers.IntegerField(source="application.case_id", read_only=True)
    case_ref = serializers.CharField(source="application.case.ref", read_only=True)
    application = serializers.IntegerField(source="application_id", read_only=True)
    state_display = serializers.CharField(source="get_state_display", read_only=True)
    transitions = serializers.SerializerMethodField()

    class Meta:
        model = Selection
        fields = ["id", "round", "case", "case_ref", "application", "state", "state_display", "score", "rank",
                  "divergent_criteria", "decision_reason", "transitions"]

    @extend_schema_field(TransitionOptionSerializer(many=True))
    def get_transitions(self, selection):
        return transitions_of(selection, self.context["request"])


class RoundSerializer(serializers.ModelSerializer):
    """A round (call for applications): its state, dates (calendar dates), pass mark (0..100),
    places, and what the user may do with it (``open_applications`` .. ``publish``)."""

    state_display = serializers.CharField(source="get_state_display", read_only=True)
    transitions = serializers.SerializerMethodField()

    class Meta:
        model = Round
        fields = ["id", "code", "title_en", "title_ru", "title_kk", "state", "state_display", "applications_open",
                  "applications_close", "pass_mark", "max_selected", "language", "transitions"]

    @extend_schema_field(TransitionOptionSerializer(many=True))
    def get_transitions(self, rnd):
        return transitions_of(rnd, self.context["request"])


class MonitoringReportInput(serializers.Serializer):
    """The body of ``POST /api/cases/<id>/monitoring-reports/``: one quarter's KPI actuals."""

    year = serializers.JSONField(help_text="2000..2100")
    quarter = serializers.JSONField(help_text="1..4")
    summary = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000,
                                    trim_whitespace=False)
    actuals = serializers.DictField(child=serializers.JSONField(), help_text=(
        "every plan action's number -> the actual KPI value in its unit (a number, 0.. with at most 2 decimals), "
        "e.g. {\"1\": 12, \"2\": \"7.5\"}"))


class MonitoringValueSerializer(serializers.Serializer):
    action = serializers.IntegerField(source="action.position")
    kpi = serializers.CharField(source="action.kpi")
    target = serializers.DecimalField(source="action.kpi_target", max_digits=14, decimal_places=2)
    unit = serializers.CharField(source="action.kpi_unit")
    actual = serializers.DecimalField(max_digits=14, decimal_places=2)


class MonitoringReportSerializer(serializers.Serializer):
    """A quarter's monitoring report; ``accepted_at`` is null while it awaits ``accept_report``."""

    id = serializers.IntegerField()
    case = serializers.IntegerField(source="implementation.case_id")
    year = serializers.IntegerField()
    quarter = serializers.IntegerField()
    summary = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    implementation_state = serializers.CharField(source="implementation.state")
    values = MonitoringValueSerializer(many=True)
