"""Transition conditions that carry the reason they fail.

django-fsm conditions are callables ``instance -> bool``. Wrap them with :func:`condition`
so that :func:`workflow.transitions.perform` can tell the user *why* a transition is refused::

    @condition(gettext_lazy("every signatory must approve the current version"))
    def all_signed(plan): ...

A reason is an interface string: give it as ``gettext_lazy(...)``, or build it with
``gettext`` inside the callable, so that it is read in the reader's language (docs/i18n.md).
"""

from __future__ import annotations

from collections.abc import Callable


def condition(reason: str | Callable[[object], str]) -> Callable:
    """Decorate a condition ``instance -> bool`` with its failure ``reason``.

    ``reason`` is a string (may use ``{obj}``) or a callable ``instance -> str`` for a
    message that depends on the instance's data.
    """

    def decorate(func: Callable) -> Callable:
        func.reason = reason
        return func

    return decorate


def reason_of(cond: Callable, instance) -> str:
    """Return the human-readable reason why ``cond`` fails for ``instance``."""
    reason = getattr(cond, "reason", None)
    if reason is None:
        return f"condition {cond.__name__} is not met"
    if callable(reason):
        return reason(instance)
    return reason.format(obj=instance)
