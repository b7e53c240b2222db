"""The control cycle's stop conditions, without DDS: core/planning/goal_controller.py + safety.py.

Every way an input can be unusable must end in a zero command within ``stale_timeout_s`` plus
one control period of the last usable input, with the reason on the status; no command may
ever be non-finite or outside the limits.
"""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from world_model_ros.core.config import ConfigError
from world_model_ros.core.model.contract import LatentState, Observation
from world_model_ros.core.model.kinematic import KinematicPredictor
from world_model_ros.core.planning.controller_config import ControllerConfig
from world_model_ros.core.planning.goal import GoalState, PlanningInput
from world_model_ros.core.planning.goal_controller import GoalController
from world_model_ros.core.planning.mppi import MppiConfig
from world_model_ros.core.planning.safety import SafetyGate, VelocityLimits

PERIOD_S = 0.1
CONFIG = ControllerConfig(mppi=MppiConfig(num_samples=64, seed=0), stale_timeout_s=0.5)


def state(stamp_s: float, pose=(0.0, 0.0, 0.0), twist=(0.0, 0.0), features=None):
    return PlanningInput(
        stamp_s,
        LatentState(
            pose_3=torch.tensor(pose, dtype=torch.float32),
            twist_2=torch.tensor(twist, dtype=torch.float32),
            features=features,
        ),
    )


def driving(config: ControllerConfig = CONFIG, model=None) -> tuple[GoalController, float]:
    """A controller that has planned from two fresh inputs towards a goal 2 m ahead."""
    controller = GoalController(model or KinematicPredictor(), config)
    controller.set_goal(np.array([2.0, 0.0, 0.0]), 0.0)
    for k in range(2):
        out = controller.step(state(k * PERIOD_S), k * PERIOD_S)
        assert out.status.state is GoalState.ACTIVE, out.status.text
    assert out.command_2[0] > 0.0  # moving
    return controller, PERIOD_S


def zero_after(controller: GoalController, last_usable_s: float, newest) -> tuple[float, str]:
    """Step at the control rate feeding ``newest(t)``; the time of the first zero command."""
    t = last_usable_s
    for _ in range(50):
        t += PERIOD_S
        out = controller.step(newest(t), t)
        if out.command_2 is not None and not out.command_2.any():
            return t, out.status.text
    raise AssertionError("never stopped")


def deadline(config: ControllerConfig = CONFIG) -> float:
    return config.stale_timeout_s + PERIOD_S + 1e-9


@pytest.mark.parametrize(
    "fault",
    ["nothing", "duplicate", "frozen_stamp", "old", "future", "non_finite"],
)
def test_every_input_fault_stops_the_robot_in_time(fault):
    controller, last = driving()
    newest = {
        "nothing": lambda t: None,
        "duplicate": lambda t: state(last),  # the same message again and again
        "frozen_stamp": lambda t: state(last, pose=(t, 0.0, 0.0)),  # fresh pose, frozen stamp
        "old": lambda t: state(t - 5.0),
        "future": lambda t: state(t + 5.0),
        "non_finite": lambda t: state(t, pose=(math.nan, 0.0, 0.0)),
    }[fault]
    stopped_s, why = zero_after(controller, last, newest)
    assert stopped_s - last <= deadline(), why
    assert why.startswith("holding")
    expected = {
        "nothing": "no valid plan",
        "duplicate": "did not advance",
        "frozen_stamp": "did not advance",
        "old": "old",
        "future": "future",
        "non_finite": "NaN",
    }[fault]
    assert expected in why
    for k in range(5):  # and zero keeps coming, every period, while the goal is held
        out = controller.step(newest(stopped_s + k * PERIOD_S), stopped_s + k * PERIOD_S)
        assert out.command_2 is not None and not out.command_2.any()


def test_a_rejected_input_is_named_on_the_status():
    controller, last = driving()
    t = last
    while True:
        t += PERIOD_S
        controller.input_rejected("camera/image_raw: unsupported encoding 'yuv422'", t)
        out = controller.step(None, t)
        if not out.command_2.any():
            break
    assert t - last <= deadline() and "yuv422" in out.status.reason


class FailingModel(KinematicPredictor):
    def __init__(self):
        super().__init__()
        self.fail = False

    def rollout(self, latent, actions_bh2):
        if self.fail:
            raise RuntimeError("CUDA error: an illegal memory access")
        return super().rollout(latent, actions_bh2)


def test_a_model_failure_stops_at_once_and_recovers():
    model = FailingModel()
    controller, last = driving(model=model)
    model.fail = True
    out = controller.step(state(last + PERIOD_S), last + PERIOD_S)
    assert not out.command_2.any() and "planning error" in out.status.reason
    model.fail = False
    out = controller.step(state(last + 2 * PERIOD_S), last + 2 * PERIOD_S)
    assert out.status.state is GoalState.ACTIVE and out.command_2.any()


def test_reached_sends_zero_for_a_while_then_falls_silent():
    controller = GoalController(KinematicPredictor(), CONFIG)
    controller.set_goal(np.array([0.05, 0.0, 0.0]), 0.0)
    out = controller.step(state(0.0), 0.0)
    assert out.status.state is GoalState.REACHED and not out.command_2.any()
    assert controller.step(state(0.5), 0.5).command_2 is not None  # within stop_zero_s
    assert controller.step(state(1.5), 1.5).command_2 is None  # then silent: teleop may drive


def test_goal_timeout_fails_the_goal():
    config = replace(CONFIG, goal_timeout_s=0.3)
    controller = GoalController(KinematicPredictor(), config)
    controller.set_goal(np.array([3.0, 0.0, 0.0]), 0.0)
    states = [controller.step(state(k * PERIOD_S), k * PERIOD_S).status for k in range(6)]
    assert states[-1].state is GoalState.FAILED and "goal_timeout_s" in states[-1].reason


def test_no_goal_means_no_command():
    controller = GoalController(KinematicPredictor(), CONFIG)
    out = controller.step(state(0.0), 0.0)
    assert out.command_2 is None and out.status.state is GoalState.IDLE


def test_time_jumping_back_with_the_clock_restarts_the_timeline():
    """A simulator restart: stamps and the clock go back together; the controller carries on
    from the new timeline instead of holding forever on 'did not advance'."""
    controller, _ = driving()
    for t in (30.0, 30.1, 30.2):
        controller.step(state(t), t)
    out = controller.step(state(0.3), 0.3)
    assert out.status.state is GoalState.ACTIVE and controller.counts["time_resets"] == 1


def test_out_of_domain_fallbacks():
    features = torch.zeros(4)
    for fallback, predictor, moving in (
        ("kinematic", "kinematic", True),
        ("stop", None, False),
        ("none", "kinematic", True),
    ):
        controller, last = driving(replace(CONFIG, fallback=fallback))
        controller.set_domain(False, "learned model worse than the kinematic baseline")
        out = controller.step(state(last + PERIOD_S, features=features), last + PERIOD_S)
        assert bool(out.command_2.any()) == moving, (fallback, out.status.text)
        assert "out of domain" in out.status.reason
        if predictor:
            assert out.status.predictor == predictor
        controller.set_domain(True)
        out = controller.step(state(last + 2 * PERIOD_S), last + 2 * PERIOD_S)
        assert out.status.state is GoalState.ACTIVE and "out of domain" not in out.status.reason


def test_parameter_changes_apply_at_the_next_cycle():
    controller, last = driving()
    controller.reconfigure(
        replace(CONFIG, mppi=replace(CONFIG.mppi, num_samples=16, v_max=0.1, w_max=0.2))
    )
    assert controller.planner.config.num_samples == 16
    for k in range(1, 15):
        out = controller.step(state(last + k * PERIOD_S), last + k * PERIOD_S)
        assert out.command_2[0] <= 0.1 + 1e-6 and abs(out.command_2[1]) <= 0.2 + 1e-6
    with pytest.raises(ConfigError, match="horizon"):
        controller.reconfigure(replace(CONFIG, mppi=replace(CONFIG.mppi, horizon=10)))


def test_local_observations_are_encoded_by_the_controller():
    controller = GoalController(KinematicPredictor(), CONFIG)
    controller.set_goal(np.array([2.0, 0.0, 0.0]), 0.0)
    observation = Observation(0.0, None, np.zeros(3, np.float32), np.zeros(2, np.float32))
    assert controller.step(observation, 0.0).status.state is GoalState.ACTIVE


@settings(max_examples=40, deadline=None)
@given(
    v=st.floats(allow_nan=True, allow_infinity=True),
    w=st.floats(allow_nan=True, allow_infinity=True),
    age=st.floats(0.0, 2.0),
)
def test_the_gate_never_lets_an_unsafe_command_through(v, w, age):
    gate = SafetyGate(VelocityLimits(-0.1, 0.5, 1.5), stale_timeout_s=0.5)
    gate.plan_made(0.0)
    sent, why = gate.filter(np.array([v, w]), age)
    assert np.isfinite(sent).all()
    assert -0.1 - 1e-6 <= sent[0] <= 0.5 + 1e-6 and abs(sent[1]) <= 1.5 + 1e-6
    if age > 0.5:
        assert not sent.any() and "no valid plan" in why


def test_a_plan_is_as_fresh_as_the_input_it_was_made_from():
    """bench/failsafe.py measured zero 0.67 s after the last usable input (bound 0.6 s): the
    plan's age was counted from when it was made, up to a period after the input arrived. Now
    from the input's stamp: an input 0.08 s old when planned from still stops the robot within
    stale_timeout_s + one period of its stamp."""
    controller = GoalController(KinematicPredictor(), CONFIG)
    controller.set_goal(np.array([2.0, 0.0, 0.0]), 0.0)
    controller.step(state(0.0), 0.08)
    out = controller.step(state(0.1), 0.18)  # the last usable input, stamped 0.1, 0.08 s old
    assert out.command_2[0] > 0.0
    stopped_s, _ = zero_after(controller, 0.18, lambda t: None)
    assert stopped_s - 0.1 <= deadline()


def test_a_stamp_off_the_timeline_is_counted_as_an_outlier_not_a_duplicate():
    """A lone input more than the threshold behind the newest (here the newest ran 0.9 s ahead
    of the clock) is an outlier: counted and named as such when it holds the robot, and the
    timeline is kept (the next input in order is used, no reset)."""
    controller = GoalController(KinematicPredictor(), CONFIG)
    controller.set_goal(np.array([2.0, 0.0, 0.0]), 0.0)
    controller.step(state(10.9), 10.0)
    t = 10.0
    while True:
        t += PERIOD_S
        out = controller.step(state(9.8), t)
        if not out.command_2.any():
            break
    assert controller.counts["stamp_outliers"] >= 1 and controller.counts["duplicates"] == 0
    assert "off the current timeline" in out.status.reason
    out = controller.step(state(11.0), t + PERIOD_S)
    assert out.status.state is GoalState.ACTIVE and controller.counts["time_resets"] == 0
