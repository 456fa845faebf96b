"""Read-only queries of the portal: which cases, histories, documents and tasks a user may see.

Visibility rule: holders of a staff role (:data:`STAFF_ROLES`: coordinators, partner
coordinators, auditors, administrators) see every case and document. An applicant sees its
own cases; an expert the cases whose application it was assigned to score (not those where
it declared a conflict of interest); a signatory the cases it is asked to decide on (and,
as an active deputy, those of the signatory it stands in for). Documents follow their case
(``Document.owner_ref == case.ref``). Round-level documents are for staff only. Tasks: a
user sees their inbox (:func:`workflow.tasks.inbox`); coordinators may act on every open task.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db.models import Prefetch, Q, QuerySet

from documents.models import Document, DocumentVersion
from processes.rounds.models import Case, Round
from processes.selection.models import ScoreSheet
from processes.submission.models import Application
from workflow import permissions
from workflow import tasks as human_tasks
from workflow.models import AuditEntry, Notification

#: Roles that see every case of every round.
STAFF_ROLES = (
    permissions.COORDINATOR,
    permissions.PARTNER_COORDINATOR,
    permissions.AUDITOR,
    permissions.ADMINISTRATOR,
)


def is_staff_viewer(*, user) -> bool:
    """True when ``user`` holds a role of :data:`STAFF_ROLES` (superusers always do)."""
    return bool(permissions.user_roles(user) & set(STAFF_ROLES))


def visible_cases(*, user, state: str | None = None) -> QuerySet[Case]:
    """The cases ``user`` may see, newest round first, optionally only those in ``state``.

    The round, the application and its selection are joined (``select_related``) so a list
    can show the score and rank without one query per row. An unknown ``state`` is ignored.
    """
    queryset = Case.objects.select_related("round", "applicant", "application", "application__selection")
    if not is_staff_viewer(user=user):
        queryset = queryset.filter(_own_cases(user)) if user.pk is not None else queryset.none()
    if state and state in Case.State.values:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-round__applications_open", "round__code", "number")


def _own_cases(user) -> Q:
    """Cases a user without a staff role may see: as applicant, as an expert assigned to the
    application (not recused), as a signatory asked to decide, or as their active deputy."""
    from workflow.approvals.models import Decision, Delegation

    rule = Q(applicant_id=user.pk)
    roles = permissions.user_roles(user)
    if permissions.EXPERT in roles:
        from processes.selection.models import ScoreSheet

        assigned = ScoreSheet.objects.filter(expert_id=user.pk).exclude(state="recused").values("application_id")
        rule |= Q(application__in=assigned)
    if permissions.SIGNATORY in roles or Delegation.objects.filter(deputy_id=user.pk).exists():
        rule |= Q(ref__in=Decision.objects.filter(_decisions_covered(user)).values("approval__chain"))
    return rule


def pending_decisions(*, user, case: Case):
    """Open decisions on ``case``'s documents that ``user`` may take now (own or as deputy)."""
    from workflow.approvals.models import Decision
    from workflow.transitions import available_transitions

    pending = (Decision.objects.filter(approval__chain=case.ref, approval__state="open", state="pending")
               .select_related("approval", "signatory"))
    return [d for d in pending if any(o.allowed for o in available_transitions(d, user))]


def _decisions_covered(user) -> Q:
    """Decisions ``user`` is asked to take: its own, those of signatories it stands in for
    today under an unscoped delegation (or out of office), and those of the one approval a
    scoped delegation names."""
    from django.utils import timezone

    from workflow.approvals.models import Delegation

    today = timezone.localdate()
    active = Delegation.objects.filter(deputy_id=user.pk, starts_on__lte=today, ends_on__gte=today,
                                       revoked_at__isnull=True)
    covered = Q(signatory_id=user.pk) | Q(signatory_id__in=active.filter(approval__isnull=True).values("owner_id"))
    for owner_id, approval_id in active.filter(approval__isnull=False).values_list("owner_id", "approval_id"):
        covered |= Q(signatory_id=owner_id, approval_id=approval_id)
    return covered


def state_choices(*, user) -> list[tuple[str, str, int]]:
    """``(value, label, count)`` of every case state, counted among the cases ``user`` sees."""
    counts: dict[str, int] = {}
    for value in visible_cases(user=user).values_list("state", flat=True):
        counts[value] = counts.get(value, 0) + 1
    return [(value, label, counts.get(value, 0)) for value, label in Case.State.choices]


def case_history(*, case: Case) -> QuerySet[AuditEntry]:
    """The audit entries of ``case``'s chain (``chain == case.ref``) in chain order."""
    return AuditEntry.objects.filter(chain=case.ref).order_by("seq")


#: Entries of a case's history shown on one case page (the scale check: a chain may hold
#: thousands; older windows are reached with ``?history_to=<seq>``).
HISTORY_WINDOW = 100


@dataclasses.dataclass(frozen=True)
class HistoryWindow:
    """A window of a case's history: ``entries`` (chain order) with seq ``first..last`` of
    ``total``; ``older_to`` / ``newer_to`` are the ``history_to`` values of the neighbouring
    windows (None at either end)."""

    entries: list
    first: int
    last: int
    total: int
    older_to: int | None
    newer_to: int | None

    @property
    def partial(self) -> bool:
        return self.total > len(self.entries)


def case_history_window(*, case: Case, upto: int | None = None, size: int = HISTORY_WINDOW) -> HistoryWindow:
    """At most ``size`` audit entries of ``case``'s chain ending at seq ``upto`` (default and
    above the end: the latest), in chain order. Two queries whatever the chain's length: the
    chain head (its length) and one index range scan on ``(chain, seq)``; the canonical text
    is not loaded. Seq numbers are consecutive from 1 in a valid chain (``verify_audit``)."""
    from workflow.models import AuditChain

    total = AuditChain.objects.filter(key=case.ref).values_list("length", flat=True).first() or 0
    last = total if upto is None else max(0, min(upto, total))
    entries = list(AuditEntry.objects.filter(chain=case.ref, seq__lte=last, seq__gt=last - size)
                   .defer("canonical").order_by("seq"))
    first = entries[0].seq if entries else 0
    return HistoryWindow(entries=entries, first=first, last=last, total=total,
                         older_to=first - 1 if first > 1 else None,
                         newer_to=min(last + size, total) if last < total else None)


def _documents_with_versions(owner_ref: str) -> QuerySet[Document]:
    versions = DocumentVersion.objects.select_related("created_by").order_by("number")
    return (Document.objects.filter(owner_ref=owner_ref)
            .prefetch_related(Prefetch("versions", queryset=versions), "versions__renditions")
            .order_by("created_at", "pk"))


def _expert_only(user, case: Case) -> bool:
    """True when ``user`` sees ``case`` only as an expert assigned to score it (not as staff,
    its applicant, or a signatory or deputy asked to decide on its documents)."""
    if user is None or user.pk is None or is_staff_viewer(user=user) or case.applicant_id == user.pk:
        return False
    from workflow.approvals.models import Decision

    return not Decision.objects.filter(_decisions_covered(user), approval__chain=case.ref).exists()


def _document_scope(user, case: Case) -> Q:
    """Which of ``case``'s documents ``user`` may see: all of them for staff viewers; an expert
    who sees the case only to score it sees the application's papers and its own score sheet;
    anybody else (its applicant, a signatory or deputy) every document but the experts' score
    sheets, which carry an expert's name and marks (docs/security.md, breaker F6)."""
    if _expert_only(user, case):
        return Q(stage="submission") | Q(kind="score_sheet", key=user.get_username())
    if user is not None and not is_staff_viewer(user=user):
        return ~Q(kind="score_sheet") | Q(key=user.get_username())
    return Q()


def case_documents(*, case: Case, user=None) -> QuerySet[Document]:
    """The documents of ``case`` (``owner_ref == case.ref``) that ``user`` may see (all when
    ``user`` is None), versions prefetched in order with their renditions (three queries
    however many versions)."""
    documents = _documents_with_versions(case.ref)
    return documents if user is None else documents.filter(_document_scope(user, case))


def round_documents(*, rnd: Round) -> QuerySet[Document]:
    """The round-level documents (e.g. selection minutes: ``owner_ref == round.code``)."""
    return _documents_with_versions(rnd.code)


def visible_version(*, user, pk: int) -> DocumentVersion | None:
    """The document version ``pk`` if ``user`` may download it, else ``None``.

    Staff may download any version; anybody else the versions of documents owned by a case
    they may see (:func:`visible_cases`: applicant, assigned expert, signatory or deputy).
    """
    version = DocumentVersion.objects.select_related("document").filter(pk=pk).first()
    if version is None:
        return None
    if is_staff_viewer(user=user):
        return version
    case = visible_cases(user=user).filter(ref=version.document.owner_ref).first() if user.pk is not None else None
    if case is not None and Document.objects.filter(_document_scope(user, case), pk=version.document_id).exists():
        return version
    return None


# -- tasks ---------------------------------------------------------------------------------------

#: Application fields an inbox row never shows (JSON decoded for nothing otherwise).
_APPLICATION_UNSHOWN = ("members_named", "labels", "refusal_detail")


def _artifact_querysets() -> list[QuerySet]:
    """How the inbox loads each kind of task object: with its case, in one query per kind
    (every model with a ``task_plan`` or tasks of its own, so that a row's name and case
    make no query of their own)."""
    from processes.diagnosis.models import Diagnosis
    from processes.implementation.models import Implementation
    from processes.planning.models import Plan
    from processes.rounds.models import Round
    from processes.selection.models import Selection
    from processes.support.models import BodyPosition, SupportMeasure
    from workflow.approvals.models import Decision

    # a row shows the object's name and state and its case's reference, name and state: the
    # round is not read (its JSON fields, ``Round.source`` above all, cost more to decode than
    # the rest of the row), nor an application's JSON fields (docs/scale.md)
    return [Case.objects.all(),
            Application.objects.select_related("case").defer(*_APPLICATION_UNSHOWN),
            ScoreSheet.objects.select_related("application__case", "expert")
            .defer(*(f"application__{name}" for name in _APPLICATION_UNSHOWN)),
            Diagnosis.objects.select_related("case"),
            Plan.objects.select_related("case"),
            SupportMeasure.objects.select_related("case"),
            BodyPosition.objects.select_related("measure__case"),
            Implementation.objects.select_related("case"),
            Decision.objects.select_related("approval", "signatory"),
            # the selection's and the round's steps (their tasks): the round without its JSON fields
            Selection.objects.select_related("application__case").defer(
                *(f"application__{name}" for name in _APPLICATION_UNSHOWN)),
            Round.objects.defer("source", "review_working_days", "excluded_sectors", "diagnosis_areas",
                                "support_proposal", "expiry_rules", "approval_policies")]


def case_of(obj) -> Case | None:
    """The case a task's object belongs to (the case itself, ``.case``, ``.application.case`` or,
    for a government body's position, ``.measure.case``); no query when the relation is loaded
    (:func:`_artifact_querysets`). ``None`` for a round and for a signatory's decision (its case
    is found by its approval's chain: :func:`cases_of`)."""
    if obj is None or isinstance(obj, Case):
        return obj
    if isinstance(getattr(obj, "case", None), Case):
        return obj.case
    for parent in ("application", "measure"):
        case = getattr(getattr(obj, parent, None), "case", None)
        if isinstance(case, Case):
            return case
    return None


def cases_of(objs) -> list[Case | None]:
    """The case of each task object in ``objs`` (a list, same order): :func:`case_of`, and for a
    signatory's decision (``workflow.approvals.models.Decision``, approval loaded) the case whose
    reference is the approval's audit chain, all of them read in one query. ``None`` for an
    object of no case (a round, an approval outside a case's chain)."""
    from workflow.approvals.models import Decision

    found = [case_of(obj) for obj in objs]
    chains = {obj.approval.chain for obj in objs if isinstance(obj, Decision)}
    if chains:
        by_ref = {case.ref: case for case in Case.objects.filter(ref__in=chains)}
        found = [by_ref.get(obj.approval.chain) if isinstance(obj, Decision) else case
                 for obj, case in zip(objs, found)]
    return found


@dataclasses.dataclass(frozen=True)
class InboxRow:
    """One line of the inbox page."""

    task: object
    title: str
    obj: object
    case: Case | None
    transition: str
    outcomes: list[str]
    queued: bool
    held_by_user: bool
    created: dt.datetime
    #: the object's and the case's state labels in the active language (``labels.state_label``:
    #: one cached look-up, where ``get_state_display`` translates every choice of the field)
    obj_state: str = ""
    case_state: str = ""
    #: the row's links: the case page and the task's claim, unassign and complete actions
    case_url: str = ""
    claim_url: str = ""
    unassign_url: str = ""
    complete_url: str = ""
    #: in the active language: the task's title, its transition, ``(name, label)`` of each
    #: outcome, its queue's role and the case's name (looked up once per page for each value)
    title_text: str = ""
    transition_text: str = ""
    outcome_options: tuple = ()
    role_text: str = ""
    case_name: str = ""


#: Tasks per inbox page.
INBOX_PER_PAGE = 50


@dataclasses.dataclass(frozen=True)
class InboxPage:
    """One page of the inbox: its ``number`` (from 1) and whether older tasks follow.

    No total is counted: at scale a coordinator's queue holds thousands of open tasks and
    counting them would cost more than the page itself (docs/scale.md)."""

    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


#: The highest inbox page number accepted (larger values show page 1).
INBOX_MAX_PAGE = 10_000


def inbox_page(*, user, number=None) -> tuple[InboxPage, list[InboxRow]]:
    """Page ``number`` (``str`` or ``int``; default, malformed or out of 1..10,000: the first) of
    the user's inbox: ``(page, rows)``, :data:`INBOX_PER_PAGE` tasks newest first with their rows
    (:func:`inbox_rows`); a page past the end is empty (its ``has_previous`` leads back).

    A constant number of queries whatever the number of open tasks: the page's tasks (one more
    is read to know whether older ones follow) with their processes and owners, and one query
    per kind of object on the page.
    """
    try:
        number = int(number)
    except (TypeError, ValueError):
        number = 1
    if not 1 <= number <= INBOX_MAX_PAGE:
        number = 1
    start = (number - 1) * INBOX_PER_PAGE
    tasks = list(human_tasks.inbox(user, artifact_querysets=_artifact_querysets())[start:start + INBOX_PER_PAGE + 1])
    page = InboxPage(number=number, has_next=len(tasks) > INBOX_PER_PAGE)
    return page, inbox_rows(user=user, tasks=tasks[:INBOX_PER_PAGE])


def inbox_rows(*, user, tasks=None) -> list[InboxRow]:
    """The user's open tasks (:func:`workflow.tasks.inbox`, or the given ``tasks`` of it) with
    their object and case.

    A constant number of queries whatever the number of tasks (objects are prefetched).
    """
    rows = []
    if tasks is None:
        tasks = human_tasks.inbox(user, artifact_querysets=_artifact_querysets())
    from .labels import state_label

    # each link reversed once per page and filled in per row (reversing four URLs per row
    # was a tenth of the page's time at 50 rows)
    case_url, claim_url, unassign_url, complete_url = (
        _url_filler(name) for name in ("portal:case-detail", "portal:task-claim", "portal:task-unassign",
                                       "portal:task-complete"))
    from django.utils.translation import get_language, gettext

    from workflow.permissions import role_label

    from .labels import transition_label

    language = get_language()
    titles, transitions, roles = _Memo(gettext), _Memo(transition_label), _Memo(role_label)
    for task in tasks:
        data = human_tasks.task_data(task)
        obj = task.process.artifact
        case = case_of(obj)
        outcomes = human_tasks.outcomes_of(task)
        rows.append(InboxRow(task=task, title=data.get("title", ""), obj=obj, case=case,
                             transition=data.get("transition", ""), outcomes=outcomes,
                             queued=task.owner_id is None, held_by_user=task.owner_id == user.pk,
                             created=task.created,
                             obj_state=state_label(getattr(obj, "state", ""), obj._meta.label_lower) if obj else "",
                             case_state=state_label(case.state) if case is not None else "",
                             case_url=case_url(case.pk) if case is not None else "",
                             claim_url=claim_url(task.pk), unassign_url=unassign_url(task.pk),
                             complete_url=complete_url(task.pk),
                             title_text=titles(data["title"]) if data.get("title") else "",
                             transition_text=transitions(data.get("transition", "")),
                             outcome_options=tuple((name, transitions(name)) for name in outcomes),
                             role_text=roles(data.get("role") or ""),
                             case_name=case.name(language) if case is not None else ""))
    return rows


class _Memo(dict):
    """``memo(key)``: ``function(key)``, computed once per key (labels repeated on a page)."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def __call__(self, key):
        if key not in self:
            self[key] = self.function(key)
        return self[key]


#: A number no real primary key reaches, stood in for the key when reversing a URL once.
_PK_PLACEHOLDER = 9_087_654_321_987_654_321


def _url_filler(name: str, *more):
    """``pk -> reverse(name, args=[pk, *more])`` for a URL whose first argument is an integer
    key (``more``: its other arguments, fixed), reversed once (with the current script prefix)
    and filled in by text replacement."""
    from django.urls import reverse

    before, placeholder, after = reverse(name, args=[_PK_PLACEHOLDER, *more]).partition(str(_PK_PLACEHOLDER))
    if not placeholder:  # the pattern does not show its argument as is: reverse every time
        return lambda pk: reverse(name, args=[pk, *more])
    return lambda pk: f"{before}{int(pk)}{after}"


def visible_task(*, user, pk: int):
    """The open task ``pk`` if ``user`` may act on it (in their inbox, or any for coordinators)."""
    return human_tasks.visible_tasks(user).filter(pk=pk).first()


# -- notifications -------------------------------------------------------------------------------

#: Roles that may see every outbox row of every user and channel (``/notifications/?all=1``):
#: auditors (whether and when a reminder was sent) and coordinators; administrators (superusers)
#: hold every role (``permissions.has_role``).
NOTIFICATION_OVERSEERS = (permissions.COORDINATOR, permissions.AUDITOR)


def oversees_notifications(*, user) -> bool:
    """True when ``user`` may list every notification (:data:`NOTIFICATION_OVERSEERS`)."""
    return permissions.has_role(user, *NOTIFICATION_OVERSEERS)


def own_notifications(*, user) -> QuerySet[Notification]:
    """``user``'s in-app notifications, newest first."""
    return (Notification.objects.filter(recipient_id=user.pk, channel=Notification.Channel.IN_APP)
            .order_by("-created_at", "-pk"))


def all_notifications(*, case: str = "", status: str = "") -> QuerySet[Notification]:
    """Every outbox row of every channel, newest first; ``case`` (a case reference) and
    ``status`` filter when given (an unknown status is ignored)."""
    queryset = Notification.objects.select_related("recipient").order_by("-created_at", "-pk")
    if case:
        queryset = queryset.filter(chain=case)
    if status in Notification.Status.values:
        queryset = queryset.filter(status=status)
    return queryset


def own_notification(*, user, pk: int) -> Notification | None:
    """The in-app notification ``pk`` if it is ``user``'s own, else ``None``."""
    return own_notifications(user=user).filter(pk=pk).first()


def visible_cases_by_ref(*, user, refs) -> dict[str, Case]:
    """``{ref: case}`` of the cases among ``refs`` that ``user`` may see (one query)."""
    refs = {ref for ref in refs if ref}
    if not refs:
        return {}
    return {c.ref: c for c in visible_cases(user=user).filter(ref__in=refs)}
