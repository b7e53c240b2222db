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

__all__ = ["RobotLimits", "fit_controller", "fitted_settings", "limits_exceeded"]

# The planner settings a base's limits bound (by their flat names), in _bounds' order.
LIMIT_SETTINGS = ("v_max", "v_min", "w_max", "a_max", "alpha_max")
# A configured field of view this close to the camera's is left as configured (3 degrees).
VIEW_TOLERANCE_RAD = 0.05


def fit_controller(
    config: ControllerConfig,
    radius_m: float | None,
    limits: RobotLimits | None,
    view_half_angle_rad: float | None = None,
) -> tuple[ControllerConfig, list[str]]:
    """``config`` with the contact memory's body radius set to ``radius_m`` (the footprint's
    circumscribed radius), the planner's limits capped at ``limits`` and what the occupancy map
    and the contact memory count as in view set to ``view_half_angle_rad`` (the encoder's
    half horizontal field of view: core/data/camera.encoder_half_fov_rad); returns it with one
    phrase per change, for the log."""
    mppi, changes = config.mppi, []
    if (
        view_half_angle_rad is not None
        and abs(mppi.occupancy.view_half_angle_rad - view_half_angle_rad) > VIEW_TOLERANCE_RAD
    ):
        changes.append(
            f"view half angle {mppi.occupancy.view_half_angle_rad:g} -> "
            f"{view_half_angle_rad:.2f} rad"
        )
        mppi = dataclasses.replace(
            mppi,
            occupancy=dataclasses.replace(mppi.occupancy, view_half_angle_rad=view_half_angle_rad),
            memory=dataclasses.replace(mppi.memory, view_half_angle_rad=view_half_angle_rad),
        )
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
    values = (
        limits.max_linear_mps,
        -limits.max_linear_mps,
        limits.max_angular_radps,
        limits.max_linear_accel_mps2,
        limits.max_angular_accel_radps2,
    )
    return dict(zip(LIMIT_SETTINGS, values, strict=True))


def fitted_settings(config: ControllerConfig) -> dict[str, float]:
    """The settings :func:`fit_controller` may change, by their flat (ROS parameter) names: a
    node shows the fitted values as its parameters."""
    mppi = config.mppi
    values = {name: getattr(mppi, name) for name in LIMIT_SETTINGS}
    values["occupancy.view_half_angle_rad"] = mppi.occupancy.view_half_angle_rad
    values["memory.view_half_angle_rad"] = mppi.memory.view_half_angle_rad
    values["memory.body_radius_m"] = mppi.memory.body_radius_m
    return values
