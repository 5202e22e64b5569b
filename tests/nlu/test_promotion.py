"""Which trained version replaces the active one."""

from __future__ import annotations

from nlu.promotion import Candidate, promotion_decision


def _candidate(accuracy: float, macro_f1: float, *, active: tuple[float, float] | None = (0.90, 0.88), test_samples: int = 200) -> Candidate:
    return Candidate(
        version=5, accuracy=accuracy, macro_f1=macro_f1, test_samples=test_samples,
        active_version=4 if active else None, active_accuracy=active[0] if active else None, active_macro_f1=active[1] if active else None,
    )  # fmt: skip


def test_a_better_version_is_promoted_and_a_worse_or_equal_one_is_not():
    assert promotion_decision(_candidate(0.92, 0.90), forced=False)[0]
    assert not promotion_decision(_candidate(0.89, 0.95), forced=False)[0]  # accuracy first
    assert not promotion_decision(_candidate(0.90, 0.88), forced=False)[0]  # a tie keeps what serves
    assert promotion_decision(_candidate(0.90, 0.89), forced=False)[0]  # macro-F1 breaks the tie


def test_the_reason_names_both_scores():
    promoted, why = promotion_decision(_candidate(0.89, 0.87), forced=False)
    assert not promoted
    assert why == "does not beat version 4: accuracy 0.9000, macro-F1 0.8800 (accuracy 0.8900, macro-F1 0.8700 on 200 held-out samples)"


def test_the_first_model_and_a_forced_one_are_promoted_whatever_they_score():
    assert promotion_decision(_candidate(0.3, 0.2, active=None), forced=False)[1].startswith("first model")
    assert promotion_decision(_candidate(0.3, 0.2), forced=True)[1].startswith("forced")


def test_without_held_out_samples_the_active_version_stays_unless_forced():
    candidate = Candidate(5, 0.0, 0.0, 0, active_version=4, active_accuracy=None, active_macro_f1=None)
    promoted, why = promotion_decision(candidate, forced=False)
    assert not promoted and "train with force" in why
