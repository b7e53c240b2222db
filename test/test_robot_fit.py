"""The planner fitted to another robot: its body radius, and never more than its base can do."""

import dataclasses

import pytest

from world_model_ros.core.model.checkpoint_robot import robot_of
from world_model_ros.core.planning.controller_config import ControllerConfig
from world_model_ros.core.planning.robot_fit import RobotLimits, fit_controller


def test_a_larger_slower_robot_gets_its_radius_and_lower_limits():
    config, changes = fit_controller(ControllerConfig(), 0.22, RobotLimits(0.4, 1.5, 0.6, 2.5))
    mppi = config.mppi
    assert mppi.memory.body_radius_m == 0.22
    assert (mppi.v_max, mppi.w_max, mppi.a_max, mppi.alpha_max) == (0.4, 1.5, 0.6, 2.5)
    assert mppi.v_min >= -0.4
    assert any("body radius" in c for c in changes) and any("v_max" in c for c in changes)
    assert config.limits.v_max == 0.4  # the safety gate checks the same limits


def test_a_faster_robot_keeps_the_configured_limits():
    config, changes = fit_controller(ControllerConfig(), 0.17, RobotLimits(2.0, 5.0, 5.0, 10.0))
    assert config == ControllerConfig() and changes == []


def test_nothing_known_changes_nothing():
    assert fit_controller(ControllerConfig(), None, None) == (ControllerConfig(), [])


def test_a_change_beyond_the_robots_limits_is_named():
    from world_model_ros.core.planning.robot_fit import limits_exceeded

    limits = RobotLimits(0.4, 1.5, 0.6, 2.5)
    fitted, _ = fit_controller(ControllerConfig(), None, limits)
    assert limits_exceeded(fitted, limits) == [] and limits_exceeded(fitted, None) == []
    faster = dataclasses.replace(
        fitted, mppi=dataclasses.replace(fitted.mppi, v_max=1.0, v_min=-0.5)
    )
    assert limits_exceeded(faster, limits) == [
        "v_max=1 is beyond the robot's 0.4",
        "v_min=-0.5 is beyond the robot's 0.4",
    ]


@pytest.mark.parametrize(
    "limits, message",
    [
        ({"max_linear_mps": 0.4}, "missing max_angular_accel_radps2"),
        (
            {
                "max_linear_mps": -1.0,
                "max_angular_radps": 1.5,
                "max_linear_accel_mps2": 0.6,
                "max_angular_accel_radps2": 2.5,
            },
            "max_linear_mps=-1.0",
        ),
        (
            {
                "max_linear_mps": float("nan"),
                "max_angular_radps": 1.5,
                "max_linear_accel_mps2": 0.6,
                "max_angular_accel_radps2": 2.5,
                "max_jerk": 3.0,
            },
            "unknown max_jerk",
        ),
    ],
)
def test_a_checkpoints_limits_are_checked_when_read(limits, message):
    """The limits come from a file anyone can edit: a wrong one names the section and key."""
    with pytest.raises(ValueError, match="robot.limits") as error:
        robot_of({"robot": {"name": "x", "footprint": None, "limits": limits}})
    assert message in str(error.value)


def test_a_checkpoints_limits_read_back():
    limits = {
        "max_linear_mps": 0.4,
        "max_angular_radps": 1.5,
        "max_linear_accel_mps2": 0.6,
        "max_angular_accel_radps2": 2.5,
    }
    robot = robot_of({"robot": {"name": "large", "footprint": None, "limits": limits}})
    assert robot.limits == RobotLimits(0.4, 1.5, 0.6, 2.5)
    assert robot_of({}).limits is None


def test_the_view_is_what_the_encoder_sees_of_the_camera():
    """A 16:9 camera of 87 degrees: letterboxed the encoder sees all of it, cropped square only
    the middle (its vertical 56 degrees); the planner's view follows (not the default's 69)."""
    import math

    from world_model_ros.core.data.camera import CameraSpec, encoder_half_fov_rad

    wide = CameraSpec(128, 72, fovx_deg=87.0, fovy_deg=56.0)
    assert math.degrees(encoder_half_fov_rad(wide, "letterbox")) == pytest.approx(43.5)
    assert math.degrees(encoder_half_fov_rad(wide, "crop")) == pytest.approx(28.0, abs=0.3)
    assert encoder_half_fov_rad(CameraSpec(64, 64), "crop") is None  # field of view unknown
    config, changes = fit_controller(ControllerConfig(), None, None, math.radians(43.5))
    assert config.mppi.occupancy.view_half_angle_rad == pytest.approx(math.radians(43.5))
    assert config.mppi.memory.view_half_angle_rad == pytest.approx(math.radians(43.5))
    assert any("view half angle" in c for c in changes)
    same, none = fit_controller(ControllerConfig(), None, None, 0.61)  # the default's 70 deg
    assert same == ControllerConfig() and none == []
