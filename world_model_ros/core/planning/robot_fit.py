"""The planner's body and limits made to fit the robot it drives.

The shipped planner settings are for the default robot (0.17 m radius). Another robot's contact
memory must place a felt surface its own radius beyond the centre, and a plan must not ask for
more speed or acceleration than its base can give (a plan the base cannot follow is a plan of
somewhere else). What a robot file or an adapted checkpoint says about the robot wins over
those defaults; everything else in the configuration stays as configured.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .controller_config import ControllerConfig


@dataclass(frozen=True)
class RobotLimits:
    """A base's limits (the robot file's ``limits``; checkpoints record them too)."""

    max_linear_mps: float
    max_angular_radps: float
    max_linear_accel_mps2: float
    max_angular_accel_radps2: float


def fit_controller(
    config: ControllerConfig, radius_m: float | None, limits: RobotLimits | None
) -> tuple[ControllerConfig, list[str]]:
    """``config`` with the contact memory's body radius set to ``radius_m`` (the footprint's
    circumscribed radius) and the planner's limits capped at ``limits``; returns it with one
    phrase per change, for the log."""
    mppi, changes = config.mppi, []
    if radius_m is not None and abs(mppi.memory.body_radius_m - radius_m) > 1e-6:
        changes.append(f"body radius {mppi.memory.body_radius_m:g} -> {radius_m:g} m")
        mppi = dataclasses.replace(
            mppi, memory=dataclasses.replace(mppi.memory, body_radius_m=radius_m)
        )
    if limits is not None:
        caps = {
            "v_max": limits.max_linear_mps,
            "w_max": limits.max_angular_radps,
            "a_max": limits.max_linear_accel_mps2,
            "alpha_max": limits.max_angular_accel_radps2,
        }
        lowered: dict[str, Any] = {k: cap for k, cap in caps.items() if getattr(mppi, k) > cap}
        if -mppi.v_min > limits.max_linear_mps:
            lowered["v_min"] = -limits.max_linear_mps
        changes += [f"{k} {getattr(mppi, k):g} -> {v:g}" for k, v in lowered.items()]
        mppi = dataclasses.replace(mppi, **lowered)
    return dataclasses.replace(config, mppi=mppi), changes
