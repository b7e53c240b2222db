"""The calibration's contact gain on the predicted position variance.

Where the model foresees a contact, what follows (a stop, a slide along the box, a bounce) is
what its mean gets least right; one variance scale cannot cover those windows without
over-covering the rest (core/training/calibration.py fits the gain). The model's variance at
each step is grown by ``1 + gain x`` the highest collision probability foreseen up to that step
(``LatentModelConfig.contact_var_gain``); the planner's uncertainty critic takes it out again
(a foreseen contact is the collision critics' to price).
"""

from __future__ import annotations

import torch


def running_max(x_bh: torch.Tensor) -> torch.Tensor:
    """The highest value so far along dim 1, as a loop: ``torch.cummax`` has no ONNX export at
    opset 17, and this runs inside the exported rollout."""
    steps = [x_bh[:, 0]]
    for k in range(1, x_bh.shape[1]):
        steps.append(torch.maximum(steps[-1], x_bh[:, k]))
    return torch.stack(steps, dim=1)


def with_contact_gain(
    position_var_bh: torch.Tensor, collision_prob_bh: torch.Tensor, gain: float
) -> torch.Tensor:
    """The position variance grown where a contact is foreseen (inside the model's decode)."""
    if gain <= 0:
        return position_var_bh
    return position_var_bh * (1.0 + gain * running_max(collision_prob_bh))


def without_contact_gain(
    position_var_bh: torch.Tensor, collision_prob_bh: torch.Tensor, gain: float
) -> torch.Tensor:
    """A rollout's position variance with the gain taken out again (outside any export, so
    one ``cummax``)."""
    if gain <= 0:
        return position_var_bh
    return position_var_bh / (1.0 + gain * torch.cummax(collision_prob_bh, dim=1).values)
