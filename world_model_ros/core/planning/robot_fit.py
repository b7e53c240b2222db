"""The planner's body and limits made to fit the robot it drives.

The shipped planner settings are for the default robot (0.17 m radius). Another robot's contact
memory must place a felt surface its own radius beyond the centre, and a plan must not ask for
more speed or acceleration than its base can give (a plan the base cannot follow is a plan of
somewhere else). What a robot file or an adapted checkpoint says about the robot wins over
those defaults; everything else in the configuration stays as configured.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..model.checkpoint_robot import RobotLimits
from .controller_config import ControllerConfig

__all__ = ["RobotLimits", "fit_controller", "limits_exceeded"]


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
        lowered: dict[str, Any] = {
            name: bound
            for name, bound in _bounds(limits).items()
            if abs(getattr(mppi, name)) > abs(bound)
        }
        changes += [f"{k} {getattr(mppi, k):g} -> {v:g}" for k, v in lowered.items()]
        mppi = dataclasses.replace(mppi, **lowered)
    return dataclasses.replace(config, mppi=mppi), changes


def limits_exceeded(config: ControllerConfig, limits: RobotLimits | None) -> list[str]:
    """One phrase per planner limit of ``config`` beyond the base's ``limits`` (a parameter
    change the planner refuses rather than silently capping: the value read back must be the
    one in force)."""
    if limits is None:
        return []
    mppi = config.mppi
    return [
        f"{name}={getattr(mppi, name):g} is beyond the robot's {abs(bound):g}"
        for name, bound in _bounds(limits).items()
        if abs(getattr(mppi, name)) > abs(bound) + 1e-9
    ]


def _bounds(limits: RobotLimits) -> dict[str, float]:
    """The planner settings each base limit bounds (v_min: reversing, as a negative speed)."""
    return {
        "v_max": limits.max_linear_mps,
        "v_min": -limits.max_linear_mps,
        "w_max": limits.max_angular_radps,
        "a_max": limits.max_linear_accel_mps2,
        "alpha_max": limits.max_angular_accel_radps2,
    }
