"""How far a run is through its learning-rate schedule: by its steps, or by the clock when the
clock binds.

Why: a run with a time budget (``max_minutes``; adapt always has one) must finish its cosine
decay inside the budget, so when its steps will not fit, its schedule has to follow the clock.
A schedule that reads the clock at every step, though, makes two runs of the same command differ
(a slow second early on, another process on the machine, lowers the learning rate a little),
and adaptations whose steps fit their budget with room to spare came out different each time.
So a run measures its pace over its first steps and decides once: if all its steps fit the
budget, the schedule follows the steps alone (the run is reproducible: same seed, same bags,
same weights); if not, it follows whichever of steps and clock is further on, as before. The
budget still stops the run either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DECIDE_FRACTION = 0.04  # the share of the steps the pace is measured over ...
DECIDE_MAX_STEPS = 100  # ... at most this many steps


@dataclass
class Pace:
    """The schedule's progress (0 -> 1) of a run of ``steps`` steps within ``budget_s`` (0: no
    budget). ``clock_bound`` is None until decided (saved with the training state, so a
    resumed run keeps the decision)."""

    steps: int
    budget_s: float
    clock_bound: bool | None = None

    @property
    def decide_at(self) -> int:
        return max(1, min(DECIDE_MAX_STEPS, round(self.steps * DECIDE_FRACTION)))

    def progress(
        self, step: int, elapsed_s: float, log: Callable[[str], None] | None = None
    ) -> float:
        """Where the schedule stands at ``step`` after ``elapsed_s`` seconds of training;
        ``log`` hears the decision, once."""
        by_steps = step / self.steps
        if self.budget_s <= 0:
            return by_steps
        if self.clock_bound is None and step >= self.decide_at:
            self.clock_bound = self.projected_s(step, elapsed_s) > self.budget_s
            if log is not None:
                log(self.describe(step, elapsed_s))
        if self.clock_bound:
            return max(by_steps, elapsed_s / self.budget_s)
        return by_steps

    def projected_s(self, step: int, elapsed_s: float) -> float:
        """All the steps at the pace so far."""
        return elapsed_s / max(1, step) * self.steps

    def describe(self, step: int, elapsed_s: float) -> str:
        """One line for the log once decided."""
        projected, budget = self.projected_s(step, elapsed_s) / 60, self.budget_s / 60
        if self.clock_bound:
            return (
                f"schedule: by the clock ({self.steps} steps projected at {projected:.1f} min, "
                f"over the {budget:.1f} min budget; the learning rate follows time, so runs "
                "are not bit-reproducible)"
            )
        return (
            f"schedule: by steps ({self.steps} steps projected at {projected:.1f} min of a "
            f"{budget:.1f} min budget)"
        )
