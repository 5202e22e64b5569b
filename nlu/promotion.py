"""Whether a newly trained intent model replaces the active one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    version: int
    accuracy: float
    macro_f1: float
    test_samples: int
    active_version: int | None  # None: no model is active yet
    active_accuracy: float | None  # the active model on the same held-out samples (None: not scored)
    active_macro_f1: float | None


def promotion_decision(c: Candidate, *, forced: bool) -> tuple[bool, str]:
    """(promote, why). Better means higher accuracy on the held-out samples, macro-F1 breaking a
    tie: a version that only moves errors from a frequent intent to a rare one does not win."""
    scored = f"accuracy {c.accuracy:.4f}, macro-F1 {c.macro_f1:.4f} on {c.test_samples} held-out samples"
    if forced:
        return True, f"forced ({scored})"
    if c.active_version is None:
        return True, f"first model ({scored})"
    if c.active_accuracy is None or c.active_macro_f1 is None:
        return False, f"no held-out samples to compare with version {c.active_version}; train with force to replace it"
    active = f"version {c.active_version}: accuracy {c.active_accuracy:.4f}, macro-F1 {c.active_macro_f1:.4f}"
    if (c.accuracy, c.macro_f1) > (c.active_accuracy, c.active_macro_f1):
        return True, f"beats {active} ({scored})"
    return False, f"does not beat {active} ({scored})"
