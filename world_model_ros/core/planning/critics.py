"""MPPI critics: one small class per cost term, built by name from the configured list.

As in nav2's MPPI controller, each critic scores N sampled command sequences from their
predicted rollout and returns its weighted cost per sample, shape [N]; the planner sums the
critics named in ``CostConfig.critics``. A user removes or reorders critics in YAML
(``costs.critics``), tunes their weights and shape parameters there, and sees on the planner's
status topic each critic's share of the chosen plan's cost (why the robot chose what it chose).

Obstacles reach the critics as per-step collision probabilities: the model's own (its view
now) combined beforehand with the planner's occupancy map and contact memory (what left the
view), so the two collision critics judge all of them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

import torch

from ..config import ConfigError, setting, validate_settings
from ..geometry import wrap_angle
from ..model.contact_gain import without_contact_gain
from ..model.contract import Rollout


@dataclass(frozen=True)
class CriticInputs:
    """What every critic may look at for one batch of N candidates (nav2's ``CriticData``)."""

    poses_bh3: torch.Tensor  # predicted poses, odometry frame
    actions_bh2: torch.Tensor  # the commands (v m/s, w rad/s)
    collision_prob_bh: torch.Tensor  # after the noise floor (see ``above_floor``)
    position_var_bh: torch.Tensor  # m^2
    goal_3: torch.Tensor  # (x, y, yaw) odometry frame
    previous_command_2: torch.Tensor  # the command in force now


class Critic(Protocol):
    """One cost term: ``score`` returns its weighted cost per candidate, [N]."""

    name: ClassVar[str]

    def score(self, data: CriticInputs) -> torch.Tensor: ...


class GoalCritic:
    """Mean distance (m) to the goal over the horizon: rewards getting there early."""

    name = "goal"

    def __init__(self, config: CostConfig):
        self.weight = config.goal_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        return self.weight * goal_distance(data.poses_bh3, data.goal_3)


class GoalTerminalCritic:
    """Distance (m) to the goal after the last step."""

    name = "goal_terminal"

    def __init__(self, config: CostConfig):
        self.weight = config.goal_terminal_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        distance = torch.linalg.vector_norm(data.poses_bh3[:, -1, :2] - data.goal_3[:2], dim=-1)
        return self.weight * distance


class HeadingCritic:
    """Facing the goal's bearing while far, its yaw once near (see :func:`heading`)."""

    name = "heading"

    def __init__(self, config: CostConfig):
        self.weight = config.heading_weight
        self.near_distance_m = config.heading_near_distance_m
        self.use_goal_yaw = config.use_goal_yaw

    def score(self, data: CriticInputs) -> torch.Tensor:
        error = heading(data.poses_bh3, data.goal_3, self.near_distance_m, self.use_goal_yaw)
        return self.weight * error


class EffortCritic:
    """Mean of v^2 + w^2 over the horizon."""

    name = "effort"

    def __init__(self, config: CostConfig):
        self.weight = config.effort_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        return self.weight * data.actions_bh2.square().sum(dim=-1).mean(dim=1)


class SmoothnessCritic:
    """Mean squared change of command per step, including from the command now in force."""

    name = "smoothness"

    def __init__(self, config: CostConfig):
        self.weight = config.smoothness_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        actions = data.actions_bh2
        previous = data.previous_command_2.reshape(1, 1, 2).expand(actions.shape[0], 1, 2)
        deltas = torch.diff(torch.cat([previous, actions], dim=1), dim=1)
        return self.weight * deltas.square().sum(dim=-1).mean(dim=1)


class PreferForwardCritic:
    """Mean reverse speed (m/s): the camera, so the model's view, only covers what is ahead."""

    name = "prefer_forward"

    def __init__(self, config: CostConfig):
        self.weight = config.prefer_forward_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        return self.weight * torch.relu(-data.actions_bh2[..., 0]).mean(dim=1)


class CollisionCritic:
    """Mean over the horizon of P(collided by step t): an early collision costs more."""

    name = "collision"

    def __init__(self, config: CostConfig):
        self.weight = config.collision_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        return self.weight * collision(data.collision_prob_bh)


class CollisionTerminalCritic:
    """P(a collision at any step of the horizon)."""

    name = "collision_terminal"

    def __init__(self, config: CostConfig):
        self.weight = config.collision_terminal_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        return self.weight * collision_terminal(data.collision_prob_bh)


class UncertaintyCritic:
    """Mean predicted position variance (m^2): prefer futures the model is sure about."""

    name = "uncertainty"

    def __init__(self, config: CostConfig):
        self.weight = config.uncertainty_weight

    def score(self, data: CriticInputs) -> torch.Tensor:
        return self.weight * data.position_var_bh.mean(dim=1)


CRITICS: dict[str, type] = {
    c.name: c
    for c in (
        GoalCritic,
        GoalTerminalCritic,
        HeadingCritic,
        EffortCritic,
        SmoothnessCritic,
        PreferForwardCritic,
        CollisionCritic,
        CollisionTerminalCritic,
        UncertaintyCritic,
    )
}


@dataclass(frozen=True)
class CostConfig:
    """Which critics score the rollouts, their weights and shape parameters (docs/planner.md).

    Distances in metres, angles in radians, commands in m/s and rad/s.
    """

    critics: tuple[str, ...] = setting(
        tuple(CRITICS),
        "critics that score each rollout (remove one to turn it off)",
        choices=tuple(CRITICS),
    )
    goal_weight: float = setting(
        1.0, "weight of the mean distance to the goal over the horizon", low=0.0
    )
    goal_terminal_weight: float = setting(
        2.0, "weight of the distance to the goal at the horizon's end", low=0.0
    )
    heading_weight: float = setting(
        0.3, "weight of the heading error (to the goal's bearing, then its yaw)", low=0.0
    )
    heading_near_distance_m: float = setting(
        0.3, "distance (m) below which the heading term blends into the goal's yaw", low=0.0
    )
    use_goal_yaw: bool = setting(
        True, "finish in the goal's orientation (false: position-only goals)"
    )
    effort_weight: float = setting(0.05, "weight of the mean squared command", low=0.0)
    smoothness_weight: float = setting(
        0.5, "weight of the mean squared command change per step", low=0.0
    )
    prefer_forward_weight: float = setting(1.0, "weight of the mean reverse speed", low=0.0)
    collision_weight: float = setting(
        40.0, "weight of the mean probability of having collided by each step", low=0.0
    )
    collision_terminal_weight: float = setting(
        20.0, "weight of the probability of any collision in the horizon", low=0.0
    )
    collision_floor: float = setting(
        0.2,
        "collision probabilities up to this count as 0 (the learned model's noise floor)",
        low=0.0,
        high=0.999,
    )
    uncertainty_weight: float = setting(
        0.5, "weight of the mean predicted position variance (m^2)", low=0.0
    )

    def __post_init__(self) -> None:
        validate_settings(self)
        if len(set(self.critics)) != len(self.critics):
            raise ConfigError(f"costs.critics names a critic twice: {', '.join(self.critics)}")


def motion_uncertainty(rollout: Rollout, model: object) -> Rollout:
    """``rollout`` with the position variance of its motion alone: without the part a learned
    model's calibration adds where it foresees a contact (core/training/calibration.py). The
    collision critics already price a foreseen contact, and a plan should not change with a
    calibration made for the coverage of the published predictions."""
    gain = float(getattr(getattr(model, "config", None), "contact_var_gain", 0.0))
    if gain <= 0:
        return rollout
    var = without_contact_gain(rollout.position_var_bh, rollout.collision_prob_bh, gain)
    return replace(rollout, position_var_bh=var)


class CriticSet:
    """The configured critics, in order; scores a batch and reports each one's part."""

    def __init__(self, config: CostConfig):
        self.config = config
        self.critics = [CRITICS[name](config) for name in config.critics]

    @property
    def names(self) -> list[str]:
        return [critic.name for critic in self.critics]

    def score(
        self,
        rollout: Rollout,
        actions_bh2: torch.Tensor,
        goal_3: torch.Tensor,
        previous_command_2: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """([N] total cost, {critic name: [N] weighted cost}) of N candidates."""
        data = CriticInputs(
            poses_bh3=rollout.poses_bh3,
            actions_bh2=actions_bh2,
            collision_prob_bh=above_floor(rollout.collision_prob_bh, self.config.collision_floor),
            position_var_bh=rollout.position_var_bh,
            goal_3=goal_3,
            previous_command_2=previous_command_2,
        )
        terms = {critic.name: critic.score(data) for critic in self.critics}
        total = torch.zeros(actions_bh2.shape[0], device=actions_bh2.device)
        for term in terms.values():
            total = total + term
        return total, terms


# --- the math the critics share --------------------------------------------------------------


def goal_distance(poses_bh3: torch.Tensor, goal_3: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance (m) to the goal over the horizon, [B]."""
    return torch.linalg.vector_norm(poses_bh3[..., :2] - goal_3[:2], dim=-1).mean(dim=1)


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
    """P(a contact at or before step t), [B, H]: the running maximum of the per-step
    probabilities.

    Contact at consecutive steps is strongly correlated (a robot touching a wall at t is likely
    still touching it at t + 1), so the running maximum is the right bound, not the product
    1 - prod(1 - p) of independent steps; that product also turns a model's small calibration
    floor (say 0.05 everywhere) into near-certain collision over 20 steps for every sample.
    """
    return torch.cummax(collision_prob_bh.clamp(0.0, 1.0), dim=1).values


def collision(collision_prob_bh: torch.Tensor) -> torch.Tensor:
    """Mean over the horizon of P(collided by step t), [B]."""
    return collided_by_step(collision_prob_bh).mean(dim=1)


def collision_terminal(collision_prob_bh: torch.Tensor) -> torch.Tensor:
    """P(collided at any step of the horizon), [B]."""
    return collided_by_step(collision_prob_bh)[:, -1]
