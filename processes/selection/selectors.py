"""Selection reads for pages and documents: the reason of each commission decision in the
reader's language (:mod:`processes.reasons`)."""

from __future__ import annotations

from processes.reasons import DATA_KEY, coded, render
from workflow.models import AuditEntry

#: The transitions that record the commission's decision on a selection.
DECISIONS = ("select", "reject")


def decision_messages(selections) -> dict[int, dict]:
    """``{selection pk: coded message}`` of the latest decision of each of ``selections`` that
    has one (entries written before the codes have none). One query."""
    by_pk = {str(s.pk): s for s in selections}
    if not by_pk:
        return {}
    refs = {s.application.case.ref for s in by_pk.values()}
    found: dict[int, dict] = {}
    for object_id, data in (AuditEntry.objects.filter(chain__in=refs, object_type="selection.selection",
                                                      object_id__in=list(by_pk), transition__in=DECISIONS)
                            .order_by("seq").values_list("object_id", "data")):
        message = (data or {}).get(DATA_KEY)
        if message:
            found[int(object_id)] = message
    return found


def decision_text(selection, *, language: str | None = None, message: dict | None = None) -> str:
    """Why ``selection`` was decided as it was, in ``language`` (default the active one): its
    coded decision message (``message``, else looked up), else the stored ``decision_reason``
    (older rows, English), else "Rank N, score S." for a selected cluster without a message."""
    if message is None:
        message = decision_messages([selection]).get(selection.pk)
    if message:
        return render(message, language=language, fallback=selection.decision_reason)
    if selection.decision_reason:
        return selection.decision_reason
    if selection.rank is None or selection.score is None:
        return ""
    return render(coded("rank_and_score", rank=selection.rank, score=selection.score), language=language)
