"""Real-time operation of world_model_node over DDS: lifecycle, run-time parameters, reload, live
error against a scripted trajectory with a known error, the shadow model, and faults.

The module's node runs on simulated time (this test owns /clock) with a kinematic primary and a
small latent shadow model from a checkpoint written here, so every stamp, age and expected
error is exact. Lifecycle and device tests start nodes of their own.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
import rclpy
import torch
from conftest import NodeProcess, wait_until
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import RosTestNode, call, set_parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from test_world_model_node import CONFIG, ODOM_FRAME, Rig, image_msg, odom_msg, stamp_s

from world_model_ros.core.model.checkpoint import save_checkpoint
from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
from world_model_ros.msg import LiveError, WorldModelPrediction

pytestmark = pytest.mark.ros

HORIZON = 5
SHADOW_HORIZON = 8  # the shadow checkpoint's trained horizon: the run-time limit for `horizon`
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def write_checkpoint(folder: Path, seed: int, contact_var_gain: float = 0.0) -> Path:
    """A tiny latent checkpoint (random weights: the tests need its plumbing, not its skill)."""
    torch.manual_seed(seed)
    config = LatentModelConfig(
        image_size=16,
        encoder_channels=(4, 8),
        image_features=8,
        latent_dim=8,
        hidden_dim=16,
        dynamics_layers=1,
        horizon=SHADOW_HORIZON,
        contact_var_gain=contact_var_gain,
    )
    return save_checkpoint(folder, LatentDynamicsModel(config))


@pytest.fixture(scope="module")
def ros_module():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = RosTestNode(context, "realtime_test")
    yield node
    node.destroy()
    rclpy.shutdown(context=context)


@pytest.fixture(scope="module")
def shadow_checkpoint(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "shadow_a", seed=1)


@pytest.fixture(scope="module")
def rig(ros_module, tmp_path_factory, shadow_checkpoint):
    params = [
        "model:=kinematic",
        "use_sim_time:=true",
        "diagnostics_period_s:=0.1",
        "warn_throttle_s:=0.0",
        "cmd_timeout_s:=5.0",
        f"horizon:={HORIZON}",
        "shadow_model:=latent",
        f"shadow_checkpoint:={shadow_checkpoint}",
        "live_error_window:=1",
        "live_error_sample_period_s:=0.0",
        "warmup_iterations:=1",
    ]
    args = ["--ros-args", "--params-file", str(CONFIG), *[t for p in params for t in ("-p", p)]]
    node = NodeProcess("world_model_node", args, tmp_path_factory.mktemp("realtime") / "node.log")
    rig = Rig(ros_module, node)
    rig.live = ros_module.subscribe(LiveError, "/world_model/live_error", 50)
    rig.shadow_live = ros_module.subscribe(LiveError, "/world_model/shadow/live_error", 50)
    rig.shadow_predictions = ros_module.subscribe(
        WorldModelPrediction, "/world_model/shadow/prediction", 50
    )
    rig.contact = ros_module.publisher(Bool, "/ground_truth/contact", RELIABLE)
    rig.wait_ready(("camera/image_raw", "odom", "cmd_vel", "ground_truth/contact", "/clock"))
    yield rig
    assert node.stop() == 0, node.output()[-3000:]


# --- run-time parameters ---------------------------------------------------------------------


def test_parameters_valid_and_rejected_at_run_time(rig: Rig):
    ros = rig.ros
    result = set_parameter(ros, "world_model_node", "budget_ms", 150.0)
    assert result.successful, result.reason
    rig.wait(lambda: rig.diag().get("budget_ms") == "150", "the new budget on diagnostics")

    assert set_parameter(ros, "world_model_node", "horizon", 3).successful
    assert len(rig.cycle(command=(0.5, 0.0)).states) == 3

    too_long = set_parameter(ros, "world_model_node", "horizon", SHADOW_HORIZON + 1)
    assert not too_long.successful and "trained horizon" in too_long.reason
    for name, value, why in (
        ("model", "latent", "restart"),
        ("device", "cpu", "restart"),
        ("use_compressed", True, "restart"),
        ("budget_ms", 0.5, ""),
    ):
        result = set_parameter(ros, "world_model_node", name, value)
        assert not result.successful and why in result.reason, (name, result.reason)
    assert set_parameter(ros, "world_model_node", "horizon", HORIZON).successful
    assert len(rig.cycle(command=(0.5, 0.0)).states) == HORIZON
    assert set_parameter(ros, "world_model_node", "budget_ms", 200.0).successful
    # The diagnostics rate: 0.5 s between messages, then back to 0.1 s.
    assert set_parameter(ros, "world_model_node", "diagnostics_period_s", 0.5).successful
    arrivals = {"count": len(rig.diagnostics), "last": time.monotonic(), "long_gaps": 0}

    def two_long_gaps() -> (
        bool
    ):  # messages queued before the change arrive in a burst; then 0.5 s gaps
        if len(rig.diagnostics) > arrivals["count"]:
            now = time.monotonic()
            arrivals["long_gaps"] += int(now - arrivals["last"] >= 0.35)
            arrivals["count"], arrivals["last"] = len(rig.diagnostics), now
        return arrivals["long_gaps"] >= 2

    rig.wait(two_long_gaps, "diagnostics 0.5 s apart")
    assert "diagnostics_period_s=0.5" in rig.node.output()
    assert set_parameter(ros, "world_model_node", "diagnostics_period_s", 0.1).successful


# --- live error and the shadow model -----------------------------------------------------------


def test_live_error_against_a_scripted_trajectory(rig: Rig):
    """The kinematic model predicts a straight line at 1 m/s; odometry later shows the robot
    drifting left 0.05 m and turning 0.02 rad more per step: the true error at step k is 0.05 (k +
    1) m and
    0.02 (k + 1) rad. A contact is reported during steps 4 and 5 (the model predicted none):
    2 of 5 predicted states contradicted."""
    t = rig.next_time()
    rig.feed(t, command=(1.0, 0.0))
    rig.camera.publish(image_msg(t))
    prediction = rig.prediction_at(t)
    assert [s.pose.position.x for s in prediction.states] == pytest.approx(
        [0.1 * (k + 1) for k in range(HORIZON)], abs=1e-5
    )
    contacts = rig.count("contact_received")
    for clock_s, in_contact in ((t + 0.35, True), (t + 0.6, False)):
        rig.set_clock(clock_s)
        rig.contact.publish(Bool(data=in_contact))
        contacts += 1
        rig.wait_count("contact_received", contacts)
    before = rig.count("odom_received")
    for k in range(HORIZON):
        for offset in (-0.005, 0.005):
            rig.odom.publish(
                odom_msg(
                    t + 0.1 * (k + 1) + offset,
                    x=0.1 * (k + 1),
                    y=0.05 * (k + 1),
                    yaw=0.02 * (k + 1),
                    v=1.0,
                )
            )
    rig.wait_count("odom_received", before + 2 * HORIZON)

    def scored(bucket):
        return next(
            (
                m
                for m in reversed(bucket)
                if list(m.samples) == [1] * HORIZON and stamp_s(m.header.stamp) >= t + 0.6 - 1e-9
            ),
            None,
        )

    rig.wait(
        lambda: scored(rig.live) is not None and scored(rig.shadow_live) is not None,
        "scored live errors",
    )
    live = scored(rig.live)
    assert (
        live.model_id == "kinematic"
        and live.dt == pytest.approx(0.1)
        and live.header.frame_id == ODOM_FRAME
    )
    assert list(live.position_error_m) == pytest.approx(
        [0.05 * (k + 1) for k in range(HORIZON)], abs=1e-4
    )
    assert list(live.heading_error_rad) == pytest.approx(
        [0.02 * (k + 1) for k in range(HORIZON)], abs=1e-4
    )
    assert live.contradicted_share == pytest.approx(0.4) and live.contact_samples == HORIZON
    shadow = scored(rig.shadow_live)
    assert shadow.model_id == "latent:shadow_a" and all(
        math.isfinite(e) for e in shadow.position_error_m
    )
    assert (
        rig.diag()["backend"] == "torch"
    )  # the kinematic primary; the latent shadow runs on onnxruntime
    assert "latent:shadow_a on cpu (onnxruntime)" in rig.node.output()
    assert rig.diag()  # and the diagnostics carry the live error too
    live_status = rig.diagnostics[-1].status[1]
    assert live_status.name == "world_model_node: live error"
    values = {kv.key: kv.value for kv in live_status.values}
    assert float(values[f"primary.position_error_m.step{HORIZON}"]) == pytest.approx(
        0.05 * HORIZON, abs=1e-3
    )


def test_shadow_model_runs_on_the_same_inputs_and_drives_nothing(rig: Rig):
    prediction = rig.cycle(command=(0.3, 0.1))
    shadow = rig.output_at(rig.shadow_predictions, rig.t_s, "the shadow prediction")
    assert prediction.model_id == "kinematic" and shadow.model_id == "latent:shadow_a"
    assert (
        len(shadow.states) == HORIZON
        and shadow.action_source == prediction.action_source == "cmd_vel"
    )
    assert [a.linear.x for a in shadow.actions] == pytest.approx([0.3] * HORIZON)
    assert all(
        p.model_id == "kinematic" for p in rig.predictions
    )  # the primary topic never carries it


# --- reload --------------------------------------------------------------------------------------


def test_checkpoint_reload_swaps_and_a_bad_one_keeps_the_old_model(
    rig: Rig, shadow_checkpoint: Path
):
    ros = rig.ros
    first = call(ros, Trigger, "/world_model_node/reload_model", Trigger.Request(), "reload")
    assert (
        first.success
        and "primary kinematic" in first.message
        and "latent:shadow_a sha256" in first.message
    )
    write_checkpoint(shadow_checkpoint, seed=2)  # a new checkpoint at the same path
    second = call(ros, Trigger, "/world_model_node/reload_model", Trigger.Request(), "reload")
    assert second.success and second.message != first.message, (first.message, second.message)

    (shadow_checkpoint / "model.safetensors").write_bytes(b"not a safetensors file")
    failed = call(ros, Trigger, "/world_model_node/reload_model", Trigger.Request(), "reload")
    assert not failed.success and "reload failed, still running" in failed.message
    assert str(shadow_checkpoint / "model.safetensors") in failed.message
    rig.cycle(command=(0.2, 0.0))  # still serving, shadow included
    rig.output_at(rig.shadow_predictions, rig.t_s, "the shadow prediction after the failed reload")
    assert rig.count("reload_failures") >= 1 and rig.count("reloads") >= 2
    write_checkpoint(shadow_checkpoint, seed=1)  # leave it loadable for later tests


# --- faults --------------------------------------------------------------------------------------


def test_camera_publisher_vanishes_and_returns(rig: Rig):
    rig.cycle(command=(0.2, 0.0))
    topic = rig.prefix + "camera/image_raw"
    ros = rig.ros
    ros.node.destroy_publisher(ros._publishers.pop(topic))
    rig.wait(
        lambda: (
            "no camera frame" in rig.diagnostics[-1].status[0].message
            or float(rig.diag().get("camera_silent_s", "0")) > 1.0
        ),
        "the node to report the silent camera",
    )
    rig.camera = ros.publisher(Image, topic, RELIABLE)
    rig.wait(
        lambda: rig.camera.get_subscription_count() > 0,
        "the node to match the new camera publisher",
    )
    prediction = rig.cycle(command=(0.2, 0.0))
    assert prediction.action_source == "cmd_vel"


def test_odometry_reset_clears_history_and_keeps_serving(rig: Rig):
    resets = rig.count("odom_resets")
    t = rig.next_time()
    rig.odom.publish(odom_msg(t - 0.1, x=5.0))
    rig.wait_count("odom_received", rig.count("odom_received") + 1)
    rig.feed(
        t, pose=(0.0, 0.0, 0.0), command=(0.5, 0.0)
    )  # 5 m back in 0.08 s: the odometry was reset
    rig.wait_count("odom_resets", resets + 1)
    rig.wait_warning("odometry reset on '/odom': pose jumped")
    rig.camera.publish(image_msg(t))
    prediction = rig.prediction_at(t)
    assert prediction.states[0].pose.position.x == pytest.approx(
        0.05, abs=1e-4
    )  # not blended with x = 5

    t = rig.next_time()  # a new odometry frame
    for dt in (-0.02, 0.02):
        rig.odom.publish(odom_msg(t + dt, x=1.0, frame_id="odom_new"))
    rig.wait_count("odom_resets", resets + 2)
    rig.camera.publish(image_msg(t))
    assert rig.prediction_at(t).header.frame_id == "odom_new"
    rig.wait_warning("odometry frame changed from")
    t = rig.next_time()
    for dt in (-0.02, 0.02):  # back to the module's frame for whatever runs next
        rig.odom.publish(odom_msg(t + dt))
    rig.wait_count("odom_resets", resets + 3)


# --- nodes of their own
# ----------------------------------------------------------------------------


def test_lifecycle_transitions_over_dds(ros_module, tmp_path):
    node = NodeProcess(
        "world_model_lifecycle_node",
        [
            "--ros-args",
            "--params-file",
            str(CONFIG),
            "-p",
            "diagnostics_period_s:=0.1",
            "-p",
            "warmup_iterations:=1",
            # wall-clock stamps: a slow machine must not age them out
            "-p",
            "max_input_age_s:=30.0",
            "-r",
            "__ns:=/lc",
        ],
        tmp_path / "lifecycle.log",
    )
    ros = ros_module
    try:

        def state() -> int:
            return call(
                ros, GetState, "/lc/world_model_node/get_state", GetState.Request(), "get_state"
            ).current_state.id

        def change(transition: int) -> None:
            response = call(
                ros,
                ChangeState,
                "/lc/world_model_node/change_state",
                ChangeState.Request(transition=Transition(id=transition)),
                f"transition {transition}",
            )
            assert response.success, node.output()[-3000:]

        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        assert ros.node.count_publishers("/lc/world_model/prediction") == 0  # nothing created yet
        # Run-time parameter checks apply once configured; before that anything is accepted.
        assert set_parameter(ros, "lc/world_model_node", "horizon", 6).successful

        change(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        rig = Rig(ros, node, sim_time=False, ns="lc")
        rig.wait(lambda: rig.diag().get("state") == "inactive", "inactive diagnostics")
        assert not set_parameter(ros, "lc/world_model_node", "model", "latent").successful

        change(Transition.TRANSITION_ACTIVATE)
        assert state() == State.PRIMARY_STATE_ACTIVE
        # Our (reliable) camera publisher matched to the node's reader, not just the reader
        # discovered: only then is a frame published now delivered.
        rig.wait(
            lambda: rig.camera.get_subscription_count() > 0, "the camera subscription to match"
        )
        prediction = rig.first_prediction(lambda: stamp_s(ros.now_msg()), command=(0.5, 0.0))
        assert len(prediction.states) == 6  # predictions flow, with the horizon set before

        change(Transition.TRANSITION_DEACTIVATE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        rig.wait(lambda: rig.diag().get("state") == "inactive", "inactive diagnostics")
        processed = rig.count("frames_processed")
        t = stamp_s(ros.now_msg())
        rig.feed(t)
        rig.camera.publish(image_msg(t))
        rig.wait(
            lambda: float(rig.diag().get("camera_silent_s", "9")) < 0.5,
            "the node to see the frame",
        )
        seen = len(rig.diagnostics)
        rig.wait(lambda: len(rig.diagnostics) >= seen + 3, "three more diagnostics")
        assert rig.count("frames_processed") == processed
        assert not any(abs(stamp_s(p.header.stamp) - t) < 1e-9 for p in rig.predictions)

        change(Transition.TRANSITION_CLEANUP)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        rig.wait(
            lambda: ros.node.count_publishers("/lc/world_model/prediction") == 0,
            "the publishers to go",
        )
        assert "cleaned up: model unloaded" in node.output()
        change(Transition.TRANSITION_CONFIGURE)  # and it can be configured again
        assert state() == State.PRIMARY_STATE_INACTIVE
    finally:
        code = node.stop()
        assert code == 0, f"exit code {code}:\n{node.output()[-3000:]}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_a_gpu_is_a_clear_error_or_an_announced_fallback(
    ros_module, tmp_path
):
    plain = NodeProcess(
        "world_model_node",
        ["--ros-args", "-p", "device:=cuda", "-r", "__ns:=/nogpu"],
        tmp_path / "nogpu.log",
    )
    fallback = NodeProcess(
        "world_model_node",
        [
            "--ros-args",
            "-p",
            "device:=cuda",
            "-p",
            "device_fallback:=cpu",
            "-p",
            "diagnostics_period_s:=0.1",
            "-r",
            "__ns:=/fallback",
        ],
        tmp_path / "fallback.log",
    )
    try:
        wait_until(lambda: not plain.alive(), 60.0, what="the node without fallback to exit")
        assert plain.process.returncode != 0
        assert (
            "CUDA is not available" in plain.output() and "device_fallback: cpu" in plain.output()
        )

        rig = Rig(ros_module, fallback, sim_time=False, ns="fallback")
        rig.wait(lambda: bool(rig.diagnostics), "diagnostics of the fallback node", 60.0)
        values = rig.diag()
        assert values["device"] == "cpu" and "fell back to the CPU" in values["device_fallback"]
        assert (
            "fell back to the CPU" in rig.diagnostics[-1].status[0].message
        )  # a warning, never silent
        assert "fell back to the CPU" in fallback.output()
    finally:
        plain.stop()
        assert fallback.stop() == 0, fallback.output()[-3000:]


# --- the onnxruntime backend (no DDS) ------------------------------------------------------------


@pytest.mark.parametrize("horizon, gain", [(3, 0.0), (SHADOW_HORIZON, 0.0), (SHADOW_HORIZON, 4.0)])
def test_onnxruntime_engine_matches_torch(tmp_path, horizon, gain):
    import numpy as np

    from world_model_ros.core.model.checkpoint import load_latent_model
    from world_model_ros.core.model.contract import Observation
    from world_model_ros.core.model.fast_path import InferenceEngine
    from world_model_ros.core.model.onnx_backend import OnnxEngine

    predictor = load_latent_model(
        write_checkpoint(tmp_path / "ckpt", seed=3, contact_var_gain=gain),
        torch.device("cpu"),
        horizon=horizon,
    )
    assert predictor.model.config.contact_var_gain == gain
    rng = np.random.default_rng(0)
    observation = Observation(
        0.0,
        rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
        np.array([1.0, -2.0, 3.0]),
        np.array([0.4, -0.2]),
    )
    actions = rng.normal(size=(horizon, 2)).astype(np.float32)
    reference = predictor.rollout(
        predictor.encode(observation), torch.as_tensor(actions)[None]
    ).to_numpy()
    for engine in (
        InferenceEngine(predictor, horizon=horizon),
        OnnxEngine(predictor, horizon, warmup_iterations=1),
    ):
        out = engine.rollout(engine.encode(observation), engine.set_actions(actions))
        for key, expected in reference.items():
            assert out[key].shape == expected.shape and np.allclose(
                out[key], expected, atol=1e-5
            ), key


def test_preallocated_messages_equal_the_plain_conversions():
    import numpy as np
    from builtin_interfaces.msg import Time as TimeMsg
    from std_msgs.msg import Header

    from world_model_ros.nodes import conversions as conv

    cache = conv.PredictionMessages()
    rng = np.random.default_rng(1)
    for horizon in (4, 7, 4):  # refilled, grown, shrunk
        rollout = {
            "poses_bh3": rng.normal(size=(1, horizon, 3)).astype(np.float32),
            "twists_bh2": rng.normal(size=(1, horizon, 2)).astype(np.float32),
            "position_var_bh": rng.random((1, horizon)).astype(np.float32),
            "yaw_var_bh": rng.random((1, horizon)).astype(np.float32),
            "collision_prob_bh": rng.random((1, horizon)).astype(np.float32),
        }
        actions, start = rng.normal(size=(horizon, 2)), rng.normal(size=3)
        stamp = TimeMsg(sec=12, nanosec=345)
        expected = conv.rollout_to_prediction(
            Header(stamp=stamp, frame_id="odom"), "m", 0.1, rollout, actions, "plan"
        )
        start_pose = conv.pose_from_xyyaw(*start)
        prediction, path, markers = cache.fill(
            stamp, "odom", "m", 0.1, rollout, actions, "plan", start, 2.0, 1.0
        )
        assert prediction == expected
        assert path == conv.prediction_to_path(expected, start_pose)
        assert markers == conv.prediction_to_markers(expected, start_pose, 2.0, 1.0)


# --- the live-error tracker alone (no DDS)
# ---------------------------------------------------------


def _odom(samples):
    import numpy as np

    from world_model_ros.core.live.sync import OdomBuffer, OdomSample

    buffer = OdomBuffer(history_s=10.0)
    for t, x, y, yaw, frame in samples:
        buffer.add(OdomSample(t, np.array([x, y, yaw]), np.zeros(2), frame))
    return buffer


def test_live_error_tracker_steps_contacts_and_frames():
    import numpy as np

    from world_model_ros.core.live.live_error import LiveErrorTracker

    tracker = LiveErrorTracker(window=10, sample_period_s=0.0)
    poses = np.array([[0.1 * (k + 1), 0.0, 0.0] for k in range(3)])
    tracker.add_prediction(
        0.0, 0.1, "odom", poses, np.array([0.9, 0.1, 0.1])
    )  # predicts a collision at step 1
    tracker.add_contact(0.0, False)
    tracker.add_contact(0.15, True)  # contact during step 2 only
    tracker.add_contact(0.2, False)
    tracker.add_contact(0.35, False)
    # odometry: the robot is 0.2 m left of the prediction and 0.1 rad off at every step
    buffer = _odom([(0.1 * (k + 1), 0.1 * (k + 1), 0.2, 0.1, "odom") for k in range(3)])
    assert tracker.score(buffer, 0.05) == 1
    report = tracker.report(3)
    assert np.allclose(report.position_error_m, 0.2) and np.allclose(report.heading_error_rad, 0.1)
    assert list(report.samples) == [1, 1, 1]
    # step 1: predicted collision, no contact -> contradicted; step 2: predicted free, contact ->
    # contradicted; step 3: predicted free, the state at its start is "no contact" -> confirmed
    assert report.contradicted_share == pytest.approx(2 / 3) and report.contact_samples == 3

    # Partly scored predictions wait; a new odometry frame drops what cannot be compared.
    tracker.add_prediction(1.0, 0.1, "odom", poses, np.zeros(3))
    assert tracker.score(_odom([(1.1, 0.1, 0.0, 0.0, "odom")]), 0.05) == 0
    assert (
        tracker.score(_odom([(2.0, 0.0, 0.0, 0.0, "odom_new")]), 0.05) == 0
        and tracker.dropped == 1
    )
    assert tracker.report(3).predictions_scored == 1
    # One prediction per sample period.
    slow = LiveErrorTracker(sample_period_s=0.2)
    assert [
        slow.add_prediction(t, 0.1, "odom", poses, np.zeros(3)) for t in (0.0, 0.1, 0.2, 0.25)
    ] == [True, False, True, False]


# --- the benchmark's soak mode, short (figures come from bench/, so only its report is checked)
# ------


@pytest.mark.slow
def test_soak_benchmark_reports_latency_stages_and_memory(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import REPO

    env = {**os.environ, "ROS_DOMAIN_ID": str((int(os.environ["ROS_DOMAIN_ID"]) + 57) % 232)}
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench/latency.py"),
            "--soak",
            "--seconds",
            "8",
            "--warmup",
            "2",
            "--results",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(next(tmp_path.glob("latency-*-soak.json")).read_text())
    (result,) = report["results"]
    assert result["case"]["name"] == "latent-vga" and result["predictions"] > 0
    assert (
        set(result["latency_ms"]) >= {"p50", "p95", "p99", "max"}
        and 0.0 <= result["deadline_miss_rate"] <= 1.0
    )
    assert set(result["stages_ms"]) == {"convert", "preprocess", "encode", "rollout", "publish"}
    assert all(math.isfinite(v["p50"]) for v in result["stages_ms"].values())
    assert result["rss_mib_at_1_min"] > 0 and result["rss_mib_end"] > 0 and result["rss_series"]
    assert (
        result["node_frames"]["frames_processed"] > 0
        and "load_average_before" in report["machine"]
    )
    assert (
        (next(tmp_path.glob("latency-*-soak.md")))
        .read_text()
        .startswith("# world_model_node end-to-end latency")
    )


def test_cuda_options_are_announced_no_ops_on_the_cpu(tmp_path):
    import numpy as np

    from world_model_ros.core.model.checkpoint import load_latent_model
    from world_model_ros.core.model.contract import Observation
    from world_model_ros.core.model.fast_path import FastPathConfig, InferenceEngine

    predictor = load_latent_model(
        write_checkpoint(tmp_path / "ckpt", seed=4), torch.device("cpu"), horizon=4
    )
    observation = Observation(
        0.0, np.full((30, 40, 3), 90, np.uint8), np.zeros(3), np.array([0.2, 0.0])
    )
    plain = InferenceEngine(predictor, horizon=4)
    tuned = InferenceEngine(
        predictor, FastPathConfig(precision="fp16", cuda_graphs=True, compile=True), horizon=4
    )
    assert any("precision 'fp16' requested on cpu: ignored" in n for n in tuned.notes)
    assert (
        any("cuda_graphs/compile requested on cpu: ignored" in n for n in tuned.notes)
        and not plain.notes
    )
    actions = np.full((4, 2), 0.3, np.float32)
    a = plain.rollout(plain.encode(observation), plain.set_actions(actions))
    b = tuned.rollout(tuned.encode(observation), tuned.set_actions(actions))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert tuned.warm_up((48, 64)) > 0.0
    with pytest.raises(ValueError, match="precision 'fp8'"):
        FastPathConfig(precision="fp8")
