"""Approval policies as a pure function of the decisions taken so far."""

from __future__ import annotations

from collections.abc import Iterable

ALL_OF = "all_of"
QUORUM = "quorum"
SEQUENTIAL = "sequential"
POLICIES = (ALL_OF, QUORUM, SEQUENTIAL)

APPROVED = "approved"
REJECTED = "rejected"
PENDING = "pending"


def needed(policy: str, required: int | None, signatories: int) -> int:
    """How many approvals the policy needs out of ``signatories`` (raises ``ValueError``)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown approval policy {policy!r}; use one of {', '.join(POLICIES)}")
    if signatories < 1:
        raise ValueError("an approval needs at least one signatory")
    if policy == QUORUM:
        if required is None or not 1 <= required <= signatories:
            raise ValueError(f"a quorum needs 1..{signatories} approvals, got {required!r}")
        return required
    return signatories


def outcome(policy: str, required: int | None, veto: bool, states: Iterable[str]) -> str | None:
    """Return ``"approved"``, ``"rejected"`` or ``None`` (still open) for the decision states.

    ``states`` are the current (not superseded) decisions' states in position order. With
    ``veto`` a single rejection rejects; otherwise the approval is rejected once the remaining
    pending decisions can no longer reach the number :func:`needed` requires.
    """
    states = list(states)
    need = needed(policy, required, len(states))
    approved, rejected = states.count(APPROVED), states.count(REJECTED)
    pending = len(states) - approved - rejected
    if veto and rejected:
        return REJECTED
    if approved >= need:
        return APPROVED
    if approved + pending < need:
        return REJECTED
    return None
