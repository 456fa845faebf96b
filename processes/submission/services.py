"""Submission services: create, submit and check applications."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from workflow import audit
from workflow.permissions import COORDINATOR
from workflow.tasks import open_task, take
from workflow.transitions import perform

from processes.reasons import DATA_KEY, coded, english
from processes.rounds.models import Case

from .models import Application, RefusalReason, excluded_sector, missing_fields

FIGURES = ("anchor_enterprises", "smes", "employees", "export_share_pct", "research_partners")


@transaction.atomic
def create_application(*, round, values: dict, actor) -> Application:
    """Create a case and its draft application from ``values`` (one entry of a round file).

    Returns the application; writes a ``case_created`` audit entry opening the case's chain.
    """
    ref = values["ref"]
    case = Case.objects.create(
        round=round, ref=f"{round.code}/{ref}", number=ref, name_en=values["name_en"],
        name_ru=values.get("name_ru", ""), name_kk=values.get("name_kk", ""), language=round.language,
    )
    application = Application.objects.create(
        case=case, round=round, ref=ref, name_en=values["name_en"], name_ru=values.get("name_ru", ""),
        name_kk=values.get("name_kk", ""), region=values.get("region", ""), city=values.get("city", ""),
        sector=values.get("sector", ""), members_named=values.get("members_named", []),
        labels={k: values[k] for k in ("status_label", "label") if k in values},
        **{k: values.get(k) for k in FIGURES},
    )
    audit.append_entry(chain=case.audit_chain, actor=actor, object_type="rounds.case", object_id=str(case.pk),
                       object_repr=str(case), transition="case_created", from_state="", to_state=case.state,
                       data={"application": ref, "name_en": values["name_en"]})
    return application


class ApplicationInvalid(ValueError):
    """The application's values are refused; ``problems`` maps a field name (or ``""``) to a
    human message. Views answer it with HTTP 400 and the messages."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in problems.items()))


#: Fields an applicant fills in (text limits from the round file's rules, counts >= 0).
EDITABLE_TEXT = {"name_en": 300, "name_ru": 300, "name_kk": 300, "region": 200, "city": 200, "sector": 200}
EDITABLE_FIELDS = tuple(EDITABLE_TEXT) + FIGURES
MAX_COUNT = 2**31 - 1


def clean_application_values(values: dict, *, partial: bool = False) -> dict:
    """Check and normalise an applicant's ``values`` (field -> text or number); return the
    cleaned dict of :data:`EDITABLE_FIELDS` present.

    Text is stripped, control characters refused, lengths capped as in the round file;
    counts (``anchor_enterprises``, ``smes``, ``employees``, ``research_partners``) are whole
    numbers 0..2**31-1, ``export_share_pct`` a number 0..100 with at most 2 decimals; an empty
    value clears a figure. Unless ``partial``, ``name_en`` is required. Raises
    :class:`ApplicationInvalid` listing every problem; unknown fields are problems too.
    """
    from decimal import Decimal, InvalidOperation

    problems: dict[str, str] = {}
    cleaned: dict = {}
    for key in sorted(set(values) - set(EDITABLE_FIELDS)):
        problems[key] = _("unknown field")
    for key, limit in EDITABLE_TEXT.items():
        if key not in values:
            continue
        text = values[key]
        if text is None:
            text = ""
        if not isinstance(text, str):
            problems[key] = _("must be text")
            continue
        text = text.strip()
        if any(ord(ch) < 32 for ch in text):
            problems[key] = _("control characters are not allowed")
        elif len(text) > limit:
            problems[key] = _("at most %(limit)s characters") % {"limit": limit}
        else:
            cleaned[key] = text
    for key in FIGURES:
        if key not in values:
            continue
        raw = values[key]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            cleaned[key] = None
            continue
        if key == "export_share_pct":
            try:
                number = Decimal(str(raw).strip().replace(",", "."))
            except InvalidOperation:
                problems[key] = _("must be a number from 0 to 100")
                continue
            if not number.is_finite() or not (0 <= number <= 100) or number != number.quantize(Decimal("0.01")):
                problems[key] = _("must be a number from 0 to 100 with at most 2 decimals")
            else:
                cleaned[key] = number
            continue
        if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit())):
            problems[key] = _("must be a whole number >= 0")
            continue
        number = int(raw)
        if not 0 <= number <= MAX_COUNT:
            problems[key] = _("must be a whole number from 0 to %(max)s") % {"max": MAX_COUNT}
        else:
            cleaned[key] = number
    if not partial and not cleaned.get("name_en"):
        problems.setdefault("name_en", _("the cluster's name (English) is required"))
    if problems:
        raise ApplicationInvalid(problems)
    return cleaned


@transaction.atomic
def file_new_application(*, round, applicant, values: dict, language: str | None = None) -> Application:
    """An applicant starts a new application to ``round``: a case numbered ``A<n>`` (the next
    free number in the round) with ``applicant`` as its owner and a draft application holding
    ``values`` (see :func:`clean_application_values`); the applicant then files it with
    :func:`submit_application`. ``language`` (kk, ru or en; default the round's) is the case's
    document language.

    Raises :class:`ApplicationInvalid` for bad values, and when the round is not open for
    applications (409 in the views: :class:`~workflow.exceptions.TransitionNotAllowed`).
    Writes a ``case_created`` audit entry.
    """
    from django.conf import settings

    from processes.rounds.models import Round
    from workflow.exceptions import TransitionNotAllowed

    cleaned = clean_application_values(values)
    if language is not None and language not in dict(settings.LANGUAGES):
        raise ApplicationInvalid({"language": _("must be one of %(languages)s") % {"languages": ", ".join(dict(settings.LANGUAGES))}})
    rnd = Round.objects.select_for_update().get(pk=round.pk)
    if rnd.state != Round.State.OPEN:
        raise TransitionNotAllowed(_("round %(round)s is not open for applications (it is %(state)s)") % {
            "round": rnd.code, "state": rnd.get_state_display()}, obj=rnd, transition="file_application",
            state=rnd.state)
    numbers = [int(n[1:]) for n in Case.objects.filter(round=rnd).values_list("number", flat=True)
               if n[:1] == "A" and n[1:].isdigit()]
    ref = f"A{max(numbers, default=0) + 1}"
    application = create_application(round=rnd, values={"ref": ref, **{k: v for k, v in cleaned.items()
                                                                       if k in EDITABLE_TEXT}}, actor=applicant)
    for key in FIGURES:
        setattr(application, key, cleaned.get(key))
    application.save()
    case = application.case
    Case.objects.filter(pk=case.pk).update(applicant=applicant, language=language or rnd.language)
    case.refresh_from_db()
    return application


@transaction.atomic
def update_application(*, application: Application, values: dict, actor) -> Application:
    """Change the fields of a draft application, or of one returned for revision (the answer
    to a request for revision, before :func:`resubmit_application`). Allowed for the case's
    applicant and coordinators; writes an ``application_updated`` audit entry naming the
    fields changed.

    Raises :class:`ApplicationInvalid` for bad values,
    :class:`~workflow.exceptions.TransitionPermissionDenied` (403) for anyone else, and
    :class:`~workflow.exceptions.TransitionNotAllowed` (409) in any other state.
    """
    from workflow.exceptions import TransitionNotAllowed, TransitionPermissionDenied
    from workflow.permissions import PARTNER_COORDINATOR, has_role

    locked = Application.objects.select_for_update().select_related("case").get(pk=application.pk)
    owner = locked.case.applicant_id is not None and locked.case.applicant_id == getattr(actor, "pk", None)
    if not (owner or has_role(actor, COORDINATOR, PARTNER_COORDINATOR)):
        raise TransitionPermissionDenied(_("%(user)s may not change application %(application)s") % {
            "user": actor, "application": locked}, obj=locked, state=locked.state,
                                         transition="update")
    if locked.state not in (Application.State.DRAFT, Application.State.RETURNED_FOR_REVISION):
        raise TransitionNotAllowed(_("application %(application)s cannot be changed in state %(state)s") % {
            "application": locked, "state": locked.get_state_display()}, obj=locked, transition="update",
            state=locked.state)
    cleaned = clean_application_values(values, partial=True)
    changed = sorted(k for k, v in cleaned.items() if getattr(locked, k) != v)
    for key in changed:
        setattr(locked, key, cleaned[key])
    if changed:
        locked.save(update_fields=changed)
        audit.append_entry(chain=locked.audit_chain, actor=actor, object_type="submission.application",
                           object_id=str(locked.pk), object_repr=str(locked), transition="application_updated",
                           from_state=locked.state, to_state=locked.state, data={"fields": changed})
    application.refresh_from_db()
    return application


#: The transitions that end a completeness check (the task is opened on the first).
COMPLETENESS_OUTCOMES = ("accept", "return_for_revision", "refuse")
COMPLETENESS_TASK_TITLE = gettext_noop("Check completeness and eligibility")


def open_completeness_task(*, application: Application):
    """Open (or return) the coordinators' completeness-check task of a filed ``application``.

    One task bound to the application, opened on ``accept`` with ``return_for_revision`` and
    ``refuse`` as the other outcomes; it waits in the coordinator queue and is completed by
    :func:`check_completeness` (or closed by whichever of these transitions is taken).
    """
    return open_task(application, "accept", title=COMPLETENESS_TASK_TITLE, role=COORDINATOR,
                     due_at=application.round.due_at("completeness_check"),
                     outcomes=COMPLETENESS_OUTCOMES)


@transaction.atomic
def submit_application(*, application: Application, actor, comment: str = "") -> Application:
    """The applicant files ``application`` (``draft -> submitted``); see ``Application.submit``.

    Opens the completeness-check task in the coordinators' queue.
    """
    perform(application, "submit", actor=actor, comment=comment)
    open_completeness_task(application=application)
    return application


@transaction.atomic
def resubmit_application(*, application: Application, actor, comment: str = "") -> Application:
    """The applicant files the revised ``application`` (``returned_for_revision -> resubmitted``).

    Opens a new completeness-check task in the coordinators' queue.
    """
    perform(application, "resubmit", actor=actor, comment=comment)
    open_completeness_task(application=application)
    return application


@transaction.atomic
def check_completeness(*, application: Application, actor) -> Application:
    """The coordinator's completeness and eligibility check of a submitted application, judged
    by the round's rules (the scripted check of ``run_cycle``).

    Refuses an application from an excluded sector (reason ``excluded_sector``), returns an
    incomplete one for revision, and accepts the rest. The decision completes the
    application's completeness-check task when ``actor`` holds it or may claim it
    (:func:`workflow.tasks.take`); its consequences (the case moves on, the receipt and the
    decision notice) are those of every other path, see :func:`completeness_decided`. Returns
    the application in its new state.
    """
    sector = excluded_sector(application)
    if sector is not None:
        message = coded("excluded_sector", sector=application.sector, excluded=sector)
        detail = english(message)
        take(application, "refuse", actor=actor, comment=detail,
             data={"reason": RefusalReason.EXCLUDED_SECTOR, "detail": detail, "excluded_sector": sector,
                   DATA_KEY: message})
        return application
    missing = missing_fields(application)
    if missing:
        message = coded("incomplete", fields=", ".join(missing))
        take(application, "return_for_revision", actor=actor, comment=english(message),
             data={"missing": missing, DATA_KEY: message})
        return application
    message = coded("complete_and_eligible")
    take(application, "accept", actor=actor, comment=english(message), data={DATA_KEY: message})
    return application


#: The application transitions that end its completeness check for good (accepted or refused).
COMPLETENESS_DECISIONS = ("accept", "refuse", "lapse")


def completeness_decided(*, application: Application, transition: str, actor, comment: str = "") -> None:
    """The consequences of a completeness decision, the same on every path (inbox task, API,
    the coordinator's work page, ``run_cycle``, an expiry rule): called by
    ``Application.after_transition`` inside the transition's transaction.

    ``accept``: the application receipt is generated (once per case, :func:`ensure_receipt`)
    and the case moves on to ``selection`` (``advance_to_selection``), where the coordinator
    assigns the experts. ``refuse`` / ``lapse``: the receipt and the decision notice (outcome
    refused, the refusal reason) are generated and the case is refused (``Case.refuse``, the
    comment is the refusal detail). Each case transition goes through ``perform`` as
    ``actor`` and is audited; a case no longer in ``submission`` (e.g. withdrawn) is left as
    it is. Other transitions do nothing.
    """
    from processes.rounds.paperwork import outcome

    if transition not in COMPLETENESS_DECISIONS:
        return
    case = application.case
    ensure_receipt(application=application, actor=actor)
    if transition == "accept":
        if case.state == Case.State.SUBMISSION:
            perform(case, "advance_to_selection", actor=actor)
        return
    reason = _refusal_text(application, transition=transition, language=case.language)
    generate_decision_notice(application=application, decision=outcome("refused", case.language), reason=reason,
                             actor=actor)
    if case.state == Case.State.SUBMISSION:
        from processes.reasons import latest_message  # the refusal's coded reason, shown in the reader's language

        message = latest_message(chain=case.ref, object_type="submission.application", object_id=application.pk,
                                 transitions=(transition,))
        perform(case, "refuse", actor=actor, comment=comment or reason, data={DATA_KEY: message} if message else None)


def _refusal_text(application: Application, *, transition: str, language: str) -> str:
    """Why ``application`` was refused, in ``language`` (the decision notice's): the coded
    message of its ``refuse``/``lapse`` audit entry when the engine wrote one
    (:mod:`processes.reasons`), else the refusal detail as written, else the reason's label."""
    from django.utils import translation

    from processes.reasons import render
    from workflow.models import AuditEntry

    entry = (AuditEntry.objects.filter(chain=application.audit_chain, object_type="submission.application",
                                             object_id=str(application.pk), transition=transition)
             .order_by("-seq").first())
    fallback = application.refusal_detail
    if not fallback and application.refusal_reason in RefusalReason.values:
        with translation.override(language):
            fallback = str(RefusalReason(application.refusal_reason).label)
    return render((entry.data or {}).get(DATA_KEY) if entry is not None else None, language=language,
                  fallback=fallback)


def ensure_receipt(*, application: Application, actor):
    """The application receipt of ``application``'s case: generated by :func:`generate_receipt`
    unless the case already has one; returns the current version."""
    from documents.models import Document

    existing = Document.objects.filter(owner_ref=application.case.ref, kind="application_receipt").first()
    if existing is not None and existing.current_version is not None:
        return existing.current_version
    return generate_receipt(application=application, actor=actor)


def generate_receipt(*, application: Application, actor):
    """Generate the application receipt for a submitted application; return the version."""
    from django.utils import timezone

    from processes.rounds.paperwork import format_number, generate

    case = application.case
    lang = case.language
    submitted = timezone.localtime(application.submitted_at).strftime("%d.%m.%Y %H:%M") if application.submitted_at else ""
    return generate(rnd=case.round, case=case, kind="application_receipt", stage="submission", actor=actor, context={
        "application": {"ref": application.ref, "name": case.name(), "region": application.region,
                        "city": application.city, "sector": application.sector,
                        "anchor_enterprises": application.anchor_enterprises, "smes": application.smes,
                        "employees": application.employees,
                        "export_share_pct": format_number(application.export_share_pct, lang)
                        if application.export_share_pct is not None else "",
                        "research_partners": application.research_partners, "submitted_at": submitted},
        "received_by": case.round.operator})


def generate_decision_notice(*, application: Application, decision: str, reason: str, actor):
    """Generate the decision notice to the applicant (``decision`` and ``reason`` as text)."""
    from processes.rounds.paperwork import format_number, generate

    case = application.case
    selection = getattr(application, "selection", None)  # RelatedObjectDoesNotExist is an AttributeError
    score = rank = ""
    if selection is not None:
        score = format_number(selection.score, case.language) if selection.score is not None else ""
        rank = str(selection.rank or "")
    return generate(rnd=case.round, case=case, kind="decision_notice", stage="selection", actor=actor, context={
        "application": {"ref": application.ref, "name": case.name()}, "decision": decision, "reason": reason,
        "score": score, "rank": rank})
