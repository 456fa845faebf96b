"""Selection services: score sheets, ranking, the commission decision."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from workflow import audit
from workflow.permissions import EXPERT
from workflow.tasks import open_task, take
from workflow.transitions import perform

from processes.reasons import DATA_KEY, coded, english
from processes.rounds.paperwork import format_number, generate

from .models import EXPERTS_PER_APPLICATION, Score, ScoreSheet, Selection
from .scoring import ranked
from .selectors import decision_text

SCORING_TASK_TITLE = gettext_noop("Score the application")
#: The transitions that end an expert's scoring task (the task is opened on the first).
SCORING_OUTCOMES = ("submit", "declare_conflict")


@transaction.atomic
def open_scoring(*, application, experts) -> Selection:
    """Create the selection of an accepted application and one draft sheet per expert.

    Each draft sheet gets a scoring task assigned to its expert (``submit``, or
    ``declare_conflict`` for a conflict of interest; the expert queue when unassigned). Idempotent: existing rows and open tasks are
    reused. A new selection gets its coordinators' task (``Selection.task_plan``).

    Raises ``ValueError`` with fewer than 2 experts and
    :class:`~workflow.exceptions.TransitionNotAllowed` (409) unless the application is accepted
    and its case is in the ``selection`` stage (scoring never runs while the case says
    ``submission``), or when a new expert is given once the selection has left ``scoring``
    ("scoring is closed": ``ScoreSheet.closed_reason``; a repeated call assigns nobody).
    """
    from workflow.exceptions import TransitionNotAllowed
    from workflow.tasks import follow_up

    from .models import scoring_closed_reason

    # 409 for a new expert once the selection has left scoring (a repeated call assigns nobody)
    closed = scoring_closed_reason(application.pk)
    assigned = set(ScoreSheet.objects.filter(application=application).values_list("expert_id", flat=True))
    if closed and any(expert.pk not in assigned for expert in experts):
        raise TransitionNotAllowed(closed, obj=application, transition="open_scoring", state=application.state)
    if len(experts) < EXPERTS_PER_APPLICATION:
        raise ValueError(f"an application needs {EXPERTS_PER_APPLICATION} experts, got {len(experts)}")
    case = application.case
    if application.state != "accepted" or case.state != "selection":
        raise TransitionNotAllowed(
            _("%(case)s cannot be scored now: its application is %(application)s and the case is in %(stage)s; "
              "only an accepted application of a case in selection is scored") % {
                "case": case.ref, "application": application.get_state_display(),
                "stage": case.get_state_display()}, obj=application, transition="open_scoring", state=case.state)
    selection, created = Selection.objects.get_or_create(application=application,
                                                         defaults={"round": application.round})
    if created:
        follow_up(selection)
    for expert in experts:
        sheet, _sheet_created = ScoreSheet.objects.get_or_create(application=application, expert=expert)
        if sheet.state == ScoreSheet.State.DRAFT:
            open_task(sheet, "submit", title=SCORING_TASK_TITLE, role=EXPERT, assignee=expert,
                      due_at=application.round.due_at("expert_scoring"),
                      outcomes=SCORING_OUTCOMES)
    return selection


@transaction.atomic
def save_draft_scores(*, sheet: ScoreSheet, scores: dict[str, tuple[int | None, str]], actor) -> ScoreSheet:
    """Keep an expert's work on a draft sheet without submitting it.

    ``scores`` maps a criterion code to ``(value 0..10 or None, comment)``; ``None`` removes
    that criterion's score (not scored yet). Only the sheet's own expert may save, and only
    while the sheet is a draft. Writes a ``scores_saved`` audit entry naming the criteria
    changed (none when nothing changed). Raises ``ValueError`` for an unknown criterion or a
    value outside 0..10, :class:`~workflow.exceptions.TransitionPermissionDenied` (403) for
    anyone else, :class:`~workflow.exceptions.TransitionNotAllowed` (409) once the sheet is
    submitted or recused or scoring is closed (``ScoreSheet.closed_reason``); on error nothing
    is kept.
    """
    from workflow.exceptions import TransitionNotAllowed, TransitionPermissionDenied

    locked = ScoreSheet.objects.select_for_update().select_related("application__round").get(pk=sheet.pk)
    if actor is None or locked.expert_id != getattr(actor, "pk", None):
        raise TransitionPermissionDenied(_("%(user)s may not change the score sheet %(sheet)s: it is not theirs") % {
                                         "user": actor, "sheet": locked},
                                         obj=locked, transition="save_scores", state=locked.state)
    if locked.state != ScoreSheet.State.DRAFT:
        raise TransitionNotAllowed(_("the score sheet %(sheet)s is %(state)s; only a draft can be changed") % {
                                   "sheet": locked, "state": locked.get_state_display()},
                                   obj=locked, transition="save_scores", state=locked.state)
    closed = locked.closed_reason("save_scores")
    if closed:
        raise TransitionNotAllowed(closed, obj=locked, transition="save_scores", state=locked.state)
    criteria = {c.code: c for c in locked.application.round.criteria.all()}
    # The sheet's row lock (above) serialises savers of this sheet: the scores read here stay
    # current, and the changes are written in at most three statements, not three per criterion.
    existing = {s.criterion_id: s for s in locked.scores.all()}
    changed, created, updated, removed = [], [], [], []
    for code, (value, comment) in sorted(scores.items()):
        if code not in criteria:
            raise ValueError(_("unknown criterion %(code)s; the round has %(criteria)s") % {
                "code": repr(code), "criteria": ", ".join(criteria)})
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10):
            raise ValueError(_("score for %(code)s must be a whole number 0..10, got %(value)s") % {
                "code": code, "value": repr(value)})
        criterion, current = criteria[code], existing.get(criteria[code].pk)
        if value is None:
            if current is not None:
                removed.append(current.pk)
                changed.append(code)
        elif current is None:
            created.append(Score(sheet=locked, criterion=criterion, value=value, comment=comment))
            changed.append(code)
        elif (current.value, current.comment) != (value, comment):
            current.value, current.comment = value, comment
            updated.append(current)
            changed.append(code)
    if removed:
        Score.objects.filter(pk__in=removed).delete()
    if created:
        Score.objects.bulk_create(created)
    if updated:
        Score.objects.bulk_update(updated, ["value", "comment"])
    if changed:
        audit.append_entry(chain=locked.audit_chain, actor=actor, object_type="selection.scoresheet",
                           object_id=str(locked.pk), object_repr=str(locked), transition="scores_saved",
                           from_state=locked.state, to_state=locked.state, data={"criteria": changed})
    sheet.refresh_from_db()
    return sheet


@transaction.atomic
def submit_score_sheet(*, sheet: ScoreSheet, scores: dict[str, tuple[int, str]], actor,
                       comment: str = "") -> ScoreSheet:
    """Record ``scores`` (criterion code -> (value 0..10, comment)) and submit the sheet.

    Completes the sheet's scoring task when ``actor`` holds it (:func:`workflow.tasks.take`).
    Generates the expert score sheet document. Raises ``ValueError`` for an unknown
    criterion or a value outside 0..10, and the workflow errors of ``perform``; on error
    nothing is kept; :class:`~workflow.exceptions.TransitionNotAllowed` (409) once scoring is
    closed (``ScoreSheet.closed_reason``), before anything is written.
    """
    from workflow.exceptions import TransitionNotAllowed

    closed = sheet.closed_reason("submit")
    if closed:
        raise TransitionNotAllowed(closed, obj=sheet, transition="submit", state=sheet.state)
    criteria = {c.code: c for c in sheet.application.round.criteria.all()}
    for code, (value, comment) in scores.items():
        if code not in criteria:
            raise ValueError(_("unknown criterion %(code)s; the round has %(criteria)s") % {
                "code": repr(code), "criteria": ", ".join(criteria)})
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
            raise ValueError(_("score for %(code)s must be a whole number 0..10, got %(value)s") % {
                "code": code, "value": repr(value)})
        Score.objects.update_or_create(sheet=sheet, criterion=criteria[code],
                                       defaults={"value": value, "comment": comment})
    take(sheet, "submit", actor=actor, comment=comment, route=False,
         data={"scores": {c: v for c, (v, _) in scores.items()}})
    case = sheet.application.case
    language = case.language
    rows = []
    for score in sheet.scores.select_related("criterion"):
        c = score.criterion
        rows.append({"code": c.code, "title": c.title(language), "weight": c.weight, "value": score.value,
                     "weighted": format_number(score.value * c.weight / 10, language), "comment": score.comment})
    generate(rnd=case.round, case=case, kind="score_sheet", stage="selection", actor=actor, key=actor.get_username(),
             context={"expert": {"name": actor.get_full_name() or actor.get_username()},
                      "application": {"ref": sheet.application.ref, "name": case.name()},
                      "scores": rows, "total": format_number(sheet.total, language)})
    return sheet


def take_routed(sheet: ScoreSheet, transition: str, *, actor, comment: str = "", data=None) -> ScoreSheet:
    """Take ``transition`` of ``sheet`` the way every path does (``ScoreSheet.take_task_transition``).

    ``submit`` needs the scores, which a task completion does not carry: the scores the expert
    saved on the draft (the expert's sheet page, ``PATCH /api/score-sheets/<id>/``) are
    submitted with :func:`submit_score_sheet` (weighted total, the score sheet document);
    while a criterion has no score it is refused with
    :class:`~workflow.exceptions.ConditionUnmet` (400) naming where to score, and nothing
    changes. A closed scoring (409), a wrong state (409) or another user (403) is refused
    first, as ``perform`` does. Any other transition (``declare_conflict``) is taken with
    ``perform``. Returns ``sheet``.
    """
    from workflow.exceptions import ConditionUnmet
    from workflow.tasks import ensure_allowed
    from workflow.transitions import describe, transition_name

    if transition not in ScoreSheet.routed_transitions:
        return perform(sheet, transition, actor=actor, comment=comment, data=data)
    try:
        ensure_allowed(sheet, transition, actor=actor)
    except ConditionUnmet as exc:
        # read by people too (the inbox): the page, not the API's PATCH /api/score-sheets/<id>/
        reason = _("every criterion of the round needs a score: score the sheet on its page (%(page)s), then "
                   "submit it") % {"page": f"/expert/sheets/{sheet.pk}/"}
        raise ConditionUnmet(_("cannot %(transition)s %(object)s: %(reason)s") % {
            "transition": transition_name(transition), "object": describe(sheet), "reason": reason},
            reason=reason, obj=sheet, transition=transition, state=sheet.state) from exc
    saved = {s.criterion.code: (s.value, s.comment) for s in sheet.scores.select_related("criterion")}
    return submit_score_sheet(sheet=sheet, scores=saved, actor=actor, comment=comment)


@transaction.atomic
def compute_ranking(*, rnd, actor) -> list[Selection]:
    """Rank the round's scored selections (see ``scoring``) and record ranks; return them in order.

    Writes a ``ranking_computed`` audit entry on the round's chain listing (ref, score, rank).
    """
    selections = list(rnd.selections.select_related("application").exclude(score=None))
    order = ranked(selections, list(rnd.criteria.all()))
    for rank, selection in enumerate(order, 1):
        if selection.rank != rank:
            Selection.objects.filter(pk=selection.pk).update(rank=rank)
            selection.rank = rank
    audit.append_entry(chain=rnd.audit_chain, actor=actor, object_type="rounds.round", object_id=str(rnd.pk),
                       object_repr=str(rnd), transition="ranking_computed", from_state=rnd.state, to_state=rnd.state,
                       data={"ranking": [{"ref": s.application.ref, "score": str(s.score), "rank": s.rank}
                                         for s in order]})
    return order


def decide(*, selection: Selection, actor) -> Selection:
    """Select the cluster when its score reaches the pass mark and its rank is within the
    round's places; otherwise record it as not selected with the reason. Returns it.

    The reason is a coded message (:mod:`processes.reasons`) in the audit entry's
    ``data["message"]``, its English text the entry's comment and ``decision_reason``."""
    rnd = selection.round
    if selection.score >= rnd.pass_mark and selection.rank <= rnd.max_selected:
        message = coded("score_reaches_pass_mark", score=selection.score, pass_mark=rnd.pass_mark,
                        rank=selection.rank)
        return perform(selection, "select", actor=actor, comment=english(message), data={DATA_KEY: message})
    if selection.score < rnd.pass_mark:
        message = coded("score_below_pass_mark", score=selection.score, pass_mark=rnd.pass_mark)
    else:
        message = coded("rank_beyond_places", rank=selection.rank, places=rnd.max_selected)
    return perform(selection, "reject", actor=actor, comment=english(message), data={DATA_KEY: message})


def _decision_participants(rnd, actor) -> list[tuple[object, str]]:
    """``[(user, organisation)]`` of the round's decision: ``actor`` (who recorded it), then each
    user who took a ``discuss`` of the round's selections (first one first); a partner
    coordinator stands for ``rnd.partner``, anybody else for ``rnd.operator``."""
    from django.contrib.auth import get_user_model

    from workflow.models import AuditEntry
    from workflow.permissions import PARTNER_COORDINATOR, has_role

    refs = list(rnd.cases.values_list("ref", flat=True))
    ids = []
    for actor_id in (AuditEntry.objects.filter(chain__in=refs, object_type="selection.selection", transition="discuss")
                     .exclude(actor_id=None).order_by("created_at", "pk").values_list("actor_id", flat=True)):
        if actor_id not in ids and actor_id != getattr(actor, "pk", None):
            ids.append(actor_id)
    users = get_user_model().objects.in_bulk(ids)
    people = [actor] + [users[i] for i in ids if i in users]
    return [(u, rnd.partner if has_role(u, PARTNER_COORDINATOR) and not has_role(u, "coordinator") else rnd.operator)
            for u in people]


def generate_selection_minutes(*, rnd, actor):
    """Generate the round's ranking and selection minutes (``selection_minutes``, the round's
    language): every selection in rank order with its score (0..100), outcome and divergent
    criteria, the applications refused at submission with their reason, and the participants
    (:func:`_decision_participants`). Called when the round is decided (``Round.after_transition``).
    Returns the document version."""
    from processes.rounds.paperwork import outcome

    lang = rnd.language
    selections = rnd.selections.select_related("application__case").order_by("rank")
    return generate(rnd=rnd, kind="selection_minutes", stage="selection", actor=actor, context={
        "pass_mark": str(rnd.pass_mark), "max_selected": rnd.max_selected,
        "ranking": [{"rank": s.rank, "ref": s.application.ref, "name": s.application.case.name(lang),
                     "score": str(s.score), "decision": outcome(s.state, lang),
                     "flag": ", ".join(s.divergent_criteria)} for s in selections],
        "refused": [{"ref": a.ref, "name": a.case.name(lang), "reason": a.refusal_detail}
                    for a in rnd.applications.filter(state="refused").select_related("case")],
        "participants": [{"name": u.get_full_name() or u.get_username(), "role": role}
                         for u, role in _decision_participants(rnd, actor)],
    })


def generate_decision_notices(*, rnd, actor) -> list:
    """Generate a decision notice (in the case's language) for every scored application of the
    round: its outcome (selected / not selected), the decision's reason (else its rank and
    score), score and rank. Called when the results are published (``Round.after_transition``).
    Returns the document versions."""
    from processes.rounds.paperwork import outcome
    from processes.submission.services import generate_decision_notice

    versions = []
    for selection in rnd.selections.select_related("application__case"):
        application = selection.application
        versions.append(generate_decision_notice(
            application=application, decision=outcome(selection.state, application.case.language),
            reason=decision_text(selection, language=application.case.language), actor=actor))
    return versions
