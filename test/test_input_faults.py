"""Issue 15's input findings reproduced over DDS against world_model_node, each as it was seen.

The node runs as a process (its console script), on simulated time this test publishes, like
test_world_model_node.py (whose rig it reuses). Each test is one finding: before the fix the
node used the input (NaN predictions, a wiped history, an uncounted duplicate); now it is
rejected, counted on ``diagnostics`` under a stable reason, and good input is still served.
A second node on the wall clock with ``use_compressed`` takes the decompression bomb and the
CompressedImage ``format`` checks, and shows a persistent new timeline resetting within 1 s.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import rclpy
from conftest import wait_until
from malformed import bomb_png, compressed, diagnostic_values, non_finite_fields, png_bytes
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import RosTestNode
from sensor_msgs.msg import CompressedImage
from test_world_model_node import Rig, image_msg, odom_msg, stamp_s, start, twist

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def ros_faults():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = RosTestNode(context, "input_faults_test")
    yield node
    node.destroy()
    rclpy.shutdown(context=context)


@pytest.fixture(scope="module")
def rig(ros_faults, tmp_path_factory):
    node = start(
        tmp_path_factory.mktemp("input_faults"),
        "sim-time",
        "use_sim_time:=true",
        "diagnostics_period_s:=0.1",
        "warn_throttle_s:=0.0",
        "cmd_timeout_s:=5.0",
    )
    rig = Rig(ros_faults, node)
    rig.wait_ready(("camera/image_raw", "odom", "cmd_vel", "mpc_planner/plan", "/clock"))
    yield rig
    assert node.stop() == 0, node.output()[-3000:]


def rejected(rig: Rig, topic: str, reason: str, publish, warning: str = "") -> None:
    """``publish(t)`` at a fresh stamp must be counted as ``rejected.<topic>.<reason>`` (and
    warned about); then a good cycle is still predicted, with finite numbers."""
    key = f"rejected./{topic}.{reason}"
    before = rig.count(key)
    publish(rig.next_time())
    rig.wait_count(key, before + 1)
    if warning:
        rig.wait_warning(warning)
    prediction = rig.cycle(command=(0.2, 0.0))
    assert not non_finite_fields(prediction), non_finite_fields(prediction)
    assert prediction.states[-1].pose.position.x == pytest.approx(0.4, abs=1e-3)


# --- finding 3: huge but finite inputs gave all-NaN predictions --------------------------------


def test_huge_command_is_rejected_not_predicted_on(rig: Rig):
    """A Twist of 1e308 on cmd_vel made every prediction NaN; now it is out_of_bounds."""

    def huge_command(t: float) -> None:
        rig.feed(t)
        rig.cmd.publish(twist(1e308, 0.0))
        rig.camera.publish(image_msg(t))

    rejected(rig, "cmd_vel", "out_of_bounds", huge_command, "input_bounds.max_speed_mps=20")
    # The frame published with it was predicted on the measured twist, not the huge command.
    prediction = rig.prediction_at(rig.t_s - 10.0)
    assert prediction.action_source == "odometry" and not non_finite_fields(prediction)


@pytest.mark.parametrize("field", ["twist", "position"])
def test_huge_odometry_is_rejected(rig: Rig, field: str):
    """An odometry twist of 1e308 gave NaN predictions, a position of 1e308 gave x = inf."""

    def huge_odometry(t: float) -> None:
        msg = odom_msg(t + 0.03)
        if field == "twist":
            msg.twist.twist.linear.x = 1e308
        else:
            msg.pose.pose.position.x = 1e308
        rig.odom.publish(msg)

    rejected(rig, "odom", "out_of_bounds", huge_odometry)


# --- finding 6: silent acceptances -------------------------------------------------------------


def test_nan_covariance_and_a_quaternion_of_norm_two_are_rejected(rig: Rig):
    def nan_covariance(t: float) -> None:
        msg = odom_msg(t + 0.03)
        msg.pose.covariance[0] = math.nan
        rig.odom.publish(msg)

    rejected(rig, "odom", "non_finite", nan_covariance, "pose covariance contains NaN")

    def quaternion_of_norm_two(t: float) -> None:
        msg = odom_msg(t + 0.03)
        o = msg.pose.pose.orientation
        o.x, o.y, o.z, o.w = 2.0, 0.0, 0.0, 0.0
        rig.odom.publish(msg)

    rejected(rig, "odom", "bad_quaternion", quaternion_of_norm_two, "has norm 2")


def test_duplicate_stamps_are_counted(rig: Rig):
    def same_odometry_twice(t: float) -> None:
        rig.odom.publish(odom_msg(t + 0.03))
        rig.odom.publish(odom_msg(t + 0.03))

    rejected(rig, "odom", "duplicate", same_odometry_twice)

    def same_frame_twice(t: float) -> None:
        rig.feed(t)
        rig.camera.publish(image_msg(t))
        rig.prediction_at(t)
        rig.camera.publish(image_msg(t))

    rejected(rig, "camera/image_raw", "duplicate", same_frame_twice)


# --- finding 5: one stray message wiped the twin's history -------------------------------------


@pytest.mark.parametrize("stray", ["zero", "hour_old", "2038"])
def test_a_lone_stray_stamp_does_not_wipe_the_history(rig: Rig, stray: str):
    """One odometry message stamped 0, an hour old or in 2038 cleared odometry, command, plan and
    latency history ("time went backwards"), and the next frame was skipped for lack of
    odometry. Now it is rejected as stamp_outlier and the next frame is predicted at once."""
    t = rig.next_time()
    rig.feed(t, command=(0.3, 0.0))
    resets = rig.count("time_resets")
    outliers = rig.count("rejected./odom.stamp_outlier")
    stamp = {"zero": 0.0, "hour_old": t - 3600.0, "2038": 2_147_483_000.0}[stray]
    rig.odom.publish(odom_msg(stamp))
    rig.wait_count("rejected./odom.stamp_outlier", outliers + 1)
    rig.camera.publish(image_msg(t))  # odometry and the command from before the stray serve it
    prediction = rig.prediction_at(t)
    assert prediction.action_source == "cmd_vel"
    assert rig.count("time_resets") == resets


# --- the wall-clock, compressed-camera node: finding 4, CompressedImage format, a real reset ---


@pytest.fixture(scope="module")
def wall(ros_faults, tmp_path_factory):
    """world_model_node on the wall clock, in namespace /wall, with use_compressed."""
    node = start(
        tmp_path_factory.mktemp("wall"),
        "wall",
        "use_compressed:=true",
        "diagnostics_period_s:=0.1",
        "warn_throttle_s:=0.0",
        extra=("-r", "__ns:=/wall"),
    )
    rig = Rig(ros_faults, node, sim_time=False, ns="wall")
    rig.compressed = ros_faults.publisher(
        CompressedImage,
        "/wall/camera/image_raw/compressed",
        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
    )
    rig.wait(
        lambda: rig.compressed.get_subscription_count() > 0 and rig.diagnostics,
        "the node's compressed camera subscription and diagnostics",
        30.0,
    )
    yield rig
    assert node.stop() == 0, node.output()[-3000:]


def _now_s(rig: Rig) -> float:
    return stamp_s(rig.ros.now_msg())


def _serves_compressed(rig: Rig) -> None:
    def send(t: float) -> None:
        heard = rig.count("odom_received")
        for dt in (-0.02, 0.02):
            rig.odom.publish(odom_msg(t + dt))
        rig.wait_count("odom_received", heard + 2)
        rig.compressed.publish(compressed(t))

    prediction = rig.first_prediction(lambda: _now_s(rig), send=send)
    assert not non_finite_fields(prediction)


def _memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(rest.split()[0])
    return fields


def test_decompression_bomb_is_refused_from_its_header(wall: Rig):
    """Finding 4: one 48.6 KB PNG of 20000 x 20000 pixels took the node from 386 MB to 2.54 GB
    before bad_size. Now the header's size is checked first: the node's peak resident memory
    stays within 10% of what it was before the bomb."""
    _serves_compressed(wall)
    peak_before = _memory_kb(wall.node.process.pid)["VmHWM"]
    key = "rejected./wall/camera/image_raw/compressed.bad_size"
    before = wall.count(key)
    wall.compressed.publish(compressed(_now_s(wall), bomb_png(), format="png"))
    wall.wait_count(key, before + 1)
    wall.wait_warning("header says 20000x20000")
    peak_after = _memory_kb(wall.node.process.pid)["VmHWM"]
    assert peak_after <= 1.10 * peak_before, (peak_before, peak_after)
    _serves_compressed(wall)


@pytest.mark.parametrize(
    "fmt, reason", [("jpeg", "format_mismatch"), ("16UC1; compressedDepth png", "bad_format")]
)
def test_compressed_format_is_honoured(wall: Rig, fmt: str, reason: str):
    """Finding 6: CompressedImage ``format`` was ignored; PNG declared as JPEG went through."""
    key = f"rejected./wall/camera/image_raw/compressed.{reason}"
    before = wall.count(key)
    wall.compressed.publish(compressed(_now_s(wall), png_bytes(), format=fmt))
    wall.wait_count(key, before + 1)
    _serves_compressed(wall)


def test_a_new_timeline_that_persists_resets_within_a_second(wall: Rig):
    """A simulator restart seen by a node on the wall clock (no /clock to tell): odometry from a
    new timeline at 50 Hz is believed after time_reset_confirm_messages (5) messages."""
    _serves_compressed(wall)
    resets = wall.count("time_resets")
    outliers = wall.count("rejected./wall/odom.stamp_outlier")
    started = time.monotonic()
    k = 0

    def restarted() -> bool:
        nonlocal k
        wall.odom.publish(odom_msg(0.02 * k))  # the restarted simulator's odometry, from 0
        k += 1
        wall.ros.spin(0.02)
        return wall.count("time_resets") > resets

    wall.wait(restarted, "a time reset")
    assert time.monotonic() - started < 1.0 + 0.2  # + one diagnostics period and DDS
    assert wall.count("rejected./wall/odom.stamp_outlier") >= outliers + 4
    wall.wait_warning("time reset (stamps on '/wall/odom' moved to a new timeline")


def test_two_nodes_of_one_name_are_warned_about(wall: Rig, tmp_path):
    """Finding 6: two nodes with the same name ran side by side with no warning."""
    twin = start(tmp_path, "namesake", extra=("-r", "__ns:=/wall"))
    try:
        for node in (twin, wall.node):
            wait_until(
                lambda node=node: "other node(s) named '/wall/world_model_node'" in node.output(),
                30.0,
                what="the namesake warning",
            )
    finally:
        assert twin.stop() == 0
    assert diagnostic_values(wall.diagnostics[-1], "prediction")  # still reporting


# --- the last check on every output ------------------------------------------------------------


def test_a_model_that_outputs_nan_is_never_published(ros_faults, tmp_path):
    """A checkpoint whose weights were replaced by garbage (finite, and with a matching
    checksum, so it loads): the model's predictions come out NaN / inf. Before, they were
    published as forecasts with diagnostics OK; now each is withheld, counted as
    invalid_outputs, logged, and diagnostics go ERROR."""
    import json
    import shutil

    from diagnostic_msgs.msg import DiagnosticStatus
    from safetensors.torch import load_file, save_file

    from world_model_ros.core.model.checkpoint import DEFAULT_CHECKPOINT, sha256_of
    from world_model_ros.msg import WorldModelState

    garbage = tmp_path / "garbage"
    shutil.copytree(DEFAULT_CHECKPOINT, garbage)
    weights = load_file(garbage / "model.safetensors")
    for name in weights:
        if name.startswith(("trunk", "out")) and name.endswith("weight"):
            weights[name] = weights[name] * 1e15
    save_file(weights, garbage / "model.safetensors")
    config = json.loads((garbage / "config.json").read_text())
    config["weights_sha256"] = sha256_of(garbage / "model.safetensors")
    (garbage / "config.json").write_text(json.dumps(config))

    node = start(
        tmp_path,
        "garbage",
        "model:=latent",
        f"checkpoint:={garbage}",
        "backend:=torch",
        "diagnostics_period_s:=0.1",
        extra=("-r", "__ns:=/garbage"),
    )
    rig = Rig(ros_faults, node, sim_time=False, ns="garbage")
    states = ros_faults.subscribe(WorldModelState, "/garbage/world_model/state", 50)
    try:
        rig.wait_ready(("camera/image_raw", "odom"), timeout_s=60.0)
        for _ in range(5):
            t = _now_s(rig)
            heard = rig.count("odom_received")
            for dt in (-0.02, 0.0):
                rig.odom.publish(odom_msg(t + dt))
            rig.wait_count("odom_received", heard + 2)
            rig.camera.publish(image_msg(t, 64, 64))
            rig.ros.spin(0.1)
        rig.wait_count("invalid_outputs", 3)
        rig.wait(
            lambda: rig.diagnostics[-1].status[0].level == DiagnosticStatus.ERROR,
            "diagnostics ERROR",
        )
        assert "world_model/prediction: predicted" in rig.diag()["last_invalid_output"]
        assert "not publishing world_model/prediction" in node.output()
        assert not rig.predictions, rig.predictions[0].states[0]
        assert all(not non_finite_fields(s) for s in states)
    finally:
        assert node.stop() == 0, node.output()[-3000:]
