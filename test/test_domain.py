"""The twin knows when it is not a twin: the domain check (core/live/domain.py) on hand-made
prediction and odometry streams, without DDS.

A stream is a robot driving at 0.5 m/s whose true yaw rate is its command plus a bias (a
veering robot: one wheel a little smaller, or a wrong odometry frame), a learned model that
believes in some bias of its own (the bias of the robot it was trained on), and the kinematic
baseline, which believes the commands. Every 0.2 s of stamp time a prediction is kept (the
node's default), odometry arrives at 50 Hz, the tracker scores and the check judges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from veering_robot import VEER_RADPS, ScriptedRobot, write_veering_checkpoint

from world_model_ros.core.config import ConfigError
from world_model_ros.core.live.domain import (
    CommandLog,
    DomainCheck,
    DomainCheckConfig,
    DomainVerdict,
    kinematic_baseline_h3,
)
from world_model_ros.core.live.live_error import LiveErrorTracker
from world_model_ros.core.live.sync import OdomBuffer, OdomSample
from world_model_ros.core.model.contract import LatentState
from world_model_ros.core.model.kinematic import KinematicConfig, KinematicPredictor

DT_S, HORIZON, ODOM_DT_S, SAMPLE_PERIOD_S = 0.1, 20, 0.02, 0.2


@dataclass
class Stream:
    """A robot, a learned model's predictions of it, the tracker and the check."""

    check: DomainCheck = field(default_factory=DomainCheck)
    tracker: LiveErrorTracker = field(
        # Predictions come exactly every 0.2 s here; a hair less keeps float stamps from
        # skipping one.
        default_factory=lambda: LiveErrorTracker(
            window=100, sample_period_s=SAMPLE_PERIOD_S - 1e-6, keep_completed=True
        )
    )
    commands: CommandLog = field(default_factory=CommandLog)  # what the robot was told
    hindsight: bool = False  # judge under the commands sent (else under the assumed actions)
    odom: OdomBuffer = field(default_factory=lambda: OdomBuffer(history_s=5.0))
    pose: np.ndarray = field(default_factory=lambda: np.zeros(3))
    t_s: float = 100.0
    verdicts: list[tuple[float, DomainVerdict]] = field(default_factory=list)

    def run(
        self,
        seconds: float,
        *,
        v: float = 0.5,
        w_cmd: float = 0.0,
        robot_bias: float = 0.0,  # the robot turns this much (rad/s) more than commanded
        model_bias: float = 0.0,  # what the learned model believes that bias is
        sigma_2s_m: float = 0.15,  # the learned model's position std dev after 2 s
        w_assumed: float | None = None,  # the yaw rate predictions assume (a plan); w_cmd if None
    ) -> DomainVerdict:
        steps = round(seconds / ODOM_DT_S)
        w_assumed = w_cmd if w_assumed is None else w_assumed
        for _ in range(steps):
            self.commands.add(self.t_s, (v, w_cmd))
            if self._due():
                self._predict(v, w_assumed, model_bias, sigma_2s_m)
            self.pose = kinematic_baseline_h3(
                self.pose, np.array([[v, w_cmd + robot_bias]]), ODOM_DT_S
            )[0]
            self.t_s = round(self.t_s + ODOM_DT_S, 6)
            self.odom.add(OdomSample(self.t_s, self.pose.copy(), np.array([v, w_cmd]), "odom"))
            self.tracker.score(self.odom, 0.05)
            for prediction in self.tracker.take_completed():
                self.check.add(*self._hindsight(prediction))
            self.verdicts.append((self.t_s, self.check.verdict()))
        return self.verdicts[-1][1]

    def _hindsight(self, prediction) -> tuple:
        """The learned model (the baseline plus its believed veer) under the commands sent."""
        if not self.hindsight:
            return (prediction,)
        sent_h2 = self.commands.executed(prediction.stamp_s, DT_S, HORIZON, 0.5)
        model_bias, variance_h = prediction.context
        poses_h3 = kinematic_baseline_h3(prediction.start_pose_3, sent_h2 + [0, model_bias], DT_S)
        return prediction, sent_h2, poses_h3, variance_h

    def _due(self) -> bool:
        return round(self.t_s / SAMPLE_PERIOD_S, 6) % 1 == 0

    def _predict(self, v: float, w_cmd: float, model_bias: float, sigma_2s_m: float) -> None:
        actions_h2 = np.tile([v, w_cmd], (HORIZON, 1))
        believed_h2 = np.tile([v, w_cmd + model_bias], (HORIZON, 1))
        poses_h3 = kinematic_baseline_h3(self.pose, believed_h2, DT_S)
        variance_h = sigma_2s_m**2 * np.arange(1, HORIZON + 1) / HORIZON
        kept = self.tracker.add_prediction(
            self.t_s,
            DT_S,
            "odom",
            poses_h3,
            np.zeros(HORIZON),
            start_pose_3=self.pose.copy(),
            actions_h2=actions_h2,
            position_var_h=variance_h,
            context=(model_bias, variance_h),
        )
        assert kept

    def first_change_after(self, t_s: float) -> float:
        """Seconds from ``t_s`` to the first verdict (after it) that differs from the one at it."""
        before = next(v.in_domain for s, v in reversed(self.verdicts) if s <= t_s)
        return next(s for s, v in self.verdicts if s > t_s and v.in_domain != before) - t_s


def test_kinematic_baseline_is_the_kinematic_model():
    """The tracker's NumPy baseline is the kinematic predictor's rollout (same exact arcs)."""
    rng = np.random.default_rng(0)
    pose = np.array([0.3, -1.2, 2.9])
    actions_h2 = np.stack([rng.uniform(-0.2, 0.5, 20), rng.uniform(-2, 2, 20)], axis=-1)
    actions_h2[3] = [0.4, 0.0]  # a straight step: sinc's limit
    model = KinematicPredictor(KinematicConfig(dt_s=DT_S, horizon=20))
    latent = LatentState(torch.tensor(pose, dtype=torch.float32), torch.zeros(2))
    expected = model.rollout(latent, torch.tensor(actions_h2[None], dtype=torch.float32))
    ours = kinematic_baseline_h3(pose, actions_h2, DT_S)
    assert np.allclose(ours, expected.poses_bh3[0].numpy(), atol=1e-5)


def test_in_domain_when_the_model_knows_the_robot():
    """The robot veers 0.3 rad/s left; the learned model knows it, the baseline does not."""
    stream = Stream()
    verdict = stream.run(12.0, robot_bias=0.3, model_bias=0.3)
    assert verdict.in_domain and verdict.judged and verdict.samples == 25
    assert verdict.learned_error_m < 0.01 < 0.1 < verdict.baseline_error_m
    assert verdict.coverage_95 == pytest.approx(1.0)
    assert verdict.reason.startswith("in domain: the learned model's mean error at 2 s is 0.00 m")
    assert stream.check.changes == 0


def test_worse_than_the_baseline_is_out_of_domain_with_a_plain_sentence():
    """A model trained on a veering robot, on a robot that goes where it is told (zero-shot)."""
    stream = Stream()
    verdict = stream.run(12.0, robot_bias=0.0, model_bias=0.3, sigma_2s_m=1.0)
    assert not verdict.in_domain and verdict.judged
    assert verdict.baseline_error_m < 0.01 and verdict.learned_error_m > 0.2
    assert verdict.coverage_95 == pytest.approx(1.0)  # wide intervals: only the error says so
    expected = (
        f"the learned model predicts worse than the kinematic baseline on this robot: "
        f"{verdict.learned_error_m:.2f} m vs 0.00 m mean error at 2 s over the last 25 "
        f"predictions"
    )
    assert verdict.reason == expected


def test_an_interval_that_holds_too_few_later_poses_is_out_of_domain():
    """Learned and baseline equally wrong (both believe the commands; the robot veers): never
    'worse', but the learned model was sure (2 cm after 2 s) of poses that did not happen."""
    stream = Stream()
    verdict = stream.run(12.0, robot_bias=0.4, model_bias=0.0, sigma_2s_m=0.02)
    assert not verdict.in_domain
    assert verdict.learned_error_m == pytest.approx(verdict.baseline_error_m, abs=1e-6)
    assert verdict.coverage_95 < 0.5
    assert verdict.reason.startswith("the learned model's 95% interval held only")
    assert "worse than the kinematic baseline" not in verdict.reason
    # The same robot with honest (wide) intervals is in domain: equal is not worse.
    honest = Stream().run(12.0, robot_bias=0.4, model_bias=0.0, sigma_2s_m=0.5)
    assert honest.in_domain and honest.coverage_95 > 0.9


def test_switches_out_within_seconds_and_recovers_with_hysteresis():
    """In domain, then the robot changes (the model's veer no longer holds), then a partial
    recovery (learned error 0.9x the baseline's: not clearly better, stays out), then full."""
    stream = Stream()
    assert stream.run(10.0, robot_bias=0.3, model_bias=0.3).in_domain
    changed_at = stream.t_s
    out = stream.run(10.0, robot_bias=-0.3, model_bias=0.3)
    assert not out.in_domain and "worse than the kinematic baseline" in out.reason
    took_s = stream.first_change_after(changed_at)
    # Default settings: a prediction made at the change is scored 2 s later; the window's mean
    # tips once a fifth of it is new. Simulated time, so this is the logic, not the machine.
    assert 2.0 < took_s < 4.0, took_s
    # Learned error 0.9x the baseline's: no longer worse, not yet clearly better.
    middle = stream.run(10.0, robot_bias=0.5, model_bias=0.05)
    assert 0.8 < middle.learned_error_m / middle.baseline_error_m < 1.0
    assert not middle.in_domain and middle.reason.startswith("still out of domain until")
    recovered_at = stream.t_s
    back = stream.run(10.0, robot_bias=0.3, model_bias=0.3)
    assert back.in_domain
    switched = [v for s, v in stream.verdicts if s > recovered_at and v.in_domain][0]
    assert switched.reason.startswith("back in domain: the learned model's mean error at 2 s")
    assert stream.first_change_after(recovered_at) < 10.0
    assert stream.check.changes == 2


def test_judged_on_the_commands_sent_not_on_plans_that_were_corrected():
    """The robot veers 0.3 rad/s left and the learned model knows it; a planner that does not
    know it assumes straight-ahead plans while the commands it actually sends fight the veer
    (w = -0.3), so the robot goes straight. Under the plans, the learned model (plan + veer: a
    left turn) loses to the baseline (the plan: straight); under the commands sent, it is right
    and the baseline (a right turn) is wrong. The node judges in hindsight; without a command
    at every step it falls back to the assumed actions."""
    kwargs = dict(w_cmd=-0.3, w_assumed=0.0, robot_bias=0.3, model_bias=0.3)
    under_plans = Stream().run(12.0, **kwargs)
    assert not under_plans.in_domain
    hindsight = Stream(hindsight=True).run(12.0, **kwargs)
    assert hindsight.in_domain and hindsight.learned_error_m < 0.01
    assert hindsight.baseline_error_m == pytest.approx(under_plans.learned_error_m, rel=0.02)


def test_command_log_says_which_command_was_in_force():
    log = CommandLog()
    for t_s, w in ((10.0, 0.1), (10.25, 0.2), (10.45, 0.3)):
        log.add(t_s, (0.5, w))
    sent = log.executed(10.0, 0.1, 5, timeout_s=0.5)
    assert sent[:, 1].tolist() == [0.1, 0.1, 0.1, 0.2, 0.2]
    assert log.executed(10.0, 0.1, 10, timeout_s=0.5) is not None  # 10.9: 0.45 s after the last
    assert log.executed(10.0, 0.1, 11, timeout_s=0.5) is None  # 11.0: stale
    assert log.executed(9.9, 0.1, 3, timeout_s=0.5) is None  # nothing before 10.0
    log.add(3.0, (0.1, 0.0))  # time went back: the old timeline is forgotten
    assert log.executed(10.0, 0.1, 1, timeout_s=0.5) is None


def test_too_few_samples_and_standing_still_keep_the_verdict():
    stream = Stream(check=DomainCheck(DomainCheckConfig(window=25, min_samples=10)))
    # 2 s horizon + 1 s: five predictions scored, fewer than min_samples, model awful.
    early = stream.run(3.0, robot_bias=0.0, model_bias=1.0)
    assert early.in_domain and not early.judged and 0 < early.samples < 10
    assert early.reason.startswith("not judged yet: ")
    assert not stream.run(5.0, robot_bias=0.0, model_bias=1.0).in_domain
    # Standing still for a minute tells nothing: the verdict stands, the window is unchanged.
    samples = stream.check.verdict().samples
    still = stream.run(60.0, v=0.0, robot_bias=0.0, model_bias=0.0)
    assert not still.in_domain and still.samples == samples
    assert stream.check.ignored >= 250
    # A stricter min_samples at run time: too few for a verdict, the old one is held.
    stream.check.reconfigure(DomainCheckConfig(window=40, min_samples=30))
    held = stream.check.verdict()
    assert not held.in_domain and not held.judged and held.samples == 25
    assert held.reason.endswith("(held: 25 of the 30 predictions needed to judge again)")
    # New weights (reload): evidence and verdict were the old model's; judged afresh.
    stream.check.reset()
    fresh = stream.check.verdict()
    assert fresh.in_domain and not fresh.judged and fresh.reason.startswith("not judged yet: 0")
    assert not stream.run(8.0, robot_bias=0.0, model_bias=1.0).in_domain


def test_small_errors_are_never_worse():
    """Both within odometry jitter of the truth: a 3x ratio of millimetres is not a verdict."""
    verdict = Stream().run(12.0, robot_bias=0.01, model_bias=-0.02, sigma_2s_m=0.05)
    assert verdict.learned_error_m > 2.5 * verdict.baseline_error_m
    assert verdict.learned_error_m < 0.05 and verdict.in_domain


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"recover_ratio": 1.5}, ("'recover_ratio' (1.5)", "'worse_ratio' (1)")),
        ({"recover_coverage": 0.3}, ("'recover_coverage' (0.3)", "'min_coverage' (0.5)")),
        ({"min_samples": 50}, ("'min_samples' (50)", "'window' (25)")),
        ({"window": 0}, ("'window' must be >= 1",)),
    ],
)
def test_settings_that_contradict_each_other_are_refused_by_name(changes, words):
    with pytest.raises(ConfigError) as error:
        DomainCheckConfig(**changes)
    assert all(w in str(error.value) for w in words), str(error.value)


def test_the_node_settings_carry_the_domain_group():
    from world_model_ros.core.config import from_mapping, settings_of
    from world_model_ros.nodes.world_model_config import WorldModelNodeConfig

    names = {info.name for info in settings_of(WorldModelNodeConfig)}
    assert {"domain.window", "domain.worse_ratio", "domain.min_coverage"} <= names
    config = from_mapping(WorldModelNodeConfig, {"domain": {"window": 40, "min_samples": 20}})
    assert config.domain.window == 40 and math.isclose(config.domain.horizon_s, 2.0)


# --- over DDS: world_model_node judges, mpc_planner_node falls back ------------------------------


# --- over DDS: world_model_node judges, mpc_planner_node falls back ------------------------------


def test_veering_checkpoint_predicts_the_baseline_plus_its_veer(tmp_path):
    from world_model_ros.core.model.checkpoint import load_latent_model
    from world_model_ros.core.model.contract import Observation

    predictor = load_latent_model(
        write_veering_checkpoint(tmp_path / "veer", VEER_RADPS), torch.device("cpu")
    )
    pose = np.array([1.0, 2.0, 0.5])
    observation = Observation(0.0, np.full((16, 16, 3), 90, np.uint8), pose, np.array([0.3, 0.1]))
    actions_h2 = np.tile([0.4, -0.3], (HORIZON, 1))
    rollout = predictor.rollout(
        predictor.encode(observation), torch.tensor(actions_h2[None], dtype=torch.float32)
    )
    veered = kinematic_baseline_h3(pose, actions_h2 + [0.0, VEER_RADPS], DT_S)
    # The model turns each step's chord by the commanded half-turn only: < 3 cm over 2 s.
    assert np.allclose(rollout.poses_bh3[0].numpy(), veered, atol=0.03)
    assert float(rollout.position_var_bh[0, -1]) == pytest.approx(0.01, rel=1e-3)


@pytest.mark.ros
@pytest.mark.slow
def test_out_of_domain_over_dds_planner_falls_back_and_recovers(ros, start_node, tmp_path):
    """world_model_node (default domain settings) and mpc_planner_node (state_source twin,
    fallback kinematic) with a learned model of a robot that veers 0.5 rad/s left. The scripted
    robot veers so (in domain), then as much right (its motion contradicts the model: worse
    than the kinematic baseline), then left again (the model recovers)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from geometry_msgs.msg import PoseStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from world_model_ros.msg import DomainStatus, PlannerStatus

    checkpoint = write_veering_checkpoint(tmp_path / "veer", VEER_RADPS)
    model_id = "latent:veer"
    start_node(
        "world_model_node",
        *("--ros-args", "--params-file", "config/world_model.yaml"),
        *("-p", f"checkpoint:={checkpoint}", "-p", "warmup_iterations:=1"),
    )
    planner = start_node(
        "mpc_planner_node",
        *("--ros-args", "--params-file", "config/mpc_planner.yaml"),
        *("-p", f"checkpoint:={checkpoint}", "-p", "state_source:=twin"),
        *("-p", "num_samples:=128", "-p", "seed:=1"),
    )
    latched = QoSProfile(
        depth=50,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    domain = ros.subscribe(DomainStatus, "world_model/domain", latched)
    status = ros.subscribe(PlannerStatus, "mpc_planner/status", latched)
    diagnostics = ros.subscribe(DiagnosticArray, "diagnostics")
    robot = ScriptedRobot(ros.node, drift_radps=VEER_RADPS)
    ros.wait_for_subscriber("goal_pose", 60)
    ros.wait_for(lambda: bool(domain) and bool(status), 60, "the first verdict and status")
    assert domain[0].in_domain and domain[0].reason.startswith("not judged yet")

    goal = PoseStamped()
    goal.header.stamp, goal.header.frame_id = ros.now_msg(), "odom"
    goal.pose.position.x, goal.pose.orientation.w = 50.0, 1.0
    ros.node.create_publisher(PoseStamped, "goal_pose", 10).publish(goal)

    def driving_with(predictor: str) -> bool:
        return bool(status) and status[-1].state == "active" and status[-1].predictor == predictor

    def judged(in_domain: bool) -> bool:
        return bool(domain) and domain[-1].in_domain == in_domain and domain[-1].samples >= 10

    try:
        ros.wait_for(lambda: judged(True) and driving_with(model_id), 60, "judged in domain")
    except AssertionError:
        raise AssertionError(
            "not judged in domain; verdicts:\n" + "\n".join(m.reason for m in domain[-12:])
        ) from None
    assert domain[-1].reason.startswith("in domain: ")
    assert domain[-1].learned_error_m < domain[-1].baseline_error_m
    assert robot.pose[0] > 0.5  # it drove

    robot.drift_radps = (
        -VEER_RADPS
    )  # the robot now turns right of its commands: not what it learned
    changed_s = robot.now_s()
    ros.wait_for(lambda: not domain[-1].in_domain, 30, "in_domain false")
    took_s = stamp_s(domain[-1].header.stamp) - changed_s
    out = domain[-1]
    assert out.reason.startswith(
        "the learned model predicts worse than the kinematic baseline on this robot: "
    ), out.reason
    assert out.learned_error_m > out.baseline_error_m and out.model_id == model_id
    assert took_s <= 10.0, f"out of domain {took_s:.1f} s after the change"
    ros.wait_for(lambda: driving_with("kinematic"), 10, "the planner on its kinematic fallback")
    assert "out of domain" in status[-1].reason and "fallback: kinematic" in status[-1].reason

    def domain_diagnostics():
        for array in reversed(diagnostics):
            for s in array.status:
                if s.name == "world_model_node: domain":
                    return s
        return None

    ros.wait_for(
        lambda: (d := domain_diagnostics()) is not None and d.level == DiagnosticStatus.ERROR,
        5,
        "diagnostics ERROR",
    )
    assert "worse than the kinematic baseline" in domain_diagnostics().message

    robot.drift_radps = VEER_RADPS  # back to the robot the model knows
    try:
        ros.wait_for(lambda: judged(True), 40, "in_domain true again")
    except AssertionError:
        raise AssertionError(
            "no recovery; verdicts:\n" + "\n".join(m.reason for m in domain[-12:])
        ) from None
    assert domain[-1].reason.startswith("back in domain: ") or domain[-1].reason.startswith(
        "in domain: "
    )
    ros.wait_for(lambda: driving_with(model_id), 10, "the planner on the learned model again")
    assert planner.alive()


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9
