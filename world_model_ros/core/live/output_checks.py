"""The last check before anything leaves a node: a prediction, a twin state or a plan that is
not finite, or not physically plausible, is never published.

Inputs are bounded (``input_checks.InputBounds``), but a model can still diverge: weights
replaced by garbage, an input the bounds let through that the network has never seen, a bug.
Whatever the cause, a NaN on ``world_model/prediction`` would reach every consumer (the
planner's critics, rviz, a logger) as if it were a forecast. These functions say why an
output must be withheld (None when it may go out); the node counts the reason, logs it and
turns its diagnostics to ERROR. Outputs are held to the same bounds as inputs: a prediction of
a robot 1e6 m away or at 1e4 m/s is as wrong as a NaN. No rclpy here: arrays in, a reason out.
"""

from __future__ import annotations

import numpy as np

from .input_checks import InputBounds


def _problem(name: str, values: np.ndarray, limit: float | None = None) -> str | None:
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        return f"{name} holds NaN or inf"
    if limit is not None and values.size and float(np.abs(values).max()) > limit:
        return f"{name} reaches {float(np.abs(values).max()):.4g} (limit {limit:g})"
    return None


def prediction_problem(
    rollout_np: dict[str, np.ndarray], bounds: InputBounds, batch_index: int = 0
) -> str | None:
    """Why the rollout's sequence ``batch_index`` (``Rollout.to_numpy()``) may not be published:
    non-finite values, positions beyond ``max_position_m``, speeds or rates beyond the input
    bounds, negative variances or collision probabilities outside [0, 1]."""
    poses = rollout_np["poses_bh3"][batch_index]
    twists = rollout_np["twists_bh2"][batch_index]
    checks = (
        _problem("predicted position", poses[:, :2], bounds.max_position_m),
        _problem("predicted yaw", poses[:, 2]),
        _problem("predicted speed", twists[:, 0], bounds.max_speed_mps),
        _problem("predicted yaw rate", twists[:, 1], bounds.max_yaw_rate_radps),
        _problem("predicted position variance", rollout_np["position_var_bh"][batch_index]),
        _problem("predicted yaw variance", rollout_np["yaw_var_bh"][batch_index]),
        _problem("predicted collision probability", rollout_np["collision_prob_bh"][batch_index]),
    )
    problem = next((c for c in checks if c), None)
    if problem:
        return problem
    for name in ("position_var_bh", "yaw_var_bh"):
        if float(np.min(rollout_np[name][batch_index], initial=0.0)) < 0.0:
            return f"predicted {name.split('_var')[0]} variance is negative"
    collision = np.asarray(rollout_np["collision_prob_bh"][batch_index])
    if collision.size and (collision.min() < 0.0 or collision.max() > 1.0):
        return "predicted collision probability is outside [0, 1]"
    return None


def state_problem(
    pose_3: np.ndarray, twist_2: np.ndarray, latent: np.ndarray | None, bounds: InputBounds
) -> str | None:
    """Why a twin state (pose x, y, yaw; twist v, w; latent) may not be published."""
    pose_3, twist_2 = np.asarray(pose_3), np.asarray(twist_2)
    checks = (
        _problem("state position", pose_3[:2], bounds.max_position_m),
        _problem("state yaw", pose_3[2:]),
        _problem("state speed", twist_2[:1], bounds.max_speed_mps),
        _problem("state yaw rate", twist_2[1:], bounds.max_yaw_rate_radps),
        None if latent is None else _problem("state latent", latent, bounds.max_latent_abs),
    )
    return next((c for c in checks if c), None)


def plan_problem(
    commands_h2: np.ndarray, rollout_np: dict[str, np.ndarray], bounds: InputBounds
) -> str | None:
    """Why a planner's plan (its commands and the model's prediction under them) may not be
    published or driven on."""
    commands_h2 = np.asarray(commands_h2)
    return (
        _problem("plan speed", commands_h2[:, 0], bounds.max_speed_mps)
        or _problem("plan yaw rate", commands_h2[:, 1], bounds.max_yaw_rate_radps)
        or prediction_problem(rollout_np, bounds)
    )
