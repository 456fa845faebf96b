"""Scoring rules: weighted totals, divergence flags, ranking tie-breaks, the scripted experts."""

from decimal import Decimal

import pytest

from processes.cycle import SCORING_FORMULA, expert_scores
from processes.selection.models import Score, ScoreSheet, Selection
from processes.selection.scoring import divergent_criteria, ranked, weighted_total

pytestmark = pytest.mark.django_db


def test_weighted_total_is_the_sum_of_score_times_weight_over_ten(sample_round):
    sheet = ScoreSheet.objects.filter(application__round=sample_round).first()
    expected = sum(Decimal(s.value) * s.criterion.weight for s in sheet.scores.all()) / 10
    assert weighted_total(sheet) == expected.quantize(Decimal("0.01"))
    assert sheet.total == weighted_total(sheet)


def test_application_score_is_the_mean_of_the_experts_totals(sample_round):
    for selection in sample_round.selections.all():
        totals = [s.total for s in selection.application.score_sheets.all()]
        assert len(totals) == 2
        assert selection.score == (sum(totals) / 2).quantize(Decimal("0.01"))


def test_ranks_follow_scores(sample_round):
    ordered = list(sample_round.selections.order_by("rank"))
    assert [s.rank for s in ordered] == list(range(1, len(ordered) + 1))
    assert all(a.score >= b.score for a, b in zip(ordered, ordered[1:]))


def test_two_experts_more_than_three_points_apart_are_flagged(sample_round):
    selection = sample_round.selections.get(application__ref="A1")
    assert divergent_criteria(selection.application) == []
    score = Score.objects.filter(sheet__application=selection.application, criterion__code="C3").first()
    Score.objects.filter(pk=score.pk).update(value=score.value + 4 if score.value <= 6 else score.value - 4)
    assert divergent_criteria(selection.application) == ["C3"]


def test_ties_are_broken_by_the_highest_weighted_criterion_then_submission_time(sample_round):
    criteria = list(sample_round.criteria.all())
    a5, a7 = (sample_round.selections.get(application__ref=r) for r in ("A5", "A7"))
    for s in (a5, a7):
        Selection.objects.filter(pk=s.pk).update(score=Decimal("70.00"))
        s.refresh_from_db()
    # C1 (weight 20) decides: A5 has 3000 employees (C1 = 10), A7 2600 (C1 = 8.67 -> 8 and 9).
    assert [s.application.ref for s in ranked([a7, a5], criteria)] == ["A5", "A7"]
    # Identical scores everywhere: the earlier submission wins, then the reference.
    Score.objects.filter(sheet__application__in=[a5.application, a7.application]).update(value=5)
    order = ranked([a7, a5], criteria)
    earlier = min((a5, a7), key=lambda s: s.application.submitted_at)
    assert order[0] == earlier


def test_scripted_experts_follow_the_documented_formula(sample_round):
    application = sample_round.applications.get(ref="A8")
    criteria = list(sample_round.criteria.all())
    first, second = expert_scores(application, criteria, 1), expert_scores(application, criteria, 2)
    assert first["C1"][0] == 4 and second["C1"][0] == 4          # 1200 / 300 = 4.00
    assert first["C6"][0] == 7 and second["C6"][0] == 8          # 2.5 x 3 = 7.5: floor vs half-up
    assert all(abs(first[c][0] - second[c][0]) <= 1 for c in first)
    assert set(first) == set(SCORING_FORMULA)
