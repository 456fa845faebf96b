"""Scoring rules: weighted totals, the application score, divergence flags, ranking.

Rules (illustrative, from the sample round's criteria; the weights are configuration):

* a score sheet's total is ``sum(score_c * weight_c) / 10`` for scores 0..10 and weights
  summing to 100, so the total is on a 0..100 scale;
* an application's score is the arithmetic mean of its submitted sheets' totals, rounded
  half-up to 2 decimals;
* a criterion is flagged when two experts' scores on it differ by more than 3 points;
* ranking: higher score first; ties broken by (1) the higher mean score on the
  highest-weighted criterion (then the next weight, and so on), (2) the earlier submission
  time, (3) the application reference. Selection then takes, in rank order, applications at
  or above the pass mark, at most ``max_selected`` of them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from itertools import combinations

from django.db.models import Avg

from .models import DIVERGENCE_POINTS, Score


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def weighted_total(sheet) -> Decimal:
    """Weighted total of ``sheet`` on 0..100: ``sum(value x weight) / 10``."""
    total = sum(Decimal(s.value) * s.criterion.weight for s in sheet.scores.select_related("criterion"))
    return _q(Decimal(total) / 10)


def application_score(application) -> Decimal | None:
    """Mean of the submitted sheets' totals (0..100), or ``None`` when none is submitted."""
    totals = [s.total for s in application.score_sheets.filter(state="submitted")]
    if not totals:
        return None
    return _q(sum(totals) / len(totals))


def divergent_criteria(application) -> list[str]:
    """Codes of criteria where two submitted sheets differ by more than 3 points."""
    values: dict[str, list[int]] = {}
    for score in Score.objects.filter(sheet__application=application, sheet__state="submitted").select_related(
            "criterion"):
        values.setdefault(score.criterion.code, []).append(score.value)
    return sorted(code for code, vals in values.items()
                  if any(abs(a - b) > DIVERGENCE_POINTS for a, b in combinations(vals, 2)))


def ranking_key(selection, criteria) -> tuple:
    """Sort key implementing the documented order (see the module docstring)."""
    means = []
    for criterion in criteria:
        mean = Score.objects.filter(sheet__application=selection.application, sheet__state="submitted",
                                    criterion=criterion).aggregate(m=Avg("value"))["m"] or 0
        means.append(-Decimal(str(mean)))
    submitted = selection.application.submitted_at
    return (-(selection.score or Decimal(0)), *means, submitted.timestamp() if submitted else 0,
            selection.application.ref)


def ranked(selections, criteria) -> list:
    """Return ``selections`` sorted by :func:`ranking_key`; ``criteria`` by weight desc."""
    ordered_criteria = sorted(criteria, key=lambda c: (-c.weight, c.position))
    return sorted(selections, key=lambda s: ranking_key(s, ordered_criteria))
