"""How MPPI's candidate command sequences are drawn and kept within the robot's limits.

Noise is AR(1) across steps (smooth candidates a robot can follow), made with one matrix product
per batch; every sequence is then clamped, step by step from the command in force, to the
velocity box and the acceleration limits. Tensors are ``[N samples, H steps, 2]`` (v m/s,
w rad/s).
"""

from __future__ import annotations

import math

import torch


def ar1_filter(horizon: int, rho: float) -> torch.Tensor:
    """[H, H] lower-triangular L with ``L @ white`` AR(1) noise of unit variance per step:
    eps_t = sum_s rho^(t-s) sqrt(1 - rho^2) e_s (s <= t), the first innovation carrying the
    stationary variance."""
    t = torch.arange(horizon, dtype=torch.float32)
    lower = torch.tril(rho ** (t[:, None] - t[None, :]).clamp(min=0)) * math.sqrt(1 - rho * rho)
    lower[:, 0] = rho**t
    return lower


def apply_limits(
    actions_nh2: torch.Tensor,
    previous_command_2: torch.Tensor,
    low_2: torch.Tensor,
    high_2: torch.Tensor,
    rate_2: torch.Tensor,
) -> torch.Tensor:
    """Clamp sequences to the velocity box [low, high] and the per-step change ``rate_2``.

    Each step moves at most ``rate_2`` from the one before (the first from
    ``previous_command_2``), then is clamped to the box; because the step before is inside the
    box, clamping can only shorten the move, so both limits hold. Four operations per step, on
    time-major rows (the loop over H is this function's cost).
    """
    previous = torch.clamp(previous_command_2.reshape(1, 2), low_2, high_2)
    actions_hn2 = actions_nh2.transpose(0, 1).contiguous()
    out_hn2 = torch.empty_like(actions_hn2)
    for step in range(out_hn2.shape[0]):
        move = torch.clamp(actions_hn2[step] - previous, -rate_2, rate_2)
        previous = torch.clamp(move.add_(previous), low_2, high_2, out=out_hn2[step])
    return out_hn2.transpose(0, 1).contiguous()
