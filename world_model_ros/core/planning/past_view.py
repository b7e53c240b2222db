"""What an earlier camera frame says about the commands the planner is choosing between now.

Why: the learned model encodes one frame, so it knows only what the forward camera sees now.
The camera sits at the front of the robot with a 70 degree view: a box the robot is slipping
past leaves the picture about a second before the robot's flank reaches it, and from then on
the model predicts free space there. Most of the demo's remaining collisions were such grazes
(in those examined, the contact point lay 45-85 degrees off the camera's axis one second before
contact). Often a second earlier the box was in the picture.

So the planner also asks the frame of ``delay_s`` ago. Its latent is carried forward by the
model itself under the commands that were in force since (one B = 1 rollout: the model's own
prediction of where it is now, with what it saw then), re-anchored at the pose measured now,
and every candidate is rolled out from it for the ``horizon - delay`` steps left, so the old
frame is never asked further ahead than the model was trained for. The planner takes per step
the larger of the two views' collision probabilities. That is a fixed-lag ensemble over
frames, not a map: the old frame's prediction covers only the next ``horizon - delay`` steps
and is made afresh every cycle.

Models that cannot carry a latent forward (the kinematic baseline sees nothing) have no past
view; ``PastViews.view`` then returns None.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

from ..config import setting, validate_settings
from ..model.contract import CarriesLatent, LatentState, WorldModel


@dataclass(frozen=True)
class PastViewConfig:
    delay_s: float = setting(
        1.0,
        "also ask the camera frame this old (s), carried forward by the model, about the "
        "candidates (0: only the current frame); only for a model without an occupancy head",
        low=0.0,
        high=60.0,
    )

    def __post_init__(self) -> None:
        validate_settings(self)


class PastViews:
    """The recent latents and the commands in force since, on the model's time step.

    The planner calls :meth:`record` once per cycle with the latent it plans from, the
    command that was in force over the steps since the last cycle and how many steps that
    was; :meth:`view` then gives the latent of ``delay_s`` ago carried forward to now.
    """

    def __init__(self, config: PastViewConfig, dt_s: float, horizon: int):
        self.config = config
        self.delay_steps = int(round(config.delay_s / dt_s))
        if self.delay_steps >= horizon:
            raise ValueError(
                f"past view delay_s {config.delay_s} is {self.delay_steps} steps of {dt_s} s: "
                f"it must be shorter than the horizon ({horizon} steps)"
            )
        self.clear()

    @property
    def enabled(self) -> bool:
        return self.delay_steps > 0

    def clear(self) -> None:
        self._step = 0  # steps recorded so far
        self._latents: deque[tuple[int, LatentState]] = deque()
        self._commands: deque[torch.Tensor] = deque()  # [2] per step, the last ones

    def record(
        self, latent: LatentState, command_in_force_2: torch.Tensor, steps_since_last: int
    ) -> None:
        """Add this cycle's latent; ``command_in_force_2`` was executed for ``steps_since_last``
        steps before it (0 for the first cycle after a reset)."""
        if not self.enabled:
            return
        if self._latents:
            for _ in range(max(0, int(steps_since_last))):
                self._commands.append(command_in_force_2.detach().reshape(2).clone())
            self._step += max(0, int(steps_since_last))
        self._latents.append((self._step, latent))
        while self._latents and self._step - self._latents[0][0] > self.delay_steps:
            self._latents.popleft()
        oldest = self._latents[0][0]
        while len(self._commands) > self._step - oldest:
            self._commands.popleft()

    def view(self, model: WorldModel, now: LatentState) -> LatentState | None:
        """The latent of ``delay_s`` ago carried forward to now by ``model.advance`` and anchored
        at ``now``'s pose, or None (no such frame yet, a gap in the cycles, or a model that
        cannot carry its latent forward)."""
        if not self.enabled or not isinstance(model, CarriesLatent) or not self._latents:
            return None
        step, past = self._latents[0]
        if self._step - step != self.delay_steps:
            return None  # too early after a reset, or cycles were skipped
        commands_k2 = torch.stack(list(self._commands)[-self.delay_steps :])
        features = model.advance(past, commands_k2)
        return LatentState(pose_3=now.pose_3, twist_2=now.twist_2, features=features)
