"""The one generic viewflow flow of Kelisim: a human task bound to a domain object.

``HumanTaskFlow`` runs ``start -> act -> end`` on viewflow's default ``Process`` and ``Task``
models (no model of its own, so no migration):

* ``process.artifact`` (generic foreign key) is the domain object, a model with django-fsm
  transitions (an application, a score sheet, ...);
* ``process.data`` is ``{"transition": name, "outcomes": [names], "role": role or None,
  "assignee_id": user id or None, "title": text}``: the transition the task exists for, the
  transitions that complete it (``outcomes``, the default transition first), the role whose
  queue holds it, the person it was assigned to at creation, and its title;
* ``act`` is the human task. It is assigned at creation to ``assignee_id`` when set, otherwise
  it waits unassigned in the queue of ``role``.

The flow holds no state of its own: the domain object's FSM field stays the single source of
truth, and the task only records who is expected to take which transition. Tasks are
opened, claimed, assigned and completed through :mod:`workflow.tasks`, never through
viewflow's own views (its URLs are not mounted; ``act``'s view is a placeholder).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from viewflow import this
from viewflow.workflow import flow


def task_view(request, **kwargs):
    """Placeholder view of the ``act`` node: tasks are handled in the portal's inbox."""
    raise Http404("Kelisim tasks are completed from the inbox (workflow.tasks.complete).")


class HumanTaskFlow(flow.Flow):
    """Human task

    One person (or one role's queue) is expected to take a transition of a domain object.
    """

    process_title = "Human task"

    start = flow.StartHandle(this.start_task).Next(this.act)
    act = flow.View(task_view).Assign(this.initial_owner).Next(this.end)
    end = flow.End()

    def start_task(self, activation, *, artifact, data: dict):
        """Bind the new process to ``artifact`` and store the task's ``data`` (see module doc)."""
        activation.process.artifact = artifact
        activation.process.data = dict(data)
        return activation.process

    def initial_owner(self, activation):
        """The user the ``act`` task is assigned to at creation, or ``None`` (queued)."""
        assignee_id = (activation.process.data or {}).get("assignee_id")
        if assignee_id is None:
            return None
        return get_user_model()._default_manager.get(pk=assignee_id)
