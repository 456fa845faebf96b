"""State diagrams of a case and its current stage object, drawn from the django-fsm definitions.

``GET /cases/<pk>/diagram.svg`` (``portal:case-diagram``) answers an SVG image of the case's
state machine (``?of=case``, the default) or of the model of its current stage object
(``?of=stage``: the application, selection, diagnosis, plan, support measures or
implementation), with the current state(s) filled in. Who may see it: whoever may see the
case (``selectors.visible_cases``; others get 404).

The graph is read from the model's ``FSMField.get_all_transitions(model)``: every state of the
field's choices is a node, every transition an edge from each source (``*``: any state; ``+``:
any other state) to each target (``RETURN_VALUE``/``GET_STATE``: each allowed state).
Labels are the states' and transitions' translated names (the transition's code is its
tooltip), escaped for Graphviz (``graphviz.escape``) and by Graphviz for XML.

Layout is done by Graphviz's ``dot`` program (Debian package ``graphviz``, about 9 MB with
its libraries; ``.ci/run`` installs it), through the ``graphviz`` Python package. The result
is cached in memory per (model, current states, language), so ``dot`` runs once per
combination and process. Without ``dot`` the page answers 503 with a message; the case page's
transition table still lists every way out of the current state as text.
"""

from __future__ import annotations

import logging
import threading

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from processes.rounds.models import Case

from . import selectors

log = logging.getLogger("kelisim.portal.diagrams")

#: Colours of the drawing: current state (fill, border), other states, edges.
CURRENT_FILL, CURRENT_LINE, NODE_FILL, LINE = "#0b6e4f", "#0b6e4f", "#ffffff", "#616e7c"

#: Which relation of a case holds its stage object in each case state (a ``.``-path; the
#: suspended case uses the stage it was suspended from, a withdrawn one its selection if any).
STAGE_RELATIONS = {
    Case.State.SUBMISSION: ("application",),
    Case.State.REFUSED: ("application",),
    Case.State.SELECTION: ("application.selection",),
    Case.State.NOT_SELECTED: ("application.selection",),
    Case.State.WITHDRAWN: ("application.selection", "application"),
    Case.State.DIAGNOSIS: ("diagnosis",),
    Case.State.PLANNING: ("plan",),
    Case.State.SUPPORT: ("support_measures",),
    Case.State.IMPLEMENTATION: ("implementation",),
    Case.State.CLOSED: ("implementation",),
}


class DiagramUnavailable(Exception):
    """Graphviz's ``dot`` program is missing or failed; ``str()`` says which."""


def state_field(model):
    """The model's first django-fsm state field (one with ``get_all_transitions``), or ``None``."""
    return next((f for f in model._meta.fields if hasattr(f, "get_all_transitions")), None)


def state_graph(model) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """``(states, edges)`` of ``model``'s state machine.

    ``states``: ``[(value, translated label)]`` in the field's choice order (plus any state a
    transition names that the choices lack); ``edges``: sorted unique ``(source, target,
    transition name)``. Raises ``ValueError`` when the model has no django-fsm field.
    """
    field = state_field(model)
    if field is None:
        raise ValueError(f"{model.__name__} has no django-fsm state field")
    states = [(str(value), str(label)) for value, label in (field.choices or [])]
    known = {value for value, _label in states}
    edges = set()
    for trans in field.get_all_transitions(model):
        targets = getattr(trans.target, "allowed_states", None)
        targets = [str(t) for t in targets] if targets is not None else (
            [] if trans.target is None else [str(trans.target)])
        if trans.source == "*":
            sources = [value for value, _label in states]
        elif trans.source == "+":
            sources = [value for value, _label in states if value not in targets]
        else:
            sources = [str(trans.source)]
        for source in sources:
            for target in targets:
                edges.add((source, target, trans.name))
    for source, target, _name in sorted(edges):
        for value in (source, target):
            if value not in known:
                known.add(value)
                states.append((value, value))
    return states, sorted(edges)


_cache: dict[tuple, str] = {}
_cache_lock = threading.Lock()


def render_svg(model, current: frozenset[str], *, title: str = "") -> str:
    """The SVG text (UTF-8 ``str``) of ``model``'s state diagram with ``current`` states filled.

    Cached in memory per (model, ``current``, active language, ``title``). Raises
    :class:`DiagramUnavailable` when Graphviz's ``dot`` is not installed or fails.
    """
    key = (model._meta.label, current, get_language(), title)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    svg = _render(model, current, title)
    with _cache_lock:
        _cache[key] = svg
    return svg


def _render(model, current: frozenset[str], title: str) -> str:
    import graphviz

    states, edges = state_graph(model)
    graph = graphviz.Digraph(name=model._meta.model_name, format="svg")
    graph.attr(rankdir="LR", fontname="Helvetica", fontsize="12", label=graphviz.escape(title), labelloc="t",
               bgcolor="transparent", tooltip=graphviz.escape(title))
    graph.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11",
               color=LINE, fillcolor=NODE_FILL, fontcolor="#1f2933")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color=LINE, fontcolor=LINE)
    ids = {value: f"s{i}" for i, (value, _label) in enumerate(states)}
    for value, label in states:
        if value in current:
            graph.node(ids[value], graphviz.escape(f"{label} ●"), id=f"state-{_safe_id(value)}",
                       tooltip=graphviz.escape(_("%(state)s (current state)") % {"state": label}),
                       fillcolor=CURRENT_FILL, color=CURRENT_LINE, fontcolor="#ffffff", penwidth="2",
                       **{"class": "current"})
        else:
            graph.node(ids[value], graphviz.escape(label), id=f"state-{_safe_id(value)}",
                       tooltip=graphviz.escape(label))
    from .labels import transition_label

    for source, target, name in edges:
        graph.edge(ids[source], ids[target], label=graphviz.escape(transition_label(name)),
                   tooltip=graphviz.escape(name))
    try:
        return graph.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as exc:
        raise DiagramUnavailable(_("Graphviz's dot program is not installed on the server.")) from exc
    except graphviz.CalledProcessError as exc:  # pragma: no cover - dot failing on a valid graph
        log.warning("dot failed on the %s diagram: %s", model._meta.label, exc)
        raise DiagramUnavailable(_("Graphviz's dot program failed to draw the diagram.")) from exc


def _safe_id(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in value)


def _related(obj, path: str):
    from django.core.exceptions import ObjectDoesNotExist

    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except ObjectDoesNotExist:
            return None
        if obj is None:
            return None
    return obj


def stage_objects(case: Case) -> list:
    """The objects of ``case``'s current stage (several for support measures; may be empty).

    A suspended case uses the stage it was suspended from (``Case.suspended_from``).
    """
    state = case.suspended_from if case.state == Case.State.SUSPENDED and case.suspended_from else case.state
    for path in STAGE_RELATIONS.get(state, ()):
        found = _related(case, path)
        if found is None:
            continue
        if hasattr(found, "all"):
            objects = list(found.all())
            if objects:
                return objects
            continue
        return [found]
    return []


def _fsm_label(model) -> str:
    """The model's name for people in the active language (not cached: the language varies)."""
    from .labels import model_label

    return model_label(model).capitalize()


def diagram_title(model, current: frozenset[str]) -> str:
    """The diagram's caption, e.g. ``Case — current state: planning``."""
    field = state_field(model)
    labels = dict((str(v), str(lbl)) for v, lbl in (field.choices or []))
    names = ", ".join(labels.get(s, s) for s in sorted(current)) or "—"
    return _("%(model)s — current state: %(states)s") % {"model": _fsm_label(model), "states": names}


def diagram_parts(case: Case) -> list[dict]:
    """What the case page shows: ``[{"of": "case"|"stage", "model", "current", "title"}]``,
    the case's own machine first, then its stage object's model when there is one."""
    parts = [{"of": "case", "model": Case, "current": frozenset([str(case.state)])}]
    objects = stage_objects(case)
    if objects:
        model = type(objects[0])
        field = state_field(model)
        parts.append({"of": "stage", "model": model,
                      "current": frozenset(str(field.value_from_object(o)) for o in objects)})
    for part in parts:
        part["title"] = diagram_title(part["model"], part["current"])
    return parts


@require_safe
@login_required
def case_diagram(request, pk: int):
    """The SVG state diagram of case ``pk`` (``?of=case``) or of its stage object (``?of=stage``).

    404 for a case the user may not see or without a stage object; 400 for another ``of``;
    503 with a message when Graphviz is not installed.
    """
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    of = request.GET.get("of", "case")
    if of not in ("case", "stage"):
        return render(request, "portal/problem.html", {
            "title": _("Unknown diagram"),
            "message": _("Ask for of=case (the case's states) or of=stage (its current stage's states).")},
            status=400)
    part = next((p for p in diagram_parts(case) if p["of"] == of), None)
    if part is None:
        raise Http404(_("This case has no stage object in its current stage."))
    try:
        svg = render_svg(part["model"], part["current"], title=part["title"])
    except DiagramUnavailable as exc:
        return render(request, "portal/problem.html", {"title": _("The diagram cannot be drawn"),
                                                       "message": str(exc)}, status=503)
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = "private, max-age=60"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
