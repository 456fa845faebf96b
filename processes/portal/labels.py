"""People's names for the workflow's codes: transitions, states and models, in the active language.

Transition names (``advance_to_selection``) and state values (``in_force``) are data: they are
stored in audit entries, posted by forms and the API, and stay in English. Pages show them
through :func:`transition_label` and :func:`state_label` (template filters of the same names
in ``portal_tags``), which return the translated label, or the code itself when none is known.
See docs/i18n.md.
"""

from __future__ import annotations

import functools

from django.apps import apps
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMFieldMixin

#: Transition name -> label (an imperative, as on a button). One label per name: the same
#: name means the same act on every model that has it.
TRANSITION_LABELS = {
    "accept": _("accept"),
    "accept_report": _("accept the report"),
    "advance_to_diagnosis": _("advance to diagnosis"),
    "advance_to_implementation": _("advance to implementation"),
    "advance_to_planning": _("advance to planning"),
    "advance_to_selection": _("advance to selection"),
    "advance_to_support": _("advance to support"),
    "agree": _("agree"),
    "approve": _("approve"),
    "cancel": _("cancel"),
    "circulate": _("circulate"),
    "close": _("close"),
    "close_applications": _("close applications"),
    "close_not_selected": _("close as not selected"),
    "comment": _("comment"),
    "complete": _("complete"),
    "complete_scoring": _("complete scoring"),
    "decide": _("decide"),
    "declare_conflict": _("declare a conflict of interest"),
    "decline": _("decline"),
    "discuss": _("discuss"),
    "draft_report": _("draft the report"),
    "finalise": _("finalise"),
    "lapse": _("lapse"),
    "lodge_objection": _("lodge an objection"),
    "open_applications": _("open applications"),
    "open_discussion": _("open the discussion"),
    "open_registration": _("open registration"),
    "publish": _("publish"),
    "put_in_force": _("put in force"),
    "refuse": _("refuse"),
    "reject": _("reject"),
    "request_revision": _("request a revision"),
    "resubmit": _("resubmit"),
    "resume": _("resume"),
    "return_for_revision": _("return for revision"),
    "return_to_draft": _("return to draft"),
    "select": _("select"),
    "send_for_signing": _("send for signing"),
    "start": _("start"),
    "start_coordination": _("start coordination"),
    "start_discussion": _("start the discussion"),
    "start_fieldwork": _("start fieldwork"),
    "start_reporting": _("start reporting"),
    "start_scoring": _("start scoring"),
    "submit": _("submit"),
    "submit_for_review": _("submit for review"),
    "supersede": _("supersede"),
    "suspend": _("suspend"),
    "withdraw": _("withdraw"),
}

#: Audit events that are not transitions (no state changes), named like them in the history.
EVENT_LABELS = {
    "application_updated": _("application updated"),
    "approval_requested": _("approval requested"),
    "attachment_uploaded": _("attachment uploaded"),
    "case_created": _("case created"),
    "comment_added": _("comment added"),
    "delegation_granted": _("delegation granted"),
    "document_generated": _("document generated"),
    "imported": _("imported"),
    "out_of_office_granted": _("out-of-office delegation granted"),
    "pdf_rendered": _("PDF made"),
    "ranking_computed": _("ranking computed"),
    "report_recorded": _("quarterly report recorded"),
    "revoked": _("delegation revoked"),
    "scores_saved": _("scores saved"),
}


#: Model (``app_label.model_name``, as in audit entries) -> its name for people. The models'
#: own ``verbose_name`` stays English (changing it needs a migration per app).
MODEL_LABELS = {
    "rounds.round": _("round"),
    "rounds.case": _("case"),
    "submission.application": _("application"),
    "selection.scoresheet": _("score sheet"),
    "selection.selection": _("selection"),
    "diagnosis.diagnosis": _("diagnosis"),
    "planning.plan": _("development plan"),
    "support.supportmeasure": _("support measure"),
    "support.bodyposition": _("government body's position"),
    "implementation.implementation": _("implementation"),
    "advisory.advisorymaterial": _("advisory material"),
    "training.trainingmodule": _("training module"),
    "approvals.approval": _("approval"),
    "approvals.decision": _("decision"),
    "documents.documentversion": _("document version"),
}


#: Notification kind (``Notification.kind``) -> what the message is about.
NOTIFICATION_LABELS = {
    "approval_requested": _("decision requested"),
    "decision_recorded": _("decision recorded"),
    "approval_approved": _("document approved"),
    "approval_rejected": _("document rejected"),
    "deadline_reminder": _("reminder"),
    "deadline_escalation": _("overdue"),
}


def notification_label(kind: str) -> str:
    """What a notification of ``kind`` is about, in the active language; ``kind`` when unknown."""
    label = NOTIFICATION_LABELS.get(kind)
    return str(label) if label is not None else kind


def model_label(model) -> str:
    """The name of ``model`` (a model class, an instance or ``"app_label.model_name"``) for
    people, in the active language; the model's ``verbose_name`` when it has no label here."""
    if isinstance(model, str):
        key = model.lower()
        label = MODEL_LABELS.get(key)
        if label is not None:
            return str(label)
        try:
            model = apps.get_model(key)
        except (LookupError, ValueError):
            return model
    key = model._meta.label_lower
    return str(MODEL_LABELS.get(key, model._meta.verbose_name))


def transition_label(name: str) -> str:
    """The label of the transition (or audit event, :data:`EVENT_LABELS`) ``name`` in the
    active language; ``name`` itself when unknown."""
    label = TRANSITION_LABELS.get(name, EVENT_LABELS.get(name))
    return str(label) if label is not None else name


@functools.cache
def _state_choices(object_type: str) -> dict[str, object]:
    """``{value: lazy label}`` of the FSM state field(s) of the model ``app_label.model_name``
    (as stored in audit entries); empty for an unknown model."""
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return {}
    choices: dict[str, object] = {}
    for field in model._meta.get_fields():
        if isinstance(field, FSMFieldMixin):
            choices.update({str(value): label for value, label in field.flatchoices})
    return choices


def state_label(code: str, object_type: str = "rounds.case") -> str:
    """The label of the state value ``code`` of the model ``object_type`` (``app_label.model_name``,
    default the case) in the active language; ``code`` itself when the model or value is unknown
    (e.g. ``""`` before the first state)."""
    label = _state_choices(str(object_type).lower()).get(str(code))
    return str(label) if label is not None else code
