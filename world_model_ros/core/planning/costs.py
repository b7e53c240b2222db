"""MPPI cost terms ("critics", as nav2's MPPI controller calls them): one small function each.

Every critic scores N sampled command sequences from their predicted rollout and returns a
cost per sample, shape [N], before its weight is applied. The planner sums
``weight * critic(...)`` over the critics whose weight is non-zero; the weights and the few
shape parameters live in :class:`CostConfig` (documented in docs/planner.md).

Obstacles are known only through the model's ``collision_prob_bh``: the planner has no map.
A model that cannot see (the kinematic baseline predicts probability 0 everywhere) therefore
drives straight into whatever lies between the robot and its goal, which is the comparison
the demo reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ..geometry import wrap_angle
from ..model.contract import Rollout


@dataclass(frozen=True)
class CostConfig:
    """Weights (0 disables a critic) and shape parameters of the MPPI cost.

    Distances in metres, angles in radians, commands in m/s and rad/s. See docs/planner.md.
    """

    goal_weight: float = 1.0  # mean distance to the goal over the horizon (progress)
    goal_terminal_weight: float = 2.0  # distance to the goal at the horizon's end
    heading_weight: float = 0.3  # facing the goal while far, the goal's yaw once near
    heading_near_distance_m: float = 0.3  # closer than this: align with the goal's yaw instead
    use_goal_yaw: bool = True  # False: the goal's yaw is ignored (position-only goals)
    effort_weight: float = 0.05  # mean squared command (v^2 + w^2)
    smoothness_weight: float = 0.5  # mean squared change of command between steps
    prefer_forward_weight: float = 1.0  # mean reverse speed: the camera looks forward
    collision_weight: float = 40.0  # mean probability of having collided by each step
    collision_terminal_weight: float = 20.0  # probability of having collided by the end
    collision_floor: float = (
        0.2  # probabilities up to this count as 0 (a learned model's noise floor)
    )
    uncertainty_weight: float = 0.5  # mean predicted position variance (m^2)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and (not math.isfinite(value) or value < 0.0):
                raise ValueError(f"cost parameter '{f.name}' must be finite and >= 0; got {value}")
        if not self.collision_floor < 1.0:
            raise ValueError(
                f"cost parameter 'collision_floor' must be < 1; got {self.collision_floor}"
            )


def goal_distance(poses_bh3: torch.Tensor, goal_3: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance (m) to the goal over the horizon: rewards getting there early."""
    return torch.linalg.vector_norm(poses_bh3[..., :2] - goal_3[:2], dim=-1).mean(dim=1)


def goal_terminal_distance(poses_bh3: torch.Tensor, goal_3: torch.Tensor) -> torch.Tensor:
    """Distance (m) to the goal after the last step."""
    return torch.linalg.vector_norm(poses_bh3[:, -1, :2] - goal_3[:2], dim=-1)


def heading(
    poses_bh3: torch.Tensor, goal_3: torch.Tensor, near_distance_m: float, use_goal_yaw: bool
) -> torch.Tensor:
    """Mean absolute heading error (rad): to the bearing of the goal while farther than
    ``near_distance_m``, blending linearly into the error to the goal's own yaw as the
    distance shrinks to 0 (without ``use_goal_yaw`` the bearing term just fades out).

    Far from the goal this keeps the camera pointed where the robot is going; near it, it
    makes the robot finish in the requested orientation (rviz's 2D Goal Pose arrow). The blend
    is continuous: a hard switch at ``near_distance_m`` makes a cost step that MPPI stalls at.
    """
    delta_xy = goal_3[:2] - poses_bh3[..., :2]
    distance = torch.linalg.vector_norm(delta_xy, dim=-1)
    bearing = torch.atan2(delta_xy[..., 1], delta_xy[..., 0])
    to_bearing = wrap_angle(bearing - poses_bh3[..., 2]).abs()
    nearness = (1.0 - distance / max(near_distance_m, 1e-6)).clamp(0.0, 1.0)
    error = (1.0 - nearness) * to_bearing
    if use_goal_yaw:
        error = error + nearness * wrap_angle(goal_3[2] - poses_bh3[..., 2]).abs()
    return error.mean(dim=1)


def control_effort(actions_bh2: torch.Tensor) -> torch.Tensor:
    """Mean of v^2 + w^2 over the horizon."""
    return actions_bh2.square().sum(dim=-1).mean(dim=1)


def smoothness(actions_bh2: torch.Tensor, previous_command_2: torch.Tensor) -> torch.Tensor:
    """Mean squared change of command per step, including from the command now in force."""
    previous = previous_command_2.reshape(1, 1, 2).expand(actions_bh2.shape[0], 1, 2)
    deltas = torch.diff(torch.cat([previous, actions_bh2], dim=1), dim=1)
    return deltas.square().sum(dim=-1).mean(dim=1)


def prefer_forward(actions_bh2: torch.Tensor) -> torch.Tensor:
    """Mean reverse speed (m/s): the camera, so the model's view, only covers what is ahead."""
    return torch.relu(-actions_bh2[..., 0]).mean(dim=1)


def above_floor(collision_prob_bh: torch.Tensor, floor: float) -> torch.Tensor:
    """Probabilities rescaled so that ``floor`` maps to 0 and 1 stays 1.

    A learned collision head is never exactly 0: with a wall or an obstacle in view it says a
    few percent even for plans that stop well short of it. Times a collision weight of 40 that
    noise outweighs the last metre to a goal near a wall, and the robot circles short of it.
    Probabilities at or below the floor carry no cost; above it the cost still grows linearly.
    """
    if floor <= 0.0:
        return collision_prob_bh
    return ((collision_prob_bh - floor) / (1.0 - floor)).clamp(0.0, 1.0)


def collided_by_step(collision_prob_bh: torch.Tensor) -> torch.Tensor:
    """P(a contact at or before step t), [B, H]: the running maximum of the per-step probabilities.

    Contact at consecutive steps is strongly correlated (a robot touching a wall at t is likely
    still touching it at t + 1), so the running maximum is the right bound, not the product
    1 - prod(1 - p) of independent steps; that product also turns a model's small calibration
    floor (say 0.05 everywhere) into near-certain collision over 20 steps for every sample.
    """
    return torch.cummax(collision_prob_bh.clamp(0.0, 1.0), dim=1).values


def collision(collision_prob_bh: torch.Tensor) -> torch.Tensor:
    """Mean over the horizon of P(collided by step t): an early collision costs more than a late
    one."""
    return collided_by_step(collision_prob_bh).mean(dim=1)


def collision_terminal(collision_prob_bh: torch.Tensor) -> torch.Tensor:
    """P(collided at any step of the horizon)."""
    return collided_by_step(collision_prob_bh)[:, -1]


def uncertainty(position_var_bh: torch.Tensor) -> torch.Tensor:
    """Mean predicted position variance (m^2): prefer futures the model is sure about."""
    return position_var_bh.mean(dim=1)


def total_cost(
    config: CostConfig,
    rollout: Rollout,
    actions_bh2: torch.Tensor,
    goal_3: torch.Tensor,
    previous_command_2: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the enabled critics: ([N] total, {critic name: [N] weighted term}).

    The per-critic terms are returned so a user tuning weights can see which one dominates
    (the planner logs their means over the samples at debug level).
    """
    poses = rollout.poses_bh3
    terms: dict[str, torch.Tensor] = {}
    if config.goal_weight:
        terms["goal"] = config.goal_weight * goal_distance(poses, goal_3)
    if config.goal_terminal_weight:
        terms["goal_terminal"] = config.goal_terminal_weight * goal_terminal_distance(
            poses, goal_3
        )
    if config.heading_weight:
        terms["heading"] = config.heading_weight * heading(
            poses, goal_3, config.heading_near_distance_m, config.use_goal_yaw
        )
    if config.effort_weight:
        terms["effort"] = config.effort_weight * control_effort(actions_bh2)
    if config.smoothness_weight:
        terms["smoothness"] = config.smoothness_weight * smoothness(
            actions_bh2, previous_command_2
        )
    if config.prefer_forward_weight:
        terms["prefer_forward"] = config.prefer_forward_weight * prefer_forward(actions_bh2)
    collision_prob = above_floor(rollout.collision_prob_bh, config.collision_floor)
    if config.collision_weight:
        terms["collision"] = config.collision_weight * collision(collision_prob)
    if config.collision_terminal_weight:
        terms["collision_terminal"] = config.collision_terminal_weight * collision_terminal(
            collision_prob
        )
    if config.uncertainty_weight:
        terms["uncertainty"] = config.uncertainty_weight * uncertainty(rollout.position_var_bh)
    total = torch.zeros(actions_bh2.shape[0], device=actions_bh2.device, dtype=actions_bh2.dtype)
    for term in terms.values():
        total = total + term
    return total, terms
