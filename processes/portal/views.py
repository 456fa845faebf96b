"""The portal: server-rendered pages over cases, their history and documents, and the inbox.

Every page requires a login; what a user sees is decided in :mod:`.selectors`. The case pages
are read-only: the available transitions of a case are only listed. The inbox lists the
user's open human tasks (:mod:`workflow.tasks`); its POST endpoints claim, unassign and
complete a task, and every state change goes through ``workflow.tasks`` and thus
``workflow.transitions.perform``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

# ascii_filename and attachment_header live in documents.storage (also used for presigned S3
# URLs); they are imported here so ``processes.portal.views.attachment_header`` keeps working.
from documents.storage import (  # noqa: F401
    ChecksumMismatch,
    StorageError,
    ascii_filename,
    attachment_header,
    read_verified,
)
from processes.rounds.models import Case, Round
from workflow import tasks as human_tasks
from workflow.exceptions import WorkflowError
from workflow.models import Notification
from workflow.transitions import available_transitions

from . import selectors
from .actions import transition_rows
from .labels import transition_label

DEFAULT_TIMEZONE = "Asia/Almaty"
#: Case states that end the cycle early (shown in red).
ENDED_STATES = (Case.State.REFUSED, Case.State.NOT_SELECTED, Case.State.WITHDRAWN, Case.State.SUSPENDED)



def _task_title(task) -> str:
    """The task's title in the active language (titles of the task plans are msgids)."""
    title = human_tasks.task_data(task).get("title", "")
    return _(title) if title else title

@require_safe
@login_required
def case_list(request):
    """All cases the user may see, with stage, score and rank; ``?state=`` filters."""
    state = request.GET.get("state", "")
    if state not in Case.State.values:
        state = ""
    cases = selectors.visible_cases(user=request.user, state=state or None)
    return render(request, "portal/case_list.html", {
        "cases": cases,
        "state": state,
        "states": selectors.state_choices(user=request.user),
        "is_staff_viewer": selectors.is_staff_viewer(user=request.user),
        "ended_states": [str(s) for s in ENDED_STATES],
    })


@require_safe
@login_required
def case_detail(request, pk: int):
    """One case: header, state diagrams, available transitions (with the reason when one is
    not), documents with versions, the audit history as a timeline, and comments.

    The timeline shows at most ``selectors.HISTORY_WINDOW`` (100) entries: the latest, or those
    ending at seq ``?history_to=N`` (links lead to older and newer windows); a
    ``history_to`` that is not a number is answered 400. The page makes a constant number of
    queries whatever the length of the history (``tests/portal/test_scale_queries.py``)."""
    from . import comments, diagrams, redaction
    from .models import MAX_COMMENT_LENGTH

    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    upto = request.GET.get("history_to")
    if upto is not None:
        if not upto.isdigit() or len(upto) > 9:
            return _problem(request, 400, _("Bad request"), _(
                "history_to is the number (seq) of the last history entry to show, e.g. 100."))
        upto = int(upto)
    history = selectors.case_history_window(case=case, upto=upto)
    staff = selectors.is_staff_viewer(user=request.user)
    selection = getattr(getattr(case, "application", None), "selection", None) if staff else None
    return render(request, "portal/case_detail.html", {
        # the selection's steps (coordinators): close scoring, discuss, select or reject
        "selection": selection,
        "selection_transitions": transition_rows(selection, request.user, "portal:selection-transition", case.pk)
        if selection is not None else [],
        "diagrams": diagrams.diagram_parts(case),
        "comments": redaction.comment_authors(comments.case_comments(case=case), user=request.user),
        "may_comment": comments.may_comment(request.user),
        "max_comment": MAX_COMMENT_LENGTH,
        "case": case,
        "history": redaction.redact_entries(history.entries, user=request.user),
        "history_window": history,
        "documents": selectors.case_documents(case=case, user=request.user),
        "transitions": available_transitions(case, request.user),
        "decisions": selectors.pending_decisions(user=request.user, case=case),
        "tz": case.round.timezone or DEFAULT_TIMEZONE,
        "is_staff_viewer": selectors.is_staff_viewer(user=request.user),
        "ended_states": [str(s) for s in ENDED_STATES],
    })


@require_safe
@login_required
def round_detail(request, code: str):
    """A round's own documents (e.g. the selection minutes) and its transitions (each a POST to
    ``portal:round-transition``, with the reason when one is not available); staff only."""
    if not selectors.is_staff_viewer(user=request.user):
        raise PermissionDenied
    rnd = get_object_or_404(Round, code=code)
    return render(request, "portal/round_detail.html", {
        "round": rnd,
        # the round's steps (coordinators): close the call, scoring, discussion, decision, publication
        "transitions": transition_rows(rnd, request.user, "portal:round-transition", rnd.code),
        "documents": selectors.round_documents(rnd=rnd),
        "cases": selectors.visible_cases(user=request.user).filter(round=rnd),
        "tz": rnd.timezone or DEFAULT_TIMEZONE,
        "is_staff_viewer": True,
    })


def _problem(request, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "portal/problem.html", {"title": title, "message": message}, status=status)


@require_safe
@login_required
def document_download(request, pk: int):
    """The bytes of one document version, after their sha256 was verified.

    404 when the version is unknown or not the user's, or when its stored object is missing;
    409 when the stored bytes no longer match the recorded sha256.
    """
    version = selectors.visible_version(user=request.user, pk=pk)
    if version is None:
        raise Http404(_("No such document version."))
    try:
        content = read_verified(version)
    except ChecksumMismatch:
        return _problem(request, 409, _("The document was changed"), _(
            "The stored file of %(document)s, version %(number)s, no longer matches its recorded "
            "sha256 checksum, so it is not served. The incident was logged; please tell the "
            "administrator.") % {"document": version.document.title, "number": version.number})
    except StorageError:
        return _problem(request, 404, _("The file is missing"), _(
            "The stored file of %(document)s, version %(number)s, cannot be found in the document "
            "storage. Please tell the administrator.") % {"document": version.document.title,
                                                          "number": version.number})
    response = HttpResponse(content, content_type=version.content_type or "application/octet-stream")
    response["Content-Disposition"] = attachment_header(version)
    response["Content-Length"] = str(len(content))
    response["Cache-Control"] = "private, no-store"
    response["X-Content-SHA256"] = version.sha256
    return response


# -- inbox -------------------------------------------------------------------------------------

#: The longest comment accepted when completing a task (characters).
MAX_TASK_COMMENT = 4000

@require_safe
@login_required
def inbox(request):
    """The user's open tasks: assigned to them and queued for their roles, newest first,
    ``selectors.INBOX_PER_PAGE`` (50) per page (``?page=N``; malformed: the first page)."""
    page, rows = selectors.inbox_page(user=request.user, number=request.GET.get("page"))
    return render(request, "portal/inbox.html", {
        "rows": rows,
        "page": page,
        "is_staff_viewer": selectors.is_staff_viewer(user=request.user),
        "ended_states": [str(s) for s in ENDED_STATES],
    })


def _task_or_404(request, pk: int):
    """The open task ``pk`` if the user may act on it (see ``selectors.visible_task``), else 404."""
    task = selectors.visible_task(user=request.user, pk=pk)
    if task is None:
        raise Http404(_("No such open task in your inbox."))
    return task


def _refused(request, exc: WorkflowError) -> HttpResponse:
    titles = {403: _("Not allowed"), 409: _("The task has changed")}
    return _problem(request, exc.http_status, titles.get(exc.http_status, _("The task cannot be done")),
                    exc.message)


@require_POST
@login_required
def task_claim(request, pk: int):
    """Take a queued task (403 without the task's role, 409 when someone else holds it)."""
    task = _task_or_404(request, pk)
    try:
        human_tasks.claim(task, request.user)
    except WorkflowError as exc:
        return _refused(request, exc)
    messages.success(request, _("You took the task “%(title)s”.") % {"title": _task_title(task)})
    return redirect("portal:inbox")


@require_POST
@login_required
def task_unassign(request, pk: int):
    """Return a held task to its role's queue (its holder or a coordinator; else 403)."""
    task = _task_or_404(request, pk)
    try:
        human_tasks.unassign(task, by=request.user)
    except WorkflowError as exc:
        return _refused(request, exc)
    messages.success(request, _("The task “%(title)s” is back in the queue.") % {
        "title": _task_title(task)})
    return redirect("portal:inbox")


@require_POST
@login_required
def task_complete(request, pk: int):
    """Complete a task by taking one of its transitions (``transition``, ``comment``, ``reason``).

    Answers 400 (unmet condition), 403 (not allowed) or 409 (task or object changed, also a task
    the user could act on that is already done or cancelled: by whom and when) with the reason;
    nothing changes then. 404 for a task the user may never see.
    """
    if selectors.visible_task(user=request.user, pk=pk) is None:
        closed = human_tasks.seen_closed_task(request.user, pk)
        if closed is not None:  # done (or cancelled) meanwhile: the loser of a race learns by whom and when
            return _problem(request, 409, _("The task has changed"), human_tasks.closed_message(closed))
    task = _task_or_404(request, pk)
    transition = request.POST.get("transition")  # absent: the default; "" is refused (400)
    comment = request.POST.get("comment", "").strip()
    if len(comment) > MAX_TASK_COMMENT:
        return _problem(request, 400, _("The comment is too long"),
                        _("A comment has at most %(limit)s characters.") % {"limit": MAX_TASK_COMMENT})
    data = {"reason": request.POST["reason"]} if request.POST.get("reason") else None
    try:
        human_tasks.complete(task, user=request.user, transition=transition, comment=comment, data=data)
    except WorkflowError as exc:
        return _refused(request, exc)
    messages.success(request, _("Task “%(title)s” done: %(transition)s.") % {
        "title": _task_title(task), "transition": transition_label(task.data.get("outcome", ""))})
    return redirect("portal:inbox")


# -- notifications -----------------------------------------------------------------------------

#: Rows per page of the notifications list.
NOTIFICATIONS_PER_PAGE = 50


@require_safe
@login_required
def notifications(request):
    """The user's in-app notifications, newest first, read or unread.

    With ``?all=1`` auditors and coordinators (``selectors.NOTIFICATION_OVERSEERS``) see every
    outbox row of every user and channel with its delivery status, attempts, last error and
    sent time (``?case=`` and ``?status=`` filter); anybody else gets 403. Times are shown in
    Asia/Almaty.
    """
    from django.core.paginator import Paginator

    show_all = request.GET.get("all") == "1"
    if show_all and not selectors.oversees_notifications(user=request.user):
        raise PermissionDenied
    case_ref = request.GET.get("case", "").strip() if show_all else ""
    status = request.GET.get("status", "") if show_all else ""
    rows = (selectors.all_notifications(case=case_ref, status=status) if show_all
            else selectors.own_notifications(user=request.user))
    page = Paginator(rows, NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    cases = selectors.visible_cases_by_ref(user=request.user, refs=[n.chain for n in rows])
    for row in rows:
        row.case = cases.get(row.chain)  # linked only when the user may see the case
    return render(request, "portal/notifications.html", {
        "page": page,
        "rows": rows,
        "show_all": show_all,
        "may_see_all": selectors.oversees_notifications(user=request.user),
        "case_ref": case_ref,
        "status": status if status in Notification.Status.values else "",
        "statuses": Notification.Status.choices,
        "tz": DEFAULT_TIMEZONE,
        "is_staff_viewer": selectors.is_staff_viewer(user=request.user),
    })


@require_POST
@login_required
def notification_read(request, pk: int):
    """Mark one of the user's own in-app notifications read (404 for anybody else's)."""
    from django.utils import timezone

    notification = selectors.own_notification(user=request.user, pk=pk)
    if notification is None:
        raise Http404(_("No such notification of yours."))
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
    return redirect("portal:notifications")
