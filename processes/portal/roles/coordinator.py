"""The coordinator's page (``portal:coordinator``, ``work/``) and a round's ranking
(``portal:round-ranking``, ``rounds/<code>/ranking/``).

The work page lists the cases a coordinator (operator or partner) sees, overdue first: a case
is overdue when its chain has an open :class:`workflow.models.Deadline` (not closed) whose
``due_at`` has passed; then by the nearest open due date, round and number. Filters (GET):
``round`` (a round code), ``state`` (a case state, i.e. the stage or an off-ramp),
``overdue=1``, ``q`` (part of the reference or of the cluster's name in any language).
Paging: the page's links carry a ``cursor`` (:class:`Cursor`: the first or last row's place in
the order) and read the rows after or before it (keyset paging, :meth:`WorkList.seek_page`),
so a deep page costs what the first one does; ``page=N`` (by number, an OFFSET: its cost grows
with N) is still answered for old links. A damaged ``cursor`` is answered 400 with the first
page. Per case: the stage object's own state, the case transitions the user may take
(each a POST to ``portal:case-transition``), for an application waiting for its
completeness check that task's outcomes (a POST to ``portal:task-complete``), and for an
accepted application without experts yet a form assigning them (``portal:scoring-assign``).

Bulk actions: ticking cases and pressing "Show common actions" reloads the page with
``selected=<id>`` (repeated); the server computes the transitions that the user may take on
every selected case now (:func:`processes.portal.actions.common_transitions`) and offers only
those, in a form posting to ``portal:case-bulk`` (all or nothing).

Bad filter input (unknown round or state, a malformed id, a search over 100 characters) is
answered 400 with the form's messages. Query count per page is constant (joined relations,
one query each for the deadlines' annotations, the support measures and the open tasks).
"""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Count, DateTimeField, Exists, F, OuterRef, Q, Subquery, Value
from django.shortcuts import get_object_or_404, render
from django.template.backends.utils import csrf_input
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from processes import reasons
from processes.rounds.models import Case, Round
from processes.selection.models import Selection
from processes.selection.selectors import decision_messages
from processes.submission.models import Application, RefusalReason
from workflow import tasks as human_tasks
from workflow.exceptions import WorkflowError
from workflow.models import Deadline
from workflow.transitions import available_transitions

from .. import selectors
from ..actions import common_transitions
from ..labels import model_label, state_label, transition_label
from .common import COORDINATOR_ROLES, PER_PAGE, require_role

#: Application states whose completeness check is awaited.
AWAITING_CHECK = (Application.State.SUBMITTED, Application.State.RESUBMITTED)


class WorkFilters(forms.Form):
    """The coordinator page's filters; every field optional."""

    round = forms.ChoiceField(required=False, label=_("Round"))
    state = forms.ChoiceField(required=False, label=_("Stage / state"))
    overdue = forms.BooleanField(required=False, label=_("Overdue only"))
    q = forms.CharField(required=False, max_length=100, strip=True, label=_("Search"),
                        widget=forms.TextInput(attrs={"placeholder": _("Reference or name")}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["round"].choices = [("", _("all rounds"))] + [
            (code, code) for code in Round.objects.order_by("code").values_list("code", flat=True)]
        self.fields["state"].choices = [("", _("all stages"))] + list(Case.State.choices)


def _related(obj, name: str):
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def stage_detail(case: Case) -> str:
    """The state of the object the case's stage is about (e.g. the application's), as text."""
    stage = case.state
    if stage in (Case.State.SUBMISSION, Case.State.REFUSED, Case.State.WITHDRAWN):
        obj = _related(case, "application")
    elif stage in (Case.State.SELECTION, Case.State.NOT_SELECTED):
        application = _related(case, "application")
        obj = _related(application, "selection") if application is not None else None
    elif stage == Case.State.SUPPORT:
        measures = list(case.support_measures.all())
        in_force = sum(1 for m in measures if m.state == "in_force")
        return str(_("%(in_force)s of %(total)s measures in force") % {"in_force": in_force, "total": len(measures)})
    elif stage == Case.State.SUSPENDED:
        return str(_("suspended in %(stage)s") % {"stage": state_label(case.suspended_from) if case.suspended_from else "?"})
    else:
        obj = _related(case, {"diagnosis": "diagnosis", "planning": "plan", "implementation": "implementation",
                              "closed": "implementation"}.get(stage, ""))
    if obj is None:
        return ""
    # labels.state_label: one cached look-up (get_state_display translates every choice)
    return f"{model_label(obj)}: {state_label(obj.state, obj._meta.label_lower)}"


#: The years a cursor's due date may have (a due date outside them was never written by the page).
_CURSOR_YEARS = (1900, 9998)


class BadCursor(ValueError):
    """A ``cursor`` of the work page that is not one the page wrote (answered 400)."""


@dataclass(frozen=True)
class CursorKey:
    """A row's place in the work page's order: its nearest open due date (an aware datetime,
    None for a case without an open deadline), its round's code, its number and its id."""

    due: datetime.datetime | None
    round_code: str
    number: str
    pk: int

    @classmethod
    def of(cls, case: Case) -> CursorKey:
        """The key of a listed case (one of :class:`WorkList`'s rows: ``next_due`` is set)."""
        return cls(case.next_due, case.round.code, case.number, case.pk)


@dataclass(frozen=True)
class Cursor:
    """Where a page of the work list starts: the rows after a key (``NEXT``), the rows before
    it (``PREVIOUS``) or the last page (``LAST``, no key); ``number`` is the page number shown
    ("page n of m"), counted from the first page as the reader went (not used to find rows).

    In the query string (``?cursor=``) it is opaque text: URL-safe base64 of a short JSON list
    ``[direction, number, due (ISO 8601 or null), round code, case number, case id]``;
    :meth:`decode` raises :class:`BadCursor` for anything else.
    """

    NEXT, PREVIOUS, LAST = "n", "p", "l"

    direction: str
    number: int
    key: CursorKey | None = None

    def encode(self) -> str:
        """The cursor as query-string text."""
        key = self.key
        data = [self.direction, self.number] + (
            [key.due.isoformat() if key.due is not None else None, key.round_code, key.number, key.pk]
            if key is not None else [])
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor written by :meth:`encode`; :class:`BadCursor` for any other text."""
        if not isinstance(text, str) or not 0 < len(text) <= 400:
            raise BadCursor("length")
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadCursor("encoding") from exc
        if not isinstance(data, list) or len(data) < 2 or data[0] not in (cls.NEXT, cls.PREVIOUS, cls.LAST):
            raise BadCursor("shape")
        direction, number = data[0], data[1]
        if type(number) is not int or not 1 <= number <= 10**9:
            raise BadCursor("number")
        if direction == cls.LAST:
            if len(data) != 2:
                raise BadCursor("shape")
            return cls(direction, number)
        if len(data) != 6:
            raise BadCursor("shape")
        due, round_code, case_number, pk = data[2:]
        if due is not None:
            try:
                due = datetime.datetime.fromisoformat(due) if isinstance(due, str) and len(due) <= 40 else None
            except ValueError:
                due = None
            if due is None or due.tzinfo is None:
                raise BadCursor("due date")
            try:  # the page wrote it from a stored date: within the years the database can compare
                in_range = _CURSOR_YEARS[0] <= due.astimezone(datetime.timezone.utc).year <= _CURSOR_YEARS[1]
            except OverflowError:
                in_range = False
            if not in_range:
                raise BadCursor("due date out of range")
        if not (isinstance(round_code, str) and 0 < len(round_code) <= 100 and isinstance(case_number, str)
                and 0 < len(case_number) <= 20 and "\x00" not in round_code + case_number):
            raise BadCursor("case")
        if type(pk) is not int or not 0 < pk < 2**63:
            raise BadCursor("id")
        return cls(direction, number, CursorKey(due, round_code, case_number, pk))


class SeekPage:
    """One page of the work list and the cursors of the pages around it (for the template):
    ``object_list`` (cases), ``number``, ``num_pages`` (from the list's count), ``has_next``,
    ``has_previous``, ``has_other_pages``, and ``next_cursor``, ``previous_cursor``,
    ``last_cursor`` (query-string text, or "" when there is no such page)."""

    def __init__(self, work, object_list: list, *, number: int, has_next: bool, has_previous: bool,
                 per_page: int):
        self.object_list = object_list
        self.num_pages = max(1, -(-work.count() // per_page))
        self.number = min(number, self.num_pages)  # a cursor's number is shown, never past the last page
        self.has_next = has_next and bool(object_list)
        self.has_previous = has_previous
        self.has_other_pages = self.has_next or self.has_previous
        first, last = (object_list[0], object_list[-1]) if object_list else (None, None)
        self.next_cursor = Cursor(Cursor.NEXT, self.number + 1, CursorKey.of(last)).encode() if self.has_next else ""
        self.previous_cursor = (Cursor(Cursor.PREVIOUS, max(1, self.number - 1), CursorKey.of(first)).encode()
                                if self.has_previous and first is not None else "")
        self.last_cursor = Cursor(Cursor.LAST, self.num_pages).encode() if self.has_next else ""

    @classmethod
    def of_numbered(cls, work, page) -> SeekPage:
        """The cursors around a page read by number (``?page=N``, Django's ``Page``)."""
        return cls(work, list(page.object_list), number=page.number, has_next=page.has_next(),
                   has_previous=page.has_previous(), per_page=page.paginator.per_page)


class WorkList:
    """The work page's cases in their order, paged in the database (a ``Paginator`` reads
    :meth:`count` and slices it; each slice is a list of :class:`Case` with ``overdue`` and
    ``next_due`` set).

    Order: the nearest open due date (``Deadline.due_at``, not closed), earliest first, then
    cases without an open deadline; ties by round code, number and id. A case is overdue when
    that nearest date has passed, so this is "overdue first, then by the next due date".

    ``cases`` is the filtered queryset of visible cases, with the relations a row shows;
    ``overdue_only`` keeps only the cases whose nearest due date is before ``now``;
    ``narrowed`` says that a filter other than ``overdue_only`` applies (round, state, search).
    Two ways to read a page, chosen per list (docs/scale.md):

    * **walk** (every case, or a filter that leaves more than :attr:`FEW` cases): the cases
      with open deadlines are found by walking the open deadlines in due order (index
      ``deadline_open_due`` on ``(closed_at, due_at)``), keeping each chain's first one (an
      index probe on ``chain``) whose case passes the filters (a probe on ``Case.ref``), and
      stopping after the page; then the cases without an open deadline, by round code and
      number. A first page costs a few milliseconds at 100,000 cases; a page by number deep
      among the cases with deadlines walks the deadlines before it, a page by cursor
      (:meth:`seek_page`) starts the walk at its key.
    * **annotate** (a filter leaving at most :attr:`FEW` cases): each of those cases gets its
      nearest open due date by an index probe and the database sorts them (time grows with
      the number of cases the filters leave, not with the installation).
    * **sparse** (a filter leaving more than :attr:`FEW` cases of which at most :attr:`SPARSE`
      have an open deadline, e.g. a state like ``refused``): as the walk, but the cases with
      an open deadline are found from the filtered cases (counted first, one query) and
      sorted whole instead of walking every open deadline of the installation to find them.

    Queries: the count (kept), then two to four per page: the page's ``(case, due date)``
    pairs, the number of cases with open deadlines when the page starts after them (walk),
    the cases without one when the page reaches them (walk), and the page's cases with
    their relations; a filtered list of more than :attr:`FEW` cases also counts those with an
    open deadline (kept) to choose between walk and sparse.
    """

    #: Filtered lists up to this many cases are sorted whole (``annotate``), larger ones walked.
    FEW = 5_000
    #: A larger filtered list with at most this many cases with an open deadline sorts those
    #: whole instead of walking every open deadline to find them (``sparse``).
    SPARSE = 5_000

    def __init__(self, cases, *, overdue_only: bool = False, narrowed: bool = False, now=None):
        self.cases = cases
        self.overdue_only = overdue_only
        self.narrowed = narrowed
        self.now = now or timezone.now()
        self._count = None
        self._with_deadline = None
        self._sparse_count = None

    def _of_case(self):
        return self.cases.order_by().filter(ref=OuterRef("chain"))

    def _firsts(self):
        """Each filtered case's nearest open deadline, as ``(case id, due_at)`` in page order."""
        if self.strategy == "sparse":
            return self._sparse_firsts()
        open_deadlines = Deadline.objects.filter(closed_at__isnull=True)
        earlier = open_deadlines.filter(chain=OuterRef("chain")).filter(
            Q(due_at__lt=OuterRef("due_at")) | Q(due_at=OuterRef("due_at"), pk__lt=OuterRef("pk")))
        firsts = open_deadlines.filter(~Exists(earlier), Exists(self._of_case()))
        if self.overdue_only:
            firsts = firsts.filter(due_at__lt=self.now)
        of_case = self._of_case()
        # ``closed_at`` (NULL for all of them) leads the order so that the walk follows the index
        # on (closed_at, due_at); the case's round code, number and id only break ties
        return (firsts.annotate(case_id=Subquery(of_case.values("pk")[:1]),
                                round_code=Subquery(of_case.values("round__code")[:1]),
                                case_number=Subquery(of_case.values("number")[:1]))
                .order_by("closed_at", "due_at", "round_code", "case_number", "case_id")
                .values_list("case_id", "due_at"))

    def _open_deadline_of_case(self):
        return Deadline.objects.filter(chain=OuterRef("ref"), closed_at__isnull=True)

    def _sparse_firsts(self):
        """:meth:`_firsts` for a filtered list whose cases with an open deadline are few: those
        cases with their nearest due date, sorted whole (the same columns and order)."""
        nearest = self._open_deadline_of_case().order_by("due_at").values("due_at")[:1]
        firsts = (self.cases.order_by().filter(Exists(self._open_deadline_of_case()))
                  .annotate(due_at=Subquery(nearest), closed_at=Value(None, output_field=DateTimeField()),
                            round_code=F("round__code"), case_number=F("number"), case_id=F("pk")))
        if self.overdue_only:
            firsts = firsts.filter(due_at__lt=self.now)
        firsts = (firsts.order_by("closed_at", "due_at", "round_code", "case_number", "case_id")
                  .values_list("case_id", "due_at"))
        return firsts.none() if self._filtered_with_deadline() == 0 else firsts

    def _filtered_with_deadline(self) -> int:
        """How many filtered cases have an open deadline, counted up to :attr:`SPARSE` + 1 (one
        query, kept: it stops early when they are many)."""
        if self._sparse_count is None:
            self._sparse_count = (self.cases.order_by().filter(Exists(self._open_deadline_of_case()))
                                  .values("pk")[:self.SPARSE + 1].count())
        return self._sparse_count

    def _without_deadline(self):
        """The filtered cases without an open deadline, as case ids in page order."""
        open_deadlines = Deadline.objects.filter(chain=OuterRef("ref"), closed_at__isnull=True)
        return (self.cases.filter(~Exists(open_deadlines)).order_by("round__code", "number", "pk")
                .values_list("pk", flat=True))

    def _annotated(self):
        """Every filtered case with its nearest open due date, as ``(case id, due)`` in page order."""
        nearest = (Deadline.objects.filter(chain=OuterRef("ref"), closed_at__isnull=True)
                   .order_by("due_at").values("due_at")[:1])
        cases = self.cases.order_by().annotate(next_due=Subquery(nearest))
        if self.overdue_only:
            cases = cases.filter(next_due__lt=self.now)
        return (cases.order_by(F("next_due").asc(nulls_last=True), "round__code", "number", "pk")
                .values_list("pk", "next_due"))

    def _cases_with_deadline(self) -> int:
        if self._with_deadline is None:
            self._with_deadline = self._firsts().count()
        return self._with_deadline

    def count(self) -> int:
        """The number of cases on all pages (one query, kept)."""
        if self._count is None:
            if self.overdue_only and not self.narrowed:
                self._count = self._cases_with_deadline()
            elif self.overdue_only:
                self._count = self._annotated().count()
            else:
                self._count = self.cases.order_by().count()
        return self._count

    @property
    def strategy(self) -> str:
        """``"walk"``, ``"annotate"`` or ``"sparse"`` (see the class docstring)."""
        if not self.narrowed:
            return "walk"
        if self.count() <= self.FEW:
            return "annotate"
        return "sparse" if self._filtered_with_deadline() <= self.SPARSE else "walk"

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("WorkList supports plain slices only")
        start, stop = index.start or 0, index.stop
        if start < 0 or stop is None or stop < start:
            raise ValueError("WorkList slices need 0 <= start <= stop")
        if stop == start:
            return []
        if self.strategy == "annotate":
            pairs = list(self._annotated()[start:stop])
        else:
            pairs = self._walk(start, stop)
        return self._load(pairs)

    #: From this offset on, the walk first counts the cases with deadlines (so that a page past
    #: them does not walk every deadline to find that out).
    DEEP = 1_000

    def _walk(self, start: int, stop: int) -> list[tuple[int, object]]:
        if start >= self.DEEP and not self.overdue_only and start >= self._cases_with_deadline():
            pairs = []
        else:
            pairs = list(self._firsts()[start:stop])
        missing = stop - start - len(pairs)
        if missing and not self.overdue_only:
            # the page reaches past the cases with open deadlines: how many there are is known
            # from this slice unless it is empty (then one count)
            with_deadline = start + len(pairs) if pairs or start == 0 else self._cases_with_deadline()
            skip = max(0, start - with_deadline)
            pairs += [(pk, None) for pk in self._without_deadline()[skip:skip + missing]]
        return pairs


    # -- keyset ("seek") reading: pages before or after a row, whatever its depth ----------------

    def _after(self, fields: tuple[str, ...], key: tuple, *, forward: bool, nullable_first: bool = False) -> Q:
        """The rows strictly after (``forward``) or before ``key`` in the ascending order of
        ``fields`` (``key`` gives one value per field). With ``nullable_first`` the first field
        may be NULL (None in ``key``) and NULLs sort last, as in the page order."""
        nothing = Q(pk__in=[])
        strict, equal = [], []
        for index, (field, value) in enumerate(zip(fields, key, strict=True)):
            if index == 0 and nullable_first:
                if value is None:
                    strict.append(nothing if forward else Q(**{f"{field}__isnull": False}))
                    equal.append(Q(**{f"{field}__isnull": True}))
                else:
                    strict.append(Q(**{f"{field}__gt": value}) | Q(**{f"{field}__isnull": True}) if forward
                                  else Q(**{f"{field}__lt": value}))
                    equal.append(Q(**{field: value}))
            else:
                strict.append(Q(**{f"{field}__{'gt' if forward else 'lt'}": value}))
                equal.append(Q(**{field: value}))
        condition = nothing
        for index, step in enumerate(strict):
            prefix = Q()
            for same in equal[:index]:
                prefix &= same
            condition |= prefix & step
        return condition

    def _firsts_beyond(self, key: CursorKey | None, *, forward: bool):
        """:meth:`_firsts` from ``key`` on (None: from the start or the end), in reading order."""
        firsts = self._firsts()
        if key is not None:
            # the plain bound lets the walk start in the index at the key's due date
            firsts = firsts.filter(**{"due_at__gte" if forward else "due_at__lte": key.due}).filter(
                self._after(("due_at", "round_code", "case_number", "case_id"),
                            (key.due, key.round_code, key.number, key.pk), forward=forward))
        if not forward:
            firsts = firsts.order_by("-closed_at", "-due_at", "-round_code", "-case_number", "-case_id")
        return firsts

    def _without_deadline_seek(self, key: CursorKey | None, limit: int, *, forward: bool) -> list[int]:
        """Up to ``limit`` ids of the filtered cases without an open deadline after (``forward``)
        or before ``key`` in their order (round code, number; None: from the start or the end).

        A round's cases are in the order of the unique index on ``(round, number)``, so the
        key's own round is read from the key on in that index; on PostgreSQL the rounds after
        it are read in one query, each round's first ``limit`` cases as an array
        (``ArraySubquery``), rounds by code, so that no round is sorted whole. Elsewhere
        (SQLite: the demo) one ordered query.
        """
        # (round, number) is unique: the number orders a round's cases, the id is never needed
        order = ("round__code", "number") if forward else ("-round__code", "-number")
        found: list[int] = []
        if key is not None:
            # the round's id as a value (an InitPlan), so that the index on (round, number) is
            # read from the key on
            same_round = self._without_deadline().filter(
                round_id=Subquery(Round.objects.filter(code=key.round_code).values("pk")[:1]),
                **{"number__gt" if forward else "number__lt": key.number})
            found = list(same_round.order_by(*order[1:])[:limit])
            if len(found) == limit:
                return found
        if connection.vendor != "postgresql":
            rest = self._without_deadline()
            if key is not None:
                rest = rest.filter(**{"round__code__gt" if forward else "round__code__lt": key.round_code})
            return found + list(rest.order_by(*order)[:limit - len(found)])
        rounds = Round.objects.all()
        if key is not None:
            rounds = rounds.filter(**{"code__gt" if forward else "code__lt": key.round_code})
        per_round = self._without_deadline().filter(round_id=OuterRef("pk")).order_by(*order[1:])
        arrays = (rounds.order_by(order[0].replace("round__", ""))
                  .annotate(ids=ArraySubquery(per_round.values("pk")[:limit - len(found)]))
                  .values_list("ids", flat=True))
        for ids in arrays:
            found += ids[:limit - len(found)]
            if len(found) == limit:
                break
        return found

    def _annotated_beyond(self, key: CursorKey | None, *, forward: bool):
        """:meth:`_annotated` from ``key`` on (None: from the start or the end)."""
        cases = self._annotated()
        if key is not None:
            cases = cases.filter(self._after(("next_due", "round__code", "number", "pk"),
                                             (key.due, key.round_code, key.number, key.pk),
                                             forward=forward, nullable_first=True))
        if not forward:
            cases = cases.order_by(F("next_due").desc(nulls_first=True), "-round__code", "-number", "-pk")
        return cases

    def _seek(self, key: CursorKey | None, limit: int, *, forward: bool) -> list[tuple[int, object]]:
        """Up to ``limit`` ``(case id, due)`` pairs after (``forward``) or before ``key``, in
        reading order (``key`` None: from the start, or backwards from the end)."""
        if self.strategy == "annotate":
            return list(self._annotated_beyond(key, forward=forward)[:limit])
        in_deadlines = key is None or key.due is not None
        if forward:
            pairs = list(self._firsts_beyond(key, forward=True)[:limit]) if in_deadlines else []
            if len(pairs) < limit and not self.overdue_only:
                rest = self._without_deadline_seek(None if in_deadlines else key, limit - len(pairs), forward=True)
                pairs += [(pk, None) for pk in rest]
            return pairs
        pairs = []
        if not (key is not None and key.due is not None) and not self.overdue_only:
            pairs = [(pk, None) for pk in self._without_deadline_seek(key, limit, forward=False)]
        if len(pairs) < limit:
            pairs += list(self._firsts_beyond(key if in_deadlines else None, forward=False)[:limit - len(pairs)])
        return pairs

    def _load(self, pairs) -> list[Case]:
        """The cases of ``pairs`` (``(case id, due)``) in that order, each with ``next_due`` and
        ``overdue`` set (one query)."""
        loaded = self.cases.order_by().in_bulk([pk for pk, _due in pairs])
        page = []
        for pk, due in pairs:
            case = loaded.get(pk)
            if case is None:  # gone between the two queries
                continue
            case.next_due = due
            case.overdue = due is not None and due < self.now
            page.append(case)
        return page

    def seek_page(self, cursor: Cursor | None, per_page: int) -> SeekPage:
        """The page that ``cursor`` points to (None: the first page), read by keyset.

        A ``next`` cursor gives the ``per_page`` cases after its key, a ``previous`` one those
        before it (when fewer than ``per_page`` are left before it, the first page instead); a
        ``last`` cursor the last page (as many cases as the pages before it leave, so that
        the pages read backwards are those read forwards). Cost: the rows of the page (and one more to know whether
        another page follows), wherever the page is (docs/scale.md). Queries: one or two reads
        of ``(case, due)`` pairs (two when the page straddles the cases with and without an
        open deadline), the cases, and the count (kept) for "page n of m".
        """
        if cursor is None or cursor.direction == Cursor.NEXT:
            key = cursor.key if cursor is not None else None
            pairs = self._seek(key, per_page + 1, forward=True)
            number = cursor.number if cursor is not None else 1
            more = len(pairs) > per_page
            return SeekPage(self, self._load(pairs[:per_page]), number=number, has_next=more,
                            has_previous=cursor is not None, per_page=per_page)
        if cursor.direction == Cursor.LAST:
            # the last page holds what the pages before it leave, as when read forwards
            number = max(1, -(-self.count() // per_page))
            size = self.count() - (number - 1) * per_page
            pairs = self._seek(None, size + 1, forward=False) if size > 0 else []
            more = len(pairs) > size
            return SeekPage(self, self._load(pairs[:size][::-1]), number=number, has_next=False,
                            has_previous=more, per_page=per_page)
        pairs = self._seek(cursor.key, per_page + 1, forward=False)
        if len(pairs) <= per_page:
            # the start is reached: the first page, full (it may repeat rows of the next page
            # when cases joined the list meanwhile)
            return self.seek_page(None, per_page)
        pairs = pairs[:per_page][::-1]
        return SeekPage(self, self._load(pairs), number=max(2, cursor.number), has_next=True,
                        has_previous=True, per_page=per_page)


def work_list(*, user, filters: dict) -> WorkList:
    """The cases of the work page for ``user`` and the cleaned ``filters`` (:class:`WorkList`:
    overdue first, then by the nearest open due date; each case carries ``overdue`` (bool)
    and ``next_due`` (the nearest open due date, an aware datetime, or None))."""
    # the round's imported file (``Round.source``) is not shown: not decoded for every row
    cases = (selectors.visible_cases(user=user)
             .select_related("diagnosis", "plan", "implementation")
             .defer("round__source")
             .prefetch_related("support_measures"))
    if filters.get("round"):
        cases = cases.filter(round__code=filters["round"])
    if filters.get("state"):
        cases = cases.filter(state=filters["state"])
    if filters.get("q"):
        text = filters["q"]
        cases = cases.filter(Q(ref__icontains=text) | Q(name_en__icontains=text) | Q(name_ru__icontains=text)
                             | Q(name_kk__icontains=text))
    return WorkList(cases, overdue_only=bool(filters.get("overdue")),
                    narrowed=any(filters.get(name) for name in ("round", "state", "q")))


def _check_tasks(user, cases) -> dict[int, object]:
    """``{application id: open completeness-check task}`` among ``cases`` that ``user`` may act on."""
    ids = [c.application.pk for c in cases if _related(c, "application") is not None
           and c.application.state in AWAITING_CHECK]
    if not ids:
        return {}
    content_type = ContentType.objects.get_for_model(Application)
    found = {}
    for task in human_tasks.visible_tasks(user).filter(process__artifact_content_type=content_type,
                                                       process__artifact_object_id__in=ids):
        found.setdefault(int(task.process.artifact_object_id), task)
    return found


def _selected_ids(request) -> list[int] | None:
    """The ``selected`` case ids of the query string, or None when one is malformed."""
    try:
        ids = sorted({int(v) for v in request.GET.getlist("selected")})
    except ValueError:
        return None
    return ids if all(0 < i < 2**63 for i in ids) else None


def work_lines(rows, *, user, tasks: dict, chosen: set) -> list[dict]:
    """The work page's rows, ready to print (the template only prints them: formatting 50 rows
    with their forms in the template cost about 60% of the page's CPU time).

    One dict per case of ``rows`` (:class:`WorkList` rows: ``next_due`` and ``overdue`` set):
    ``case``, ``state`` and ``detail`` (labels), ``name`` (the case's name in the active
    language), ``case_url``, ``due_text`` (SHORT_DATE_FORMAT in the active time zone, or ""),
    ``score`` (the selection's score or None), ``select_label``, ``allowed`` (``[{"name",
    "label", "url"}]``: a form each), ``refused`` (``[{"name", "label", "reason"}]``) with
    ``refused_text`` ("2 actions not available"), ``task`` (the open completeness check of
    ``tasks``, by application id, or None) with ``check_url`` and ``outcomes`` (``[(name,
    label)]``), ``selected`` (its id is in ``chosen``), ``assign`` (experts may be assigned)
    with ``assign_url``. Labels and URLs are made once per page, not per row.
    """
    from django.utils.formats import date_format
    from django.utils.translation import get_language, gettext, ngettext

    language = get_language()
    labels = selectors._Memo(transition_label)
    case_url = selectors._url_filler("portal:case-detail")
    check_url = selectors._url_filler("portal:task-complete")
    assign_url = selectors._url_filler("portal:scoring-assign")
    transition_url = selectors._Memo(lambda name: selectors._url_filler("portal:case-transition", name))
    lines = []
    for case in rows:
        options = available_transitions(case, user)
        application = _related(case, "application")
        task = tasks.get(application.pk) if application is not None else None
        selection = _related(application, "selection") if application is not None else None
        refused = [{"name": o.name, "label": labels(o.name), "reason": o.reason} for o in options if not o.allowed]
        lines.append({
            "case": case, "state": state_label(case.state), "detail": stage_detail(case),
            "name": case.name(language), "case_url": case_url(case.pk),
            "due_text": date_format(timezone.localtime(case.next_due), "SHORT_DATE_FORMAT") if case.next_due else "",
            "score": selection.score if selection is not None else None,
            "select_label": gettext("Select %(ref)s") % {"ref": case.ref},
            "allowed": [{"name": o.name, "label": labels(o.name), "url": transition_url(o.name)(case.pk)}
                        for o in options if o.allowed],
            "refused": refused,
            "refused_text": ngettext("%(counter)s action not available", "%(counter)s actions not available",
                                     len(refused)) % {"counter": len(refused)} if refused else "",
            "task": task,
            "check_url": check_url(task.pk) if task is not None else "",
            "outcomes": [(name, labels(name)) for name in human_tasks.outcomes_of(task)] if task is not None else [],
            "selected": case.pk in chosen,
            "assign": application is not None and application.state == SCORABLE
            and case.state == Case.State.SELECTION and selection is None,
            "assign_url": assign_url(case.pk),
        })
    return lines


@require_safe
@login_required
def coordinator(request):
    """The coordinator's work page (see the module docstring); 403 for other roles."""
    require_role(request.user, *COORDINATOR_ROLES)
    form = WorkFilters(request.GET or None)
    status = 200
    problems = []
    if form.is_bound and not form.is_valid():
        status = 400
        filters = {}
    else:
        filters = form.cleaned_data if form.is_bound else {}
    selected_ids = _selected_ids(request)
    if selected_ids is None:
        status, selected_ids = 400, []
        problems.append(_("A selected case is not a valid case number."))
    selected = []
    if selected_ids:
        selected = list(selectors.visible_cases(user=request.user).filter(pk__in=selected_ids))
        if len(selected) != len(selected_ids):
            status, selected = 400, []
            problems.append(_("Some of the selected cases do not exist."))
    cursor = None
    if "cursor" in request.GET:
        try:
            cursor = Cursor.decode(request.GET["cursor"])
        except BadCursor:
            status = 400
            problems.append(_("The link to this page is damaged; the first page is shown."))
    if form.errors:
        page = SeekPage(WorkList(Case.objects.none()), [], number=1, has_next=False, has_previous=False,
                        per_page=PER_PAGE)
    else:
        work = work_list(user=request.user, filters=filters)
        if "page" in request.GET and "cursor" not in request.GET:
            # a page by number (an old link): offset paging, its cost grows with the number
            page = SeekPage.of_numbered(work, Paginator(work, PER_PAGE).get_page(request.GET.get("page")))
        else:
            page = work.seek_page(cursor, PER_PAGE)
    rows = page.object_list
    tasks = _check_tasks(request.user, rows)
    lines = work_lines(rows, user=request.user, tasks=tasks, chosen={c.pk for c in selected})
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("cursor", None)
    return render(request, "portal/roles/coordinator.html", {
        "form": form,
        "page": page,
        "lines": lines,
        "csrf_input": csrf_input(request),  # one hidden field printed in each row's forms
        "problems": problems,
        "selected": selected,
        "common": common_transitions(selected, request.user) if selected else [],
        "query": query.urlencode(),
        "rounds": Round.objects.order_by("code"),
        # translated once for the page, not once per row that shows them
        "refusal_reasons": [(value, str(label)) for value, label in RefusalReason.choices],
        "experts": expert_choices() if any(line["assign"] for line in lines) else [],
        "now": timezone.now(),
        "is_staff_viewer": True,
    }, status=status)


@require_safe
@login_required
def round_ranking(request, code: str):
    """A round's ranking: each scored application with its score (0..100), rank, the pass mark
    and the selection decision; staff only (403), 404 for an unknown round.

    Order: rank (unranked last), then score descending, then the application reference.
    """
    if not selectors.is_staff_viewer(user=request.user):
        raise PermissionDenied
    rnd = get_object_or_404(Round, code=code)
    selections = (Selection.objects.filter(round=rnd)
                  .select_related("application__case")
                  .annotate(sheets=Count("application__score_sheets",
                                         filter=Q(application__score_sheets__state="submitted")))
                  .order_by(F("rank").asc(nulls_last=True), F("score").desc(nulls_last=True), "application__ref"))
    selections = list(selections)
    messages_by_pk = decision_messages(selections)  # the decisions' reasons, in the reader's language
    rows = []
    for selection in selections:
        rows.append({"selection": selection, "case": selection.application.case,
                     "passes": selection.score is not None and selection.score >= rnd.pass_mark,
                     "within_places": selection.rank is not None and selection.rank <= rnd.max_selected,
                     "reason": (reasons.render(messages_by_pk[selection.pk], fallback=selection.decision_reason)
                                if selection.pk in messages_by_pk else selection.decision_reason)})
    return render(request, "portal/roles/round_ranking.html", {
        "round": rnd,
        "rows": rows,
        "criteria": rnd.criteria.order_by("position"),
        "selected_count": sum(1 for r in rows if r["selection"].state == Selection.State.SELECTED),
        "is_staff_viewer": True,
    })


# -- expert assignment ---------------------------------------------------------------------------

#: Application state whose scoring a coordinator opens by assigning experts.
SCORABLE = Application.State.ACCEPTED


def expert_choices():
    """The active users holding the expert role, by username (one query)."""
    from django.contrib.auth import get_user_model

    from workflow.permissions import EXPERT

    return list(get_user_model().objects.filter(groups__name=EXPERT, is_active=True).order_by("username"))


def scoring_experts(application) -> list:
    """The experts already scoring ``application`` (draft or submitted sheets, not recused)."""
    from processes.selection.models import ScoreSheet

    return [s.expert for s in ScoreSheet.objects.filter(application=application).exclude(
        state=ScoreSheet.State.RECUSED).select_related("expert")]


@require_POST
@login_required
def scoring_assign(request, pk: int):
    """Assign experts to score case ``pk``'s accepted application (POST ``experts``: user ids).

    The experts already scoring it (sheets not recused) are kept; together with the chosen ones
    they must be at least :data:`processes.selection.models.EXPERTS_PER_APPLICATION`. Each new
    expert gets a draft sheet and a scoring task in its inbox
    (:func:`processes.selection.services.open_scoring`, idempotent). An expert who declared a
    conflict of interest on this application cannot be chosen again.

    Coordinators only (403); 404 for a case the user may not see; 409 unless the application
    is accepted and its case in selection; 400 for an id that is not an active expert, a recused
    expert, or too few.
    """
    from django.contrib import messages
    from django.shortcuts import redirect

    from processes.selection.models import EXPERTS_PER_APPLICATION, ScoreSheet
    from processes.selection.services import open_scoring

    from .common import problem

    require_role(request.user, *COORDINATOR_ROLES)
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    application = _related(case, "application")
    if application is None or application.state != SCORABLE or case.state != Case.State.SELECTION:
        return problem(request, 409, _("Experts cannot be assigned now"), _(
            "Only an accepted application is scored; %(case)s is not.") % {"case": case.ref})
    try:
        ids = {int(v) for v in request.POST.getlist("experts")}
    except ValueError:
        ids = {-1}
    experts = {u.pk: u for u in expert_choices()}
    recused = set(ScoreSheet.objects.filter(application=application, state=ScoreSheet.State.RECUSED)
                  .values_list("expert_id", flat=True))
    if not ids or not ids <= set(experts) or ids & recused:
        return problem(request, 400, _("Choose experts"), _(
            "Choose one or more experts from the list (an expert who declared a conflict of interest on this "
            "application cannot be chosen)."))
    chosen = scoring_experts(application)
    chosen += [experts[i] for i in sorted(ids) if i not in {e.pk for e in chosen}]
    if len(chosen) < EXPERTS_PER_APPLICATION:
        return problem(request, 400, _("Choose more experts"), _(
            "An application needs %(count)s experts.") % {"count": EXPERTS_PER_APPLICATION})
    try:
        open_scoring(application=application, experts=chosen)
    except WorkflowError as exc:  # e.g. scoring closed: the selection is decided (409)
        return problem(request, exc.http_status, _("Experts cannot be assigned now"), exc.message)
    messages.success(request, _("%(case)s is scored by %(experts)s.") % {
        "case": case.ref, "experts": ", ".join(e.get_username() for e in chosen)})
    return redirect("portal:coordinator")
