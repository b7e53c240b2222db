"""The control cycle's settings: :class:`ControllerConfig` (goal tolerance, staleness and
timeout rules, the out-of-domain fallback, and the MPPI and detour settings it carries).

Apart from the cycle (goal_controller.py) because its readers are wider than the controller:
the planner node declares its parameters from it (nodes/mpc_planner_config.py), the demo and
the recorder build it from YAML, and robot_fit.py adapts it to a robot's body and limits;
none of them needs the controller to do so. Fields are :func:`~..config.setting` (with their
description and range), validated on construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import setting, validate_settings
from .detour import DetourConfig
from .goal import GoalTolerance
from .mppi import MppiConfig
from .safety import VelocityLimits

FALLBACKS = ("kinematic", "stop", "none")


@dataclass(frozen=True)
class ControllerConfig:
    """Goal logic and safety timing around the MPPI planner (docs/planner.md)."""

    xy_goal_tolerance: float = setting(
        0.15, "goal reached within this distance (m)", low=0.001, high=5.0
    )
    yaw_goal_tolerance: float = setting(
        0.35, "goal reached within this yaw error (rad; >= pi ignores yaw)", low=0.001, high=7.0
    )
    goal_timeout_s: float = setting(
        120.0, "give up a goal after this long (s; 0 = never)", low=0.0, high=86400.0
    )
    stale_timeout_s: float = setting(
        0.5,
        "send zero when no fresh, usable input (so no fresh plan) arrived for this long (s)",
        low=0.01,
        high=10.0,
    )
    max_input_age_s: float = setting(
        1.0,
        "an input stamped longer ago than this (node clock) is not usable (s)",
        low=0.001,
        high=3600.0,
    )
    stop_zero_s: float = setting(
        1.0,
        "after a goal ends, keep sending zero this long (s), then fall silent (teleop may drive)",
        low=0.0,
        high=60.0,
    )
    fallback: str = setting(
        "kinematic",
        "when the twin reports its learned model out of domain: plan with the kinematic model "
        "(kinematic), hold the robot still (stop), or carry on (none)",
        choices=FALLBACKS,
    )
    mppi: MppiConfig = setting(default_factory=MppiConfig, flatten=True)
    detour: DetourConfig = setting(default_factory=DetourConfig)

    def __post_init__(self) -> None:
        validate_settings(self)

    @property
    def tolerance(self) -> GoalTolerance:
        return GoalTolerance(self.xy_goal_tolerance, self.yaw_goal_tolerance)

    @property
    def limits(self) -> VelocityLimits:
        return VelocityLimits(self.mppi.v_min, self.mppi.v_max, self.mppi.w_max)
