"""``perform``: the one way any state in Kelisim changes.

A state lives in a django-fsm ``FSMField(protected=True)`` on a model that uses
``ConcurrentTransitionMixin``. Services, views, the API, admin actions, flow steps and
management commands all call :func:`perform`; nothing assigns a state directly.

The messages of the errors raised here are in the active language (the request's, else
English), like the condition reasons they quote (docs/i18n.md).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django_fsm import ConcurrentTransition

from operations.metrics import transition_committed

from . import audit
from .conditions import reason_of
from .exceptions import (
    ConditionUnmet,
    StaleObject,
    TransitionNotAllowed,
    TransitionPermissionDenied,
    UnknownTransition,
)

security_log = logging.getLogger("kelisim.security")


def _fsm_meta(obj, transition: str):
    method = getattr(type(obj), transition, None)
    meta = getattr(method, "_django_fsm", None)
    if meta is None:
        raise UnknownTransition(
            _("%(model)s has no transition named %(transition)s") % {
                "model": type(obj).__name__, "transition": repr(transition)}, obj=obj, transition=transition
        )
    return meta


def object_type(obj) -> str:
    """Return ``app_label.model_name`` of ``obj``'s model (as stored in audit entries)."""
    return f"{obj._meta.app_label}.{obj._meta.model_name}"


@functools.cache
def _accepted_parameters(model: type, transition: str) -> frozenset[str]:
    return frozenset(inspect.signature(getattr(model, transition)).parameters)


def describe(obj) -> str:
    """``model reference`` for messages, the model by its ``verbose_name`` in the active
    language ("case TC-2017/A1", «іс TC-2017/A1»); never fails on an incomplete object."""
    kind = obj._meta.verbose_name
    try:
        return f"{kind} {obj}"
    except Exception:  # an unsaved object without its relations
        return f"{kind} #{obj.pk}"


@functools.cache
def _transition_labeller():
    from django.conf import settings
    from django.utils.module_loading import import_string

    path = getattr(settings, "WORKFLOW_TRANSITION_LABEL", "")
    return import_string(path) if path else str


def quoted(text) -> str:
    """``text`` in the quotation marks of the active language (“close”, «жабу»)."""
    return pgettext("quotation marks around a label", "“%(name)s”") % {"name": text}


def transition_name(name: str) -> str:
    """The transition ``name`` for a message: its label in the active language, quoted
    (``settings.WORKFLOW_TRANSITION_LABEL``, a dotted path to ``f(name) -> label``; the
    code itself without one). The engine knows no domain, so the labels live with it."""
    return quoted(_transition_labeller()(name))


def state_name(meta, state) -> str:
    """The state value ``state`` of the FSM field of ``meta`` for a message: its choice label
    in the active language, quoted (the value itself when it has no label)."""
    label = dict(getattr(meta.field, "flatchoices", ()) or ()).get(state, state)
    return quoted(label)


def _state_of(obj, meta) -> str:
    return meta.field.get_state(obj)


def _restore(obj) -> None:
    if obj.pk is not None:
        obj.refresh_from_db()


@dataclasses.dataclass(frozen=True)
class TransitionOption:
    """One line of :func:`available_transitions`: may ``user`` take ``name`` now, and why not.

    ``target`` is the state the transition leads to; for a transition whose target is decided
    when it runs (django-fsm ``RETURN_VALUE`` / ``GET_STATE``, e.g. a case's ``resume``) it is
    the state the object predicts (its ``predicted_target(name)``, e.g. the stage a suspension
    interrupted) when that is one of the allowed targets, else ``None``.
    """

    name: str
    target: str | None
    allowed: bool
    reason: str


def target_of(obj, trans) -> str | None:
    """The state ``trans`` (a django-fsm transition of ``obj``) leads to, as text, or ``None``
    when it is decided at run time and ``obj`` cannot tell it (see :class:`TransitionOption`)."""
    target = trans.target
    allowed = getattr(target, "allowed_states", None)
    if allowed is None:  # a fixed state (None: the transition keeps the state)
        return None if target is None else str(target)
    predict = getattr(obj, "predicted_target", None)
    predicted = predict(trans.name) if predict is not None else None
    return str(predicted) if predicted is not None and predicted in [str(s) for s in allowed] else None


def _deny(obj, transition: str, actor, trans, name: str, state: str):
    why = getattr(trans.permission, "reason", None) or _("not permitted")
    if callable(why):
        why = why(obj, actor)
    raise TransitionPermissionDenied(
        _("%(user)s may not %(transition)s %(object)s: %(reason)s") % {
            "user": getattr(actor, "username", "anonymous"), "transition": transition_name(transition), "object": name,
            "reason": why},
        obj=obj, transition=transition, state=state,
    )


def _check(obj, transition: str, actor) -> tuple[Any, Any, str]:
    meta = _fsm_meta(obj, transition)
    state = _state_of(obj, meta)
    name = describe(obj)
    if not meta.has_transition(state):
        # Permission first, so that a user without the right learns nothing about the state.
        any_source = next(iter(meta.transitions.values()), None)
        if any_source is not None:
            try:
                permitted = actor is not None and any_source.has_perm(obj, actor)
            except Exception:  # a predicate that needs relations an incomplete object lacks
                permitted = True
            if not permitted:
                _deny(obj, transition, actor, any_source, name, state)
        sources = sorted(str(s) for s in meta.transitions)
        raise TransitionNotAllowed(
            _("%(transition)s is not allowed from state %(state)s of %(object)s (allowed from: %(sources)s)") % {
                "transition": transition_name(transition), "state": state_name(meta, state), "object": name,
                "sources": ", ".join(state_name(meta, s) for s in sources)},
            obj=obj, transition=transition, state=state,
        )
    trans = meta.get_transition(state)
    if actor is None or not trans.has_perm(obj, actor):
        _deny(obj, transition, actor, trans, name, state)
    closed = getattr(obj, "closed_reason", None)
    reason = closed(transition) if callable(closed) else ""
    if reason:  # the model says this work is over (e.g. scoring once the selection is decided)
        raise TransitionNotAllowed(reason, obj=obj, transition=transition, state=state)
    for cond in trans.conditions:
        if not cond(obj):
            reason = reason_of(cond, obj)
            raise ConditionUnmet(
                _("cannot %(transition)s %(object)s: %(reason)s") % {
                    "transition": transition_name(transition), "object": name, "reason": reason}, reason=reason,
                obj=obj, transition=transition, state=state,
            )
    return meta, trans, state


def available_transitions(obj, user) -> list[TransitionOption]:
    """List every transition leaving ``obj``'s current state with whether ``user`` may take it.

    Returns ``[TransitionOption(name, target, allowed, reason)]``; ``reason`` is empty when
    allowed, otherwise the permission or condition that stops it. Reads only.
    """
    options: list[TransitionOption] = []
    for field in [f for f in obj._meta.fields if hasattr(f, "get_all_transitions")]:
        state = field.get_state(obj)
        for trans in field.get_all_transitions(type(obj)):
            if trans.source not in (state, "*", "+"):
                continue
            try:
                _check(obj, trans.name, user)
                options.append(TransitionOption(trans.name, target_of(obj, trans), True, ""))
            except (TransitionPermissionDenied, ConditionUnmet, TransitionNotAllowed) as exc:
                options.append(TransitionOption(trans.name, target_of(obj, trans), False, exc.message))
    return options


def perform(obj, transition: str, *, actor, comment: str = "", data: dict | None = None,
            on_behalf_of=None):
    """Take ``transition`` on ``obj`` as ``actor`` and record it in the audit chain.

    In one database transaction: checks the transition leaves the current state, that
    ``actor`` may take it (the transition's ``permission``), and that every condition holds;
    runs the django-fsm transition method (passing ``actor``, ``comment``, ``data`` to it when
    it accepts them), saves the object (a concurrent change is detected by
    ``ConcurrentTransitionMixin``), and appends an audit entry to ``obj.audit_chain``
    (``data`` is stored in the entry as structured JSON). A model may define
    ``after_transition(name, *, actor, comment)`` for consequences in other objects (e.g. a
    suspended case suspends its stage); they run in the same transaction. A model may also
    define ``closed_reason(name) -> str``: a non-empty reason refuses the transition with
    :class:`TransitionNotAllowed` (409) after the permission check, e.g. a score sheet once its
    application's selection has left ``scoring``.

    Returns ``obj`` in its new state. Raises :class:`UnknownTransition`,
    :class:`TransitionNotAllowed` (409), :class:`TransitionPermissionDenied` (403, also
    logged to ``kelisim.security``), :class:`ConditionUnmet` (400, with the reason) or
    :class:`StaleObject` (409). On any error nothing is written and ``obj`` is reloaded.
    """
    data = dict(data or {})
    mutated, state = False, ""
    try:
        with transaction.atomic():
            meta, trans, state = _check(obj, transition, actor)
            method = getattr(obj, transition)
            accepted = _accepted_parameters(type(obj), transition)
            kwargs = {k: v for k, v in (("actor", actor), ("comment", comment), ("data", data))
                      if k in accepted}
            mutated = True
            method(**kwargs)
            obj.save()  # ConcurrentTransitionMixin: raises ConcurrentTransition if moved meanwhile
            audit.append_entry(
                chain=obj.audit_chain,
                actor=actor,
                on_behalf_of=on_behalf_of,
                object_type=object_type(obj),
                object_id=str(obj.pk),
                object_repr=str(obj),
                transition=transition,
                from_state=str(state),
                to_state=str(_state_of(obj, meta)),
                comment=comment,
                data=data,
            )
            # The FSM state is the single source of truth: cancel the human tasks this made moot.
            from .tasks import close_tasks_for, follow_up
            close_tasks_for(obj, transition, actor=actor)
            follow_up(obj)
            hook = getattr(obj, "after_transition", None)
            if hook is not None:  # consequences in other objects, in the same transaction
                hook(transition, actor=actor, comment=comment)
            opts = obj._meta  # kelisim_transitions_total, once the outermost transaction commits
            transaction.on_commit(functools.partial(transition_committed, opts.app_label, opts.model_name,
                                                    transition))
    except ConcurrentTransition as exc:
        _restore(obj)
        current = _state_of(obj, _fsm_meta(obj, transition))
        raise StaleObject(
            _("%(object)s was changed by someone else: it is now in state %(current)s, not %(state)s; "
              "reload and try again") % {"object": describe(obj), "current": state_name(meta, current),
                                          "state": state_name(meta, state)},
            obj=obj, transition=transition, state=str(current),
        ) from exc
    except TransitionPermissionDenied as exc:
        security_log.warning("transition denied: %s", exc.message)
        raise
    except Exception:
        if mutated:
            _restore(obj)
        raise
    return obj

