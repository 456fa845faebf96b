"""The expert's pages: its own score sheets (``portal:expert``, ``expert/``) and one sheet
(``portal:score-sheet``, ``expert/sheets/<pk>/``).

A sheet shows each criterion of the round with its weight (percent of the 0..100 total) and
its title in the page's language beside the score input (a whole number 0..10) and a comment.
The POST ``action`` is one of

* ``save`` — keep a draft (:func:`processes.selection.services.save_draft_scores`; an empty
  score means "not scored yet");
* ``submit`` — every criterion needs a score; the sheet is submitted and its weighted total
  frozen (:func:`processes.selection.services.submit_score_sheet`, which completes the
  expert's scoring task);
* ``conflict`` — declare a conflict of interest with a note (``conflict_note``, required):
  the sheet is recused through :func:`workflow.tasks.take` (``declare_conflict``).

A score that is not a whole number, outside 0..10, missing on submit, or a comment over
4000 characters re-renders the form with a message per field, answered 400; so does a
``score-<code>`` or ``comment-<code>`` of a criterion the round does not have; nothing is
saved. Once scoring is closed (the selection has left ``scoring``) every action is a 409. Only experts reach these pages (403 otherwise); another expert's sheet is 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from processes.selection import services as selection
from processes.selection.models import ScoreSheet
from workflow import tasks as human_tasks
from workflow.exceptions import WorkflowError

from .common import EXPERT_ROLES, MAX_TEXT, problem, require_role

ACTIONS = ("save", "submit", "conflict")


def own_sheets(user):
    """``user``'s score sheets (never another expert's), newest round first, with the case and
    round joined and ``scored`` (criteria with a score) and ``criteria_count`` annotated."""
    return (ScoreSheet.objects.filter(expert_id=user.pk)
            .select_related("application__case__round")
            .annotate(scored=Count("scores", distinct=True),
                      criteria_count=Count("application__round__criteria", distinct=True))
            .order_by("-application__round__applications_open", "application__round__code", "application__ref"))


@require_safe
@login_required
def expert(request):
    """The expert's score sheets with their state and progress; 403 for other roles."""
    require_role(request.user, *EXPERT_ROLES)
    return render(request, "portal/roles/expert.html", {"sheets": own_sheets(user=request.user)})


def _sheet_or_404(request, pk: int) -> ScoreSheet:
    sheet = (ScoreSheet.objects.select_related("application__case__round", "expert")
             .filter(pk=pk, expert_id=request.user.pk).first())
    if sheet is None:
        raise Http404(_("No such score sheet of yours."))
    return sheet


def parse_scores(post, criteria, *, require_all: bool) -> tuple[dict, dict]:
    """Read ``score-<code>`` and ``comment-<code>`` of every criterion from ``post``.

    Returns ``(scores, errors)``: ``scores`` maps a code to ``(int or None, comment)``;
    ``errors`` maps a code to a message (not a whole number, outside 0..10, missing when
    ``require_all``, comment too long).
    """
    scores, errors = {}, {}
    for criterion in criteria:
        raw = post.get(f"score-{criterion.code}", "").strip()
        comment = post.get(f"comment-{criterion.code}", "").strip()
        if len(comment) > MAX_TEXT:
            errors[criterion.code] = _("The comment has more than %(limit)s characters.") % {"limit": MAX_TEXT}
            continue
        if not raw:
            if require_all:
                errors[criterion.code] = _("A score is required to submit the sheet.")
            scores[criterion.code] = (None, comment)
            continue
        if not (raw.isascii() and raw.isdigit()):
            errors[criterion.code] = _("“%(value)s” is not a whole number from 0 to 10.") % {"value": raw[:20]}
            continue
        value = int(raw)
        if not 0 <= value <= 10:
            errors[criterion.code] = _("%(value)s is outside 0–10.") % {"value": value}
            continue
        scores[criterion.code] = (value, comment)
    return scores, errors


def _rows(sheet: ScoreSheet, criteria, posted=None, errors=None) -> list[dict]:
    """One row per criterion: the criterion, its title, the value and comment to show, its error."""
    language = get_language() or "en"
    saved = {s.criterion_id: s for s in sheet.scores.all()}
    rows = []
    for criterion in criteria:
        score = saved.get(criterion.pk)
        if posted is not None:
            value = posted.get(f"score-{criterion.code}", "")
            comment = posted.get(f"comment-{criterion.code}", "")
        else:
            value = "" if score is None else str(score.value)
            comment = "" if score is None else score.comment
        rows.append({"criterion": criterion, "title": criterion.title(language[:2]), "value": value,
                     "comment": comment, "error": (errors or {}).get(criterion.code, "")})
    return rows


def _render(request, sheet, criteria, *, posted=None, errors=None, general=None, status=200):
    return render(request, "portal/roles/score_sheet.html", {
        "sheet": sheet,
        "case": sheet.application.case,
        "rows": _rows(sheet, criteria, posted, errors),
        "errors": errors or {},
        "general": general or [],
        "conflict_note": (posted or {}).get("conflict_note", ""),
        "editable": sheet.state == ScoreSheet.State.DRAFT,
        "weights_total": sum(c.weight for c in criteria),
    }, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def score_sheet(request, pk: int):
    """One of the expert's own score sheets: show it, save a draft, submit it, or declare a
    conflict of interest (see the module docstring for the form and its answers)."""
    require_role(request.user, *EXPERT_ROLES)
    sheet = _sheet_or_404(request, pk)
    criteria = list(sheet.application.round.criteria.order_by("position"))
    if request.method != "POST":
        return _render(request, sheet, criteria)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return _render(request, sheet, criteria, posted=request.POST, status=400,
                       general=[_("Choose save, submit or declare a conflict of interest.")])
    codes = [c.code for c in criteria]
    unknown = sorted({key.split("-", 1)[1] for key in request.POST
                      if key.startswith(("score-", "comment-")) and key.split("-", 1)[1] not in codes})
    if unknown:  # as the API and the service: a score for a criterion the round lacks is refused
        return _render(request, sheet, criteria, posted=request.POST, status=400, general=[_(
            "unknown criterion %(code)s; the round has %(criteria)s") % {
            "code": repr(unknown[0]), "criteria": ", ".join(codes)}])
    if sheet.state != ScoreSheet.State.DRAFT:
        return problem(request, 409, _("The sheet can no longer be changed"), _(
            "This score sheet is %(state)s; only a draft can be changed.") % {"state": sheet.get_state_display()})
    if action == "conflict":
        note = request.POST.get("conflict_note", "").strip()
        if not note or len(note) > MAX_TEXT:
            return _render(request, sheet, criteria, posted=request.POST, status=400, general=[_(
                "Say what the conflict of interest is (at most %(limit)s characters).") % {"limit": MAX_TEXT}])
        try:
            human_tasks.take(sheet, "declare_conflict", actor=request.user, comment=note)
        except WorkflowError as exc:
            return problem(request, exc.http_status, _("The declaration was refused"), exc.message)
        messages.success(request, _("Your conflict of interest on %(case)s is recorded; a coordinator will "
                                    "assign another expert.") % {"case": sheet.application.case.ref})
        return redirect("portal:expert")
    scores, errors = parse_scores(request.POST, criteria, require_all=action == "submit")
    if errors:
        return _render(request, sheet, criteria, posted=request.POST, errors=errors, status=400,
                       general=[_("Nothing was saved: please correct the scores marked below.")])
    try:
        with transaction.atomic():
            if action == "save":
                selection.save_draft_scores(sheet=sheet, scores=scores, actor=request.user)
            else:
                selection.submit_score_sheet(sheet=sheet, scores=scores, actor=request.user)
    except WorkflowError as exc:
        sheet.refresh_from_db()
        if exc.http_status == 400:
            return _render(request, sheet, criteria, posted=request.POST, status=400, general=[exc.message])
        return problem(request, exc.http_status, _("The sheet was refused"), exc.message)
    except ValueError as exc:  # the service's own checks (the form checks the same first)
        sheet.refresh_from_db()
        return _render(request, sheet, criteria, posted=request.POST, status=400, general=[str(exc)])
    if action == "save":
        messages.success(request, _("Your draft scores are saved."))
        return redirect("portal:score-sheet", pk=sheet.pk)
    messages.success(request, _("Your score sheet for %(case)s is submitted (total %(total)s).") % {
        "case": sheet.application.case.ref, "total": sheet.total})
    return redirect("portal:expert")

