"""Errors raised by the workflow engine. Each maps to one HTTP status (see ``http_status``)."""

from django.core.exceptions import PermissionDenied


class WorkflowError(Exception):
    """Base class of the engine's errors; ``http_status`` tells how the web layer answers."""

    http_status = 400

    def __init__(self, message: str, *, obj=None, transition: str = "", state: str = ""):
        super().__init__(message)
        self.message = message
        self.obj = obj
        self.transition = transition
        self.state = state


class UnknownTransition(WorkflowError):
    """The object has no transition of that name (HTTP 400)."""


class TransitionNotAllowed(WorkflowError):
    """The transition exists but does not start from the object's current state (HTTP 409)."""

    http_status = 409


class ConditionUnmet(WorkflowError):
    """A condition of the transition does not hold; the message gives its reason (HTTP 400)."""

    def __init__(self, message: str, *, reason: str, **kwargs):
        super().__init__(message, **kwargs)
        self.reason = reason


class StaleObject(WorkflowError):
    """The object was changed by someone else since it was loaded (HTTP 409)."""

    http_status = 409


class TransitionPermissionDenied(WorkflowError, PermissionDenied):
    """The actor may not take this transition on this object (HTTP 403)."""

    http_status = 403
