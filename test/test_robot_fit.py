"""The planner fitted to another robot: its body radius, and never more than its base can do."""

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
