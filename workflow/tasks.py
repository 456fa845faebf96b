"""Human tasks: who is expected to take which transition of which object.

A task is the ``act`` node of a :class:`workflow.flows.HumanTaskFlow` process (viewflow's
``Process`` and ``Task`` models). It names a domain object (``process.artifact``) and the
transition expected of it; it sits in the queue of a role or is assigned to a person.
Completing a task *is* taking the transition: :func:`complete` calls
:func:`workflow.transitions.perform` and finishes the task in one transaction. The object's
FSM field stays the single source of truth: after every successful ``perform``,
:func:`close_tasks_for` cancels the open tasks of the object that the transition made moot,
so a transition taken by another path (admin, management command, API) never leaves a stale
task in an inbox.

Invariant kept by :func:`close_tasks_for`: an open task always names at least one transition
(one of its ``outcomes``) that leaves its object's current state.

Routing (docs/cycle.md, "Tasks and the stage services"): a model whose transition has a service
with side effects (a document, an approval, a notice) declares the transition in
``routed_transitions`` and implements ``take_task_transition(name, *, actor, comment, data)``,
which calls that service (or refuses, changing nothing, when the service needs input the task
does not carry). :func:`complete` (the inbox, ``POST /api/tasks/<id>/complete/``) and
:func:`take` (the API's ``POST <object>/transitions/<name>/``, the portal's pages) both go
through it, so every path has the same consequences. A service that takes its own transition
calls ``take(..., route=False)`` (or ``perform``), so it is not called a second time.

Task states are viewflow's: ``NEW`` (queued, unassigned), ``ASSIGNED`` (held by ``owner``),
``STARTED`` (being completed, only inside :func:`complete`'s transaction), ``DONE``
(completed through the task) and ``CANCELED`` (closed because the object moved on).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Sequence

from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.prefetch import GenericPrefetch
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from . import permissions
from .exceptions import StaleObject, TransitionPermissionDenied, UnknownTransition, WorkflowError
from .deadlines import close_deadlines
from .flows import HumanTaskFlow
from .transitions import _check, _fsm_meta, describe, perform, transition_name

#: Statuses of a task that still waits for someone.
OPEN = (STATUS.NEW, STATUS.ASSIGNED)
#: Roles that may assign any task to anybody and return any task to its queue.
MANAGER_ROLES = (permissions.COORDINATOR,)

#: ``(model label, pk, transition)`` whose ``take_task_transition`` is running in this context
#: (a service it calls that takes the transition with :func:`take` must not route it again).
_ROUTING: contextvars.ContextVar[frozenset] = contextvars.ContextVar("kelisim_task_routing", default=frozenset())


# -- routing ---------------------------------------------------------------------------------

def routed_transitions(model) -> frozenset[str]:
    """The transitions of ``model`` (a class or an instance) taken through its stage service:
    its ``routed_transitions`` when it also has ``take_task_transition``, else empty."""
    model = model if isinstance(model, type) else type(model)
    if getattr(model, "take_task_transition", None) is None:
        return frozenset()
    return frozenset(getattr(model, "routed_transitions", ()))


def _routing_key(obj, transition: str) -> tuple:
    return (obj._meta.label_lower, obj.pk, transition)


@contextlib.contextmanager
def _routing(obj, transition: str):
    token = _ROUTING.set(_ROUTING.get() | {_routing_key(obj, transition)})
    try:
        yield
    finally:
        _ROUTING.reset(token)


def _route(obj, transition: str, *, actor, comment: str, data: dict | None) -> None:
    """Call ``obj.take_task_transition`` for ``transition`` (marking it as being routed)."""
    with _routing(obj, transition):
        obj.take_task_transition(transition, actor=actor, comment=comment, data=data)


def _being_routed(obj, transition: str) -> bool:
    return _routing_key(obj, transition) in _ROUTING.get()


def ensure_allowed(obj, transition: str, *, actor) -> None:
    """Raise what :func:`workflow.transitions.perform` would raise for ``transition`` of ``obj``
    taken by ``actor`` now (409 ``TransitionNotAllowed`` for a wrong state or a closed object,
    403 ``TransitionPermissionDenied``, 400 ``ConditionUnmet``), without writing anything.

    A routed transition's ``take_task_transition`` calls it before its service renders a
    document, so a refusal leaves no file behind.
    """
    _check(obj, transition, actor)


# -- helpers ---------------------------------------------------------------------------------

def _act_tasks() -> QuerySet[Task]:
    return Task.objects.filter(flow_task=HumanTaskFlow.act)


def _of_object(queryset: QuerySet[Task], obj) -> QuerySet[Task]:
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
    return queryset.filter(process__artifact_content_type=content_type, process__artifact_object_id=obj.pk)


def task_data(task: Task) -> dict:
    """``task``'s process data: ``{"transition", "outcomes", "role", "assignee_id", "title"}``."""
    return task.process.data or {}


def outcomes_of(task: Task) -> list[str]:
    """The transitions that complete ``task``: its ``transition`` first, then the alternatives."""
    data = task_data(task)
    return list(data.get("outcomes") or [data["transition"]])


def is_open(task: Task) -> bool:
    """True while ``task`` waits for someone (queued or assigned)."""
    return task.status in OPEN


def _username(user) -> str:
    return getattr(user, "username", None) or "anonymous"


def _is_manager(user) -> bool:
    return permissions.has_role(user, *MANAGER_ROLES)


def _locked(task: Task) -> Task:
    """Reload ``task`` with its row locked (call inside a transaction)."""
    return Task.objects.select_for_update().select_related("process").get(pk=task.pk)


def _refresh(task: Task) -> None:
    task.refresh_from_db()
    task.process.refresh_from_db()


def _when(task: Task) -> str:
    moment = task.finished or task.process.finished
    return timezone.localtime(moment).strftime("%d.%m.%Y %H:%M") if moment is not None else "?"


def closed_message(task: Task) -> str:
    """Why the task that is no longer open cannot be completed, for a person, in the active
    language: "task #282 (title) was already completed by coordinator at 29.11.2026 19:52
    (“send for signing”)" for a done task, "... was cancelled at T: its case was suspended" or
    "... was closed at T: “approve” was taken by another way" for a cancelled one (times in the
    local time zone, Asia/Almaty)."""
    from django.contrib.auth import get_user_model

    title = task_data(task).get("title", "")
    info = task.data or {}
    names = {"task": task.pk, "title": _(title) if title else "", "time": _when(task)}
    if task.status == STATUS.DONE:
        who = get_user_model().objects.filter(pk=info.get("completed_by") or task.owner_id).first()
        return _("task #%(task)s (%(title)s) was already completed by %(user)s at %(time)s (%(outcome)s); "
                 "reload your inbox") % {**names, "user": _username(who),
                                         "outcome": transition_name(info.get("outcome", ""))}
    closed = info.get("closed") or {}
    if closed.get("by") == "cancelled":
        reason = str(closed.get("reason", ""))
        why = _("its case was suspended") if reason.startswith("case suspended") else reason
        return _("task #%(task)s (%(title)s) was cancelled at %(time)s: %(reason)s") % {**names, "reason": why}
    if closed.get("by"):
        return _("task #%(task)s (%(title)s) was closed at %(time)s: %(transition)s was taken another way") % {
            **names, "transition": transition_name(closed["by"])}
    return _("task #%(task)s (%(title)s) is no longer open: it is %(status)s; reload your inbox") % {
        **names, "status": task.status.lower()}


def _require_open(task: Task) -> None:
    if not is_open(task):
        raise StaleObject(closed_message(task), transition=task_data(task).get("transition", ""),
                          state=str(task.status))


def seen_closed_task(user, pk: int) -> Task | None:
    """The task ``pk`` when it is no longer open (done or cancelled) and ``user`` could have
    acted on it while it was (a coordinator; its holder; a holder of its queue's role; the
    person it was assigned to), else ``None``: the loser of a concurrent completion gets a 409
    with :func:`closed_message` instead of a 404, and a task the user could never see stays a
    404 (the portal's ``task_complete``, ``POST /api/tasks/<id>/complete/``)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    task = (_act_tasks().exclude(status__in=OPEN).filter(pk=pk)
            .select_related("process", "owner").first())
    if task is None:
        return None
    data = task_data(task)
    role = data.get("role")
    if (_is_manager(user) or task.owner_id == user.pk or data.get("assignee_id") == user.pk
            or (role and permissions.has_role(user, role))):
        return task
    return None


def _activation(task: Task):
    return task.flow_task.activation_class(task)


def _take_for(task: Task, user) -> None:
    """Assign the (locked, queued) ``task`` to ``user``."""
    activation = _activation(task)
    activation.assign(user)
    task.assigned = timezone.now()
    task.save(update_fields=["status", "owner", "assigned"])


# -- opening ---------------------------------------------------------------------------------

@transaction.atomic
def open_task(obj, transition: str, *, title: str, role: str | None = None, assignee=None,
              outcomes: Sequence[str] = (), due_at=None) -> Task:
    """Open a human task expecting ``transition`` of ``obj``; return its open ``act`` task.

    ``obj`` is a saved model instance with a django-fsm transition named ``transition``
    (and each name in ``outcomes``, the alternative transitions that also complete the task,
    e.g. ``refuse`` for a completeness check opened on ``accept``). The task goes to
    ``assignee`` (a user) when given, otherwise to the queue of ``role`` (a role code of
    :mod:`workflow.permissions`); ``role`` is also the queue an assigned task returns to
    when unassigned.

    Idempotent: when an open task of ``obj`` for ``transition`` with the same assignee (or
    none) already exists, it is returned unchanged. With ``due_at`` (aware; see
    ``workflow.calendar.due_at``) the task gets a :class:`~workflow.models.Deadline` whose
    reminders go to the assignee (or the role's holders); it closes with the task.

    Raises :class:`~workflow.exceptions.UnknownTransition` for a transition ``obj`` does not
    have, ``ValueError`` when ``obj``'s model does not declare ``human_tasks = True``, when
    neither ``role`` nor ``assignee`` is given or ``role`` is not a known role.
    """
    if not getattr(type(obj), "human_tasks", False):
        raise ValueError(f"{type(obj).__name__} does not declare human_tasks = True")
    names = [transition] + [t for t in outcomes if t != transition]
    for name in names:
        _fsm_meta(obj, name)
    if role is None and assignee is None:
        raise ValueError("a task needs a role (its queue) or an assignee")
    if role is not None and role not in permissions.ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(permissions.ROLES)}")
    assignee_id = assignee.pk if assignee is not None else None
    existing = (_of_object(_act_tasks(), obj)
                .filter(status__in=OPEN, process__data__transition=transition,
                        process__data__assignee_id=assignee_id)
                .select_related("process").order_by("pk").first())
    if existing is not None:
        return existing
    data = {"transition": transition, "outcomes": names, "role": role, "assignee_id": assignee_id,
            "title": title}
    process = HumanTaskFlow.start.run(artifact=obj, data=data)
    task = _act_tasks().select_related("process").get(process=process)
    # the queue is also kept on the task itself, so the inbox filters without a join
    task.data = {**(task.data or {}), "role": role}
    Task.objects.filter(pk=task.pk).update(data=task.data)
    if due_at is not None:
        from .deadlines import open_deadline

        open_deadline(chain=getattr(obj, "audit_chain", ""), label=title, due_at=due_at, subject=obj,
                      task_id=task.pk, responsible=assignee, role=role or "",
                      language=getattr(obj, "document_language", "ru"))
    return task


# -- queue operations ------------------------------------------------------------------------

def claim(task: Task, user) -> Task:
    """``user`` takes the queued ``task`` (it must hold the task's role); return the task.

    Claiming a task one already holds is a no-op. Raises
    :class:`~workflow.exceptions.TransitionPermissionDenied` (403) when ``user`` lacks the
    task's role, :class:`~workflow.exceptions.StaleObject` (409) when someone else holds it
    or it is no longer open. On error nothing changes (``task`` is reloaded).
    """
    try:
        with transaction.atomic():
            locked = _locked(task)
            _require_open(locked)
            if locked.owner_id is not None and locked.owner_id == getattr(user, "pk", None):
                return task
            role = task_data(locked).get("role")
            if not role or not permissions.has_role(user, role):
                why = (_("requires the role %(roles)s") % {"roles": permissions.role_label(role)} if role
                       else _("it belongs to no role's queue"))
                raise TransitionPermissionDenied(
                    _("%(user)s may not claim task #%(task)s: %(reason)s") % {
                        "user": _username(user), "task": locked.pk, "reason": why},
                    transition=task_data(locked).get("transition", ""), state=str(locked.status),
                )
            if locked.owner_id is not None:
                raise StaleObject(
                    _("task #%(task)s is already held by %(owner)s") % {
                        "task": locked.pk, "owner": locked.owner.get_username()},
                    transition=task_data(locked).get("transition", ""), state=str(locked.status),
                )
            _take_for(locked, user)
    finally:
        _refresh(task)
    return task


def assign(task: Task, user, *, by) -> Task:
    """A coordinator (``by``) assigns the open ``task`` to ``user``; return the task.

    Reassigns a task someone already holds. Raises ``TransitionPermissionDenied`` (403) when
    ``by`` is not a coordinator, ``StaleObject`` (409) when the task is no longer open.
    """
    if not _is_manager(by):
        raise TransitionPermissionDenied(
            _("%(user)s may not assign tasks: %(reason)s") % {"user": _username(by), "reason": _(
                "requires the role %(roles)s") % {"roles": ", ".join(map(permissions.role_label, MANAGER_ROLES))}})
    try:
        with transaction.atomic():
            locked = _locked(task)
            _require_open(locked)
            activation = _activation(locked)
            if locked.status == STATUS.ASSIGNED:
                activation.reassign(user)
            else:
                activation.assign(user)
            locked.assigned = timezone.now()
            locked.save(update_fields=["status", "owner", "assigned"])
    finally:
        _refresh(task)
    return task


def unassign(task: Task, *, by) -> Task:
    """The holder or a coordinator (``by``) returns the assigned ``task`` to its role's queue.

    Raises ``TransitionPermissionDenied`` (403) when ``by`` neither holds the task nor is a
    coordinator, ``StaleObject`` (409) when the task is not assigned (any more), and
    :class:`~workflow.exceptions.WorkflowError` (400) when the task has no role whose queue
    could take it back.
    """
    try:
        with transaction.atomic():
            locked = _locked(task)
            _require_open(locked)
            if locked.owner_id is None:
                raise StaleObject(_("task #%(task)s is not assigned to anybody") % {"task": locked.pk},
                                  transition=task_data(locked).get("transition", ""), state=str(locked.status))
            if locked.owner_id != getattr(by, "pk", None) and not _is_manager(by):
                raise TransitionPermissionDenied(
                    _("%(user)s may not unassign task #%(task)s: it is held by %(owner)s") % {
                        "user": _username(by), "task": locked.pk, "owner": locked.owner.get_username()},
                    transition=task_data(locked).get("transition", ""), state=str(locked.status))
            if not task_data(locked).get("role"):
                raise WorkflowError(_("task #%(task)s has no role queue to return to; assign it instead") % {
                    "task": locked.pk},
                                    transition=task_data(locked).get("transition", ""))
            _activation(locked).unassign()
            locked.assigned = None
            locked.save(update_fields=["status", "owner", "assigned"])
    finally:
        _refresh(task)
    return task


# -- completion ------------------------------------------------------------------------------

def complete(task: Task, *, user, transition: str | None = None, comment: str = "",
             data: dict | None = None, obj=None, route: bool = True):
    """``user`` completes ``task`` by taking its transition; return the object in its new state.

    ``transition`` defaults to the task's transition; any other of the task's ``outcomes``
    may be chosen (e.g. ``refuse`` on a completeness check). ``obj`` is the task's object when
    the caller already holds it (it is then updated in place); by default the task's artifact
    is loaded.

    In one transaction: locks the task row, checks it is still open, claims it when it is
    queued and ``user`` may claim it, checks ``user`` holds it (or stands in for its holder
    under a delegation), calls the object's ``take_task_transition`` when it has one (e.g. a
    decision, which also concludes its approval; a plan's ``send_for_signing``, which renders
    the plan and asks the signatories: see "Routing" above) or else
    :func:`workflow.transitions.perform` (``actor=user``, with ``comment`` and ``data``), then
    finishes the viewflow task so the process reaches its end. The task's ``data`` records
    ``{"outcome": transition, "completed_by": user id}``. With ``route=False`` (a service
    completing the task of the transition it takes itself) ``perform`` is called in any case.

    Raises ``StaleObject`` (409) when the task is no longer open or is held by someone else,
    ``TransitionPermissionDenied`` (403) when ``user`` may not claim it, ``UnknownTransition``
    (400) for a transition that is not an outcome of the task (also ``""``: only ``None``
    means the default), and every error of
    ``perform``. On any error the task and the object are unchanged (both are reloaded).
    """
    if obj is None:
        obj = task.process.artifact
    elif (ContentType.objects.get_for_model(obj, for_concrete_model=False).pk,
          obj.pk) != (task.process.artifact_content_type_id, task.process.artifact_object_id):
        raise ValueError(f"{describe(obj)} is not the object of task #{task.pk}")
    if obj is None:
        raise StaleObject(_("the object of task #%(task)s no longer exists") % {"task": task.pk},
                          state=str(task.status))
    try:
        with transaction.atomic():
            locked = _locked(task)
            _require_open(locked)
            allowed = outcomes_of(locked)
            chosen = allowed[0] if transition is None else transition  # "" is not an outcome: 400
            if chosen not in allowed:
                raise UnknownTransition(
                    _("task #%(task)s is completed by %(allowed)s, not by %(chosen)s") % {
                        "task": locked.pk, "allowed": ", ".join(transition_name(t) for t in allowed),
                        "chosen": transition_name(chosen)},
                    obj=obj, transition=chosen)
            if locked.status == STATUS.NEW:
                role = task_data(locked).get("role")
                if not role or not permissions.has_role(user, role):
                    raise TransitionPermissionDenied(
                        _("%(user)s may not take task #%(task)s: %(reason)s") % {
                            "user": _username(user), "task": locked.pk,
                            "reason": _("requires the role %(roles)s") % {"roles": permissions.role_label(role or "")}},
                        obj=obj, transition=chosen, state=str(locked.status))
                _take_for(locked, user)
            elif locked.owner_id != getattr(user, "pk", None) and not _act_tasks().filter(
                    _covered_for(user), pk=locked.pk).exists():
                raise StaleObject(
                    _("task #%(task)s is held by %(owner)s, not %(user)s") % {
                        "task": locked.pk, "owner": locked.owner.get_username(), "user": _username(user)},
                    obj=obj, transition=chosen, state=str(locked.status))
            activation = _activation(locked)
            activation.start(None)  # STARTED: close_tasks_for (called by perform) leaves it alone
            locked.save(update_fields=["status", "started"])
            handler = getattr(obj, "take_task_transition", None) if route else None
            if handler is not None and not _being_routed(obj, chosen):
                # the model's own service (a decision concludes its approval, a plan is rendered
                # and sent to its signatories, ...), or its refusal when input is missing
                _route(obj, chosen, actor=user, comment=comment, data=data)
            else:
                perform(obj, chosen, actor=user, comment=comment, data=data)
            locked.data = {**(locked.data or {}), "outcome": chosen, "completed_by": user.pk}
            activation.execute()  # DONE, then End finishes the process
            close_deadlines(task_id=locked.pk)
    except BaseException:
        if obj.pk is not None:
            obj.refresh_from_db()
        _refresh(task)
        raise
    _refresh(task)
    return obj


def open_tasks_for(obj, transition: str | None = None) -> QuerySet[Task]:
    """The open tasks of ``obj`` (only those completed by ``transition`` when given), oldest first."""
    queryset = _of_object(_act_tasks(), obj).filter(status__in=OPEN).select_related("process", "owner")
    tasks = queryset.order_by("pk")
    if transition is None:
        return tasks
    wanted = [t.pk for t in tasks if transition in outcomes_of(t)]
    return queryset.filter(pk__in=wanted).order_by("pk")


def follow_up(obj) -> list[Task]:
    """Open the queued tasks that ``obj``'s ``task_plan`` lists for its current state.

    ``task_plan`` maps a state to ``[(transition, role, title, alternatives, limit)]``; the
    task waits in ``role``'s queue for ``transition`` (or one of ``alternatives``); with a
    ``limit`` key the object's ``due_at_for(limit)`` gives the task's due date. A model may
    also define ``task_ready(transition) -> bool``: an entry it answers ``False`` for is not
    opened yet (e.g. the support measure's concluding task waits until every government body
    has answered; ``BodyPosition.after_transition`` calls ``follow_up`` on the measure again).
    Idempotent (:func:`open_task` reuses an open task). Called by ``perform`` after each
    transition and by services when they create a stage object. Returns the open tasks of the
    new state.
    """
    plan = getattr(type(obj), "task_plan", None)
    if not plan or not getattr(type(obj), "human_tasks", False):
        return []
    state = None
    for field in obj._meta.fields:
        if hasattr(field, "get_all_transitions"):
            state = field.get_state(obj)
            break
    opened = []
    ready = getattr(obj, "task_ready", None)
    for transition, role, title, *rest in plan.get(state, ()):
        if ready is not None and not ready(transition):
            continue
        alternatives = tuple(rest[0]) if rest else ()
        limit = rest[1] if len(rest) > 1 else None
        due = obj.due_at_for(limit) if limit and hasattr(obj, "due_at_for") else None
        opened.append(open_task(obj, transition, title=title, role=role, outcomes=alternatives, due_at=due))
    return opened


def take(obj, transition: str, *, actor, comment: str = "", data: dict | None = None, route: bool = True):
    """Take ``transition`` on ``obj`` as ``actor``, through its open task when there is one.

    The way the API, the portal and services take a transition a task may be waiting for:
    when ``obj`` has an open task completed by ``transition`` that ``actor`` holds or may
    claim, it is completed with :func:`complete`; otherwise a routed transition
    (:func:`routed_transitions`) goes to the model's ``take_task_transition`` (its stage
    service) and any other is taken with :func:`perform` directly (which then closes any task
    it made moot, see :func:`close_tasks_for`). A service that takes its own routed transition
    passes ``route=False``: the task is completed, the service is not called again. Returns
    ``obj`` in its new state; raises the errors of ``complete`` / ``perform`` / the service.
    """
    for task in open_tasks_for(obj, transition):
        role = task_data(task).get("role")
        held = task.owner_id is not None and task.owner_id == getattr(actor, "pk", None)
        claimable = task.owner_id is None and bool(role) and permissions.has_role(actor, role)
        if held or claimable:
            return complete(task, user=actor, transition=transition, comment=comment, data=data, obj=obj,
                            route=route)
    if route and transition in routed_transitions(obj) and not _being_routed(obj, transition):
        _route(obj, transition, actor=actor, comment=comment, data=data)
        return obj
    return perform(obj, transition, actor=actor, comment=comment, data=data)


def close_tasks_for(obj, transition: str, *, actor) -> list[Task]:
    """Cancel the open tasks of ``obj`` that ``transition`` (just taken by ``actor``) made moot.

    Called by :func:`workflow.transitions.perform` after each successful transition, inside
    its transaction. A task is closed when ``transition`` is one of its outcomes (the work was
    done by another path) or when none of its outcomes leaves ``obj``'s new state any more.
    Tasks being completed (``STARTED``, i.e. the one :func:`complete` is finishing), done or
    cancelled are skipped. A closed task is ``CANCELED`` with ``data["closed"] = {"by":
    transition, "actor_id": id, "state": new state}``, and its process is cancelled.
    Returns the closed tasks.
    """
    if obj.pk is None or not isinstance(obj.pk, int) or not getattr(type(obj), "human_tasks", False):
        return []
    closed = []
    for task in _of_object(_act_tasks(), obj).filter(status__in=OPEN).select_related("process"):
        names = outcomes_of(task)
        still_possible = False
        for name in names:
            try:
                meta = _fsm_meta(obj, name)
            except UnknownTransition:
                continue
            if meta.has_transition(meta.field.get_state(obj)):
                still_possible = True
                break
        if transition not in names and still_possible:
            continue
        meta = _fsm_meta(obj, transition)
        cancelled = _cancel(task, {"by": transition, "actor_id": getattr(actor, "pk", None),
                                   "state": str(meta.field.get_state(obj))})
        if cancelled is not None:
            closed.append(cancelled)
    return closed


def _cancel(task: Task, closed: dict) -> Task | None:
    locked = _locked(task)
    if not is_open(locked):
        return None
    _activation(locked).cancel()
    locked.data = {**(locked.data or {}), "closed": closed}
    locked.save(update_fields=["data"])
    process = locked.process
    process.status = PROCESS.CANCELED
    process.finished = timezone.now()
    process.save(update_fields=["status", "finished"])
    close_deadlines(task_id=locked.pk)
    return locked


def cancel_tasks_of(obj, *, actor, reason: str) -> list[Task]:
    """Cancel every open task of ``obj`` (e.g. its case was suspended); returns them.

    ``data["closed"]`` records ``{"by": "cancelled", "reason": reason, "actor_id": id}``.
    """
    if obj.pk is None or not getattr(type(obj), "human_tasks", False):
        return []
    info = {"by": "cancelled", "reason": reason, "actor_id": getattr(actor, "pk", None)}
    return [t for t in (_cancel(task, info) for task in _of_object(_act_tasks(), obj).filter(status__in=OPEN))
            if t is not None]


# -- inbox -----------------------------------------------------------------------------------

def inbox(user, *, artifact_querysets: Iterable[QuerySet] = ()) -> QuerySet[Task]:
    """The open tasks of ``user``: assigned to them, the queued tasks of their roles, and the
    tasks of signatories they stand in for today (delegation, out of office).

    Newest first; the process is joined and its artifact prefetched (one query per artifact
    model), so listing the tasks with their objects makes no query per row. Pass
    ``artifact_querysets`` (e.g. ``[Application.objects.select_related("case")]``) to load
    the artifacts with their relations (a ``GenericPrefetch``). Administrators hold every
    role, so they see every queued task. Empty for anonymous users.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return _act_tasks().none()
    roles = permissions.user_roles(user)
    queued = Q(status=STATUS.NEW)
    if permissions.ADMINISTRATOR not in roles:
        # the task's own copy of its queue (``task.data["role"]``, see open_task), not the
        # process's: no join in the filter, so the database walks the open tasks newest first
        # (index on ``created``) and stops after one page (docs/scale.md)
        queued &= Q(data__role__in=sorted(roles)) if roles else Q(pk__in=[])
    mine = Q(status=STATUS.ASSIGNED, owner=user) | queued | _covered_for(user)
    return _with_artifacts(_act_tasks().filter(mine), artifact_querysets)


def _covered_for(user) -> Q:
    """Tasks of signatories whom ``user`` stands in for today: every task of an owner with an
    unscoped delegation or out-of-office substitution, and the decision tasks of an approval
    a scoped delegation names (``workflow.approvals.models.Delegation``)."""
    from workflow.approvals.models import Decision, Delegation

    today = timezone.localdate()
    active = Delegation.objects.filter(deputy_id=user.pk, starts_on__lte=today, ends_on__gte=today,
                                       revoked_at__isnull=True)
    covered = Q(status=STATUS.ASSIGNED, owner_id__in=active.filter(approval__isnull=True).values("owner_id"))
    scoped = list(active.filter(approval__isnull=False).values_list("owner_id", "approval_id"))
    if scoped:
        which = Q(pk__in=[])
        for owner_id, approval_id in scoped:
            which |= Q(signatory_id=owner_id, approval_id=approval_id)
        covered |= Q(status=STATUS.ASSIGNED,
                     process__artifact_content_type=ContentType.objects.get_for_model(Decision),
                     process__artifact_object_id__in=Decision.objects.filter(which).values("pk"))
    return covered


def visible_tasks(user, *, artifact_querysets: Iterable[QuerySet] = ()) -> QuerySet[Task]:
    """The open tasks ``user`` may act on: every open task for coordinators, else :func:`inbox`."""
    if _is_manager(user):
        return _with_artifacts(_act_tasks().filter(status__in=OPEN), artifact_querysets)
    return inbox(user, artifact_querysets=artifact_querysets)


def _with_artifacts(queryset: QuerySet[Task], artifact_querysets: Iterable[QuerySet]) -> QuerySet[Task]:
    querysets = list(artifact_querysets)
    prefetch = GenericPrefetch("process__artifact", querysets) if querysets else "process__artifact"
    return queryset.select_related("process", "owner").prefetch_related(prefetch).order_by("-created", "-pk")
