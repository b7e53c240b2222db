"""world_model_node over real DDS: started by its console script, fed and read from this process.

Most tests share one node (module scope) running on simulated time that this test publishes on
/clock, so every stamp and age is exact; each cycle uses a fresh stamp 10 s after the last, so
predictions are told apart by stamp and nothing from an earlier cycle (command, odometry) is
still fresh. The node's diagnostics (every 0.1 s here) carry counters the tests wait on instead
of sleeping: that the node's clock has reached a time, that odometry and commands have arrived,
that a bad input was counted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
import yaml
from builtin_interfaces.msg import Time
from conftest import REPO, NodeProcess, wait_until
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from rcl_interfaces.srv import DescribeParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import RosTestNode
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from world_model_ros.msg import WorldModelPrediction

pytestmark = pytest.mark.ros

CONFIG = REPO / "config" / "world_model.yaml"
ODOM_FRAME = "test_odom"  # not "odom": proves the prediction's frame comes from the odometry
CAMERA = "/camera/image_raw"


def to_time(t_s: float) -> Time:
    ns = round(t_s * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def stamp_s(stamp: Time) -> float:
    return stamp.sec + 1e-9 * stamp.nanosec


def image_msg(
    t_s: float,
    width: int = 8,
    height: int = 6,
    encoding: str = "rgb8",
    frame_id: str = "camera",
    step: int | None = None,
    data: bytes | None = None,
) -> Image:
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(encoding, 2)
    step = width * channels if step is None else step
    msg = Image(height=height, width=width, encoding=encoding, step=step)
    msg.header.stamp = to_time(t_s)
    msg.header.frame_id = frame_id
    msg.data = bytes(height * step) if data is None else data
    return msg


def odom_msg(
    t_s: float,
    x: float = 0.0,
    y: float = 0.0,
    yaw: float = 0.0,
    v: float = 0.0,
    w: float = 0.0,
    frame_id: str = ODOM_FRAME,
) -> Odometry:
    msg = Odometry()
    msg.header.stamp = to_time(t_s)
    msg.header.frame_id = frame_id
    msg.child_frame_id = "base_link"
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = v, w
    return msg


def twist(v: float, w: float) -> Twist:
    msg = Twist()
    msg.linear.x, msg.angular.z = v, w
    return msg


class Rig:
    """The test side: publishers for every input, collectors for every output, a sim clock."""

    def __init__(self, ros: RosTestNode, node: NodeProcess, sim_time: bool = True, ns: str = ""):
        """``ns``: the node's namespace (its topics are then ``/<ns>/camera/image_raw`` and so
        on)."""
        self.ros, self.node, self.sim_time = ros, node, sim_time
        self.prefix = f"/{ns}/" if ns else "/"
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.camera = ros.publisher(Image, self.prefix + "camera/image_raw", reliable)
        self.odom = ros.publisher(Odometry, self.prefix + "odom", reliable)
        self.cmd = ros.publisher(Twist, self.prefix + "cmd_vel", reliable)
        self.plan = ros.publisher(WorldModelPrediction, self.prefix + "mpc_planner/plan", reliable)
        self.clock = ros.publisher(Clock, "/clock", reliable)
        self.predictions = ros.subscribe(
            WorldModelPrediction, self.prefix + "world_model/prediction", 50
        )
        self.paths = ros.subscribe(PathMsg, self.prefix + "world_model/predicted_path", 50)
        self.markers = ros.subscribe(MarkerArray, self.prefix + "world_model/markers", 50)
        self.diagnostics = ros.subscribe(DiagnosticArray, self.prefix + "diagnostics", 50)
        self.t_s = 1000.0

    def alive_check(self) -> None:
        assert self.node.alive(), f"node died:\n{self.node.output()[-3000:]}"

    def wait(self, condition, what: str, timeout_s: float = 15.0) -> None:
        def check() -> bool:
            self.alive_check()
            return condition()

        self.ros.wait_for(check, timeout_s, what)

    def diag(self) -> dict[str, str]:
        return (
            {kv.key: kv.value for kv in self.diagnostics[-1].status[0].values}
            if self.diagnostics
            else {}
        )

    def count(self, key: str) -> int:
        return int(self.diag().get(key, 0))

    def wait_count(self, key: str, at_least: int) -> None:
        self.wait(
            lambda: self.count(key) >= at_least,
            f"diagnostics {key} >= {at_least} (now {self.count(key)})",
        )

    def wait_ready(self, topics: tuple[str, ...], timeout_s: float = 30.0) -> None:
        """Until the node has subscribed to every topic and published its first diagnostics."""
        for topic in topics:
            self.wait(
                lambda topic=topic: self.ros.node.count_subscribers(topic) > 0,
                f"the node's subscription to {topic}",
                timeout_s,
            )
        self.wait(lambda: bool(self.diagnostics), "the first diagnostics", timeout_s)

    def set_clock(self, t_s: float) -> None:
        """Publish /clock = t_s until a diagnostics message stamped t_s shows the node's clock has
        it."""
        msg = Clock(clock=to_time(t_s))

        def reached() -> bool:
            self.clock.publish(msg)
            return (
                bool(self.diagnostics)
                and abs(stamp_s(self.diagnostics[-1].header.stamp) - t_s) < 1e-6
            )

        self.wait(reached, f"the node's clock at {t_s}")

    def wait_warning(self, text: str) -> None:
        self.wait(lambda: text in self.node.output(), f"warning '{text}' in the node's output")

    def output_at(self, bucket: list, t_s: float, what: str, timeout_s: float = 15.0):
        """The message in ``bucket`` stamped ``t_s`` (waiting for it)."""

        def find():
            return next((m for m in bucket if abs(stamp_s(m.header.stamp) - t_s) < 1e-9), None)

        self.wait(lambda: find() is not None, f"{what} stamped {t_s}", timeout_s)
        return find()

    def first_prediction(
        self, now_s, attempts: int = 5, send=None, **feed
    ) -> WorldModelPrediction:
        """Cycles at fresh stamps ``now_s()`` until one is predicted; ``send(t)``, when given,
        feeds the node and publishes the frame stamped t instead of :meth:`feed` and our camera.

        Right after a node (re)creates its publishers, our subscription may be discovered but not
        yet matched, and a reliable message published before the match is not delivered: one
        frame is not enough to prove that predictions flow, a few in a row are.
        """
        for _ in range(attempts):
            t = now_s()
            if send is None:
                self.feed(t, **feed)
                self.camera.publish(image_msg(t))
            else:
                send(t)
            try:
                return self.output_at(self.predictions, t, "a prediction", timeout_s=3.0)
            except AssertionError:
                self.alive_check()
        raise AssertionError(
            f"no prediction for {attempts} frames in a row; node "
            f"output:\n{self.node.output()[-3000:]}"
        )

    def prediction_at(self, t_s: float) -> WorldModelPrediction:
        return self.output_at(self.predictions, t_s, "a prediction")

    def next_time(self) -> float:
        self.t_s += 10.0
        if self.sim_time:
            self.set_clock(self.t_s + 0.01)
        return self.t_s

    def feed(
        self, t_s: float, pose=(0.0, 0.0, 0.0), velocity=(0.0, 0.0), command=None, plan=None
    ) -> None:
        """Odometry bracketing ``t_s`` (robot at ``pose`` at t_s), optionally a command and a plan;
        returns once the node has counted them all, so a camera frame published next finds them."""
        before = {k: self.count(k) for k in ("odom_received", "cmd_vel_received", "plan_received")}
        x, y, yaw = pose
        v, w = velocity
        for dt in (-0.02, 0.02):
            self.odom.publish(
                odom_msg(
                    t_s + dt,
                    x + v * dt * math.cos(yaw),
                    y + v * dt * math.sin(yaw),
                    yaw + w * dt,
                    v,
                    w,
                )
            )
        if command is not None:
            self.cmd.publish(twist(*command))
        if plan is not None:
            self.plan.publish(plan)
        self.wait_count("odom_received", before["odom_received"] + 2)
        if command is not None:
            self.wait_count("cmd_vel_received", before["cmd_vel_received"] + 1)
        if plan is not None:
            self.wait_count("plan_received", before["plan_received"] + 1)

    def cycle(self, **feed) -> WorldModelPrediction:
        """One good cycle at a fresh stamp; returns its prediction."""
        t = self.next_time()
        self.feed(t, **feed)
        self.camera.publish(image_msg(t))
        return self.prediction_at(t)


@pytest.fixture(scope="module")
def ros_module():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = RosTestNode(context, "world_model_node_test")
    yield node
    node.destroy()
    rclpy.shutdown(context=context)


def start(
    tmp_dir: Path, name: str, *params: str, params_file: Path = CONFIG, extra: tuple[str, ...] = ()
) -> NodeProcess:
    # The kinematic model unless a test says otherwise: these tests check exact geometry.
    params = ("model:=kinematic", *params)
    args = [
        "--ros-args",
        "--params-file",
        str(params_file),
        *[t for p in params for t in ("-p", p)],
        *extra,
    ]
    return NodeProcess("world_model_node", args, tmp_dir / f"{name}.log")


@pytest.fixture(scope="module")
def rig(ros_module, tmp_path_factory):
    node = start(
        tmp_path_factory.mktemp("world_model_node"),
        "sim-time",
        "use_sim_time:=true",
        "diagnostics_period_s:=0.1",
        "warn_throttle_s:=0.0",
        "max_image_pixels:=1000000",
        "cmd_timeout_s:=5.0",
        "plan_timeout_s:=0.5",
    )
    rig = Rig(ros_module, node)
    rig.wait_ready(("camera/image_raw", "odom", "cmd_vel", "mpc_planner/plan", "/clock"))
    yield rig
    assert node.stop() == 0, node.output()[-3000:]


# --- outputs ---------------------------------------------------------------------------------


def test_straight_line_outputs_types_stamps_frames(rig: Rig):
    prediction = rig.cycle(pose=(1.0, 2.0, 0.0), command=(0.5, 0.0))
    t = rig.t_s
    assert isinstance(prediction, WorldModelPrediction)
    assert prediction.header.frame_id == ODOM_FRAME
    assert prediction.model_id == "kinematic" and prediction.action_source == "cmd_vel"
    assert (
        prediction.dt == pytest.approx(0.1)
        and len(prediction.states) == 20
        and len(prediction.actions) == 20
    )
    for k, state in enumerate(prediction.states):
        assert stamp_s(state.time_from_stamp) == pytest.approx(0.1 * (k + 1))
        assert state.pose.position.x == pytest.approx(1.0 + 0.05 * (k + 1), abs=1e-4)
        assert state.pose.position.y == pytest.approx(2.0, abs=1e-4)
        assert state.twist.linear.x == pytest.approx(0.5)
        assert 0.0 <= state.collision_probability <= 1.0 and state.position_variance > 0
    assert all(a.linear.x == pytest.approx(0.5) and a.angular.z == 0.0 for a in prediction.actions)
    # Simulated clock: published at t + 0.01 and not advanced since, so latency is 10 ms exactly.
    assert stamp_s(prediction.latency) == pytest.approx(0.01, abs=1e-6)

    path = rig.output_at(rig.paths, t, "the path")
    assert isinstance(path, PathMsg) and path.header.frame_id == ODOM_FRAME
    assert len(path.poses) == 21  # the observed start pose, then the 20 predicted ones
    assert path.poses[0].pose.position.x == pytest.approx(1.0, abs=1e-6)
    assert stamp_s(path.poses[-1].header.stamp) == pytest.approx(t + 2.0)
    rig.wait(
        lambda: any(abs(stamp_s(m.markers[0].header.stamp) - t) < 1e-9 for m in rig.markers),
        "the markers",
    )
    markers = next(m for m in rig.markers if abs(stamp_s(m.markers[0].header.stamp) - t) < 1e-9)
    assert isinstance(markers, MarkerArray) and len(markers.markers) == 21
    assert (
        len({(m.ns, m.id) for m in markers.markers}) == 21
    )  # fixed, unique ids: nothing accumulates
    assert all(m.header.frame_id == ODOM_FRAME for m in markers.markers)


def test_turn_of_known_radius(rig: Rig):
    prediction = rig.cycle(command=(1.0, 0.5))  # radius v / w = 2 m, centre (0, 2)
    for k, state in enumerate(prediction.states):
        theta = 0.5 * 0.1 * (k + 1)
        p = state.pose.position
        assert math.hypot(p.x, p.y - 2.0) == pytest.approx(2.0, abs=1e-4)
        assert (p.x, p.y) == pytest.approx(
            (2.0 * math.sin(theta), 2.0 * (1.0 - math.cos(theta))), abs=1e-4
        )
        yaw = 2.0 * math.atan2(state.pose.orientation.z, state.pose.orientation.w)
        assert yaw == pytest.approx(theta, abs=1e-4)


def test_odometry_interpolated_and_twist_held_without_command(rig: Rig):
    # Moving at 0.3 m/s: odometry at t -/+ 0.02 s is at x -/+ 0.006; interpolated at t: x = 5.0.
    prediction = rig.cycle(pose=(5.0, 0.0, 0.0), velocity=(0.3, 0.0))
    path = rig.output_at(rig.paths, rig.t_s, "the path")
    assert path.poses[0].pose.position.x == pytest.approx(5.0, abs=1e-6)
    assert prediction.action_source == "odometry"  # the last command is 10 s old: stale
    assert prediction.states[-1].pose.position.x == pytest.approx(5.0 + 0.3 * 2.0, abs=1e-4)


def test_plan_actions_time_shifted_to_the_camera_stamp(rig: Rig):
    t = rig.next_time()
    plan = WorldModelPrediction(dt=0.1, action_source="plan", model_id="planner")
    plan.header.stamp = to_time(t - 0.2)  # the plan started 2 steps before this frame
    plan.actions = [twist(0.1 * i, 0.0) for i in range(30)]
    rig.feed(t, command=(9.0, 0.0), plan=plan)  # a fresh plan wins over a fresh command
    rig.camera.publish(image_msg(t))
    prediction = rig.prediction_at(t)
    assert prediction.action_source == "plan"
    assert [a.linear.x for a in prediction.actions] == pytest.approx(
        [0.1 * (k + 2) for k in range(20)]
    )


# --- bad input: warned (naming topic and reason), counted, and good input still served --------


def bad_input_case(rig: Rig, key: str, warning: str, publish) -> None:
    before = rig.count(key)
    publish(rig.next_time())
    rig.wait_warning(warning)
    rig.wait_count(key, before + 1)
    rig.cycle(command=(0.2, 0.0))  # still serving
    assert rig.node.alive()


@pytest.mark.parametrize(
    "case, key, warning",
    [
        (
            "encoding",
            "rejected./camera/image_raw.bad_encoding",
            "'/camera/image_raw' (bad_encoding): unsupported encoding 'yuv422'",
        ),
        (
            "length",
            "rejected./camera/image_raw.bad_size",
            "'/camera/image_raw' (bad_size): data is 10 bytes",
        ),
        (
            "zero",
            "rejected./camera/image_raw.bad_size",
            "'/camera/image_raw' (bad_size): zero-sized image",
        ),
        ("huge", "rejected./camera/image_raw.bad_size", "exceeds max_pixels=1000000"),
        (
            "camera_frame_id",
            "rejected./camera/image_raw.empty_frame_id",
            "'/camera/image_raw' (empty_frame_id)",
        ),
    ],
)
def test_bad_camera_input(rig: Rig, case: str, key: str, warning: str):
    def publish(t: float) -> None:
        rig.feed(t)
        rig.camera.publish(
            {
                "encoding": lambda: image_msg(t, encoding="yuv422"),
                "length": lambda: image_msg(t, data=bytes(10)),
                "zero": lambda: image_msg(t, width=0, height=0),
                "huge": lambda: image_msg(t, width=1200, height=1000, encoding="mono8"),
                "camera_frame_id": lambda: image_msg(t, frame_id=""),
            }[case]()
        )

    bad_input_case(rig, key, warning, publish)


def test_nan_in_odometry_and_commands(rig: Rig):
    bad_input_case(
        rig,
        "rejected./odom.non_finite",
        "'/odom' (non_finite): pose contains NaN",
        lambda t: rig.odom.publish(odom_msg(t, x=float("nan"))),
    )
    bad_input_case(
        rig,
        "rejected./cmd_vel.non_finite",
        "'/cmd_vel' (non_finite): command contains NaN",
        lambda t: rig.cmd.publish(twist(float("inf"), 0.0)),
    )
    bad_input_case(
        rig,
        "rejected./odom.empty_frame_id",
        "'/odom' (empty_frame_id)",
        lambda t: rig.odom.publish(odom_msg(t, frame_id="")),
    )


def test_stamps_going_backwards(rig: Rig):
    def camera_back(t: float) -> None:
        rig.feed(t)
        rig.camera.publish(image_msg(t))
        rig.prediction_at(t)
        rig.camera.publish(
            image_msg(t - 0.5)
        )  # out of order, less than time_reset_threshold_s back

    bad_input_case(
        rig,
        "rejected./camera/image_raw.stamp_backwards",
        "'/camera/image_raw' (stamp_backwards)",
        camera_back,
    )

    def odom_back(t: float) -> None:
        rig.feed(t)
        rig.odom.publish(odom_msg(t - 0.5))

    bad_input_case(rig, "rejected./odom.stamp_backwards", "'/odom' (stamp_backwards)", odom_back)


def test_stale_and_unsynchronised_frames_are_skipped(rig: Rig):
    def stale(t: float) -> None:
        rig.feed(t)
        rig.set_clock(t + 2.0)  # the frame is 2 s old when it arrives (max_input_age_s = 0.5)
        rig.camera.publish(image_msg(t))

    bad_input_case(rig, "frames_skipped.stale", "skipped (stale): frame is 2.000 s old", stale)

    def out_of_sync(t: float) -> None:
        rig.feed(t)
        rig.camera.publish(image_msg(t + 0.3))  # odometry only up to t + 0.02; slop 0.05

    bad_input_case(
        rig, "frames_skipped.odometry_out_of_sync", "skipped (odometry_out_of_sync)", out_of_sync
    )


def test_time_jumping_back_clears_history_and_keeps_serving(rig: Rig):
    resets = rig.count("time_resets")
    rig.t_s = 10.0  # a simulation reset: the clock and every stamp start again near zero
    prediction = rig.cycle(pose=(0.5, 0.0, 0.0), command=(0.4, 0.0))
    assert prediction.action_source == "cmd_vel"
    assert prediction.states[0].pose.position.x == pytest.approx(0.54, abs=1e-4)
    rig.wait_count("time_resets", resets + 1)
    rig.wait_warning("time reset (stamps on")
    assert stamp_s(prediction.latency) == pytest.approx(
        0.01, abs=1e-6
    )  # latency windows not poisoned


def test_diagnostics_report_latency_stages_and_counts(rig: Rig):
    rig.cycle()
    processed = rig.count("frames_processed")
    rig.wait(lambda: rig.count("frames_processed") >= processed, "diagnostics after the cycle")
    values = rig.diag()
    for key in (
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_max_ms",
        "deadline_misses",
        "budget_ms",
        "frames_received",
        "frames_processed",
        "frames_dropped",
        "frames_skipped",
        "frames_rejected",
        *(f"stage_{s}_p50_ms" for s in ("convert", "preprocess", "encode", "rollout", "publish")),
    ):
        assert key in values, key
    assert float(values["latency_p50_ms"]) == pytest.approx(10.0, abs=0.01)
    assert values["budget_ms"] == "200" and values["model_id"] == "kinematic"
    assert rig.diagnostics[-1].status[0].name == "world_model_node: prediction"


# --- separate node instances ------------------------------------------------------------------


def test_parameters_from_yaml_compressed_camera_and_odometry_that_never_arrives(
    ros_module, tmp_path
):
    config = yaml.safe_load(CONFIG.read_text())
    next(iter(config.values()))["ros__parameters"].update(
        horizon=7, dt=0.2, diagnostics_period_s=0.1, use_compressed=True
    )
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(config))
    # Odometry remapped to a topic nobody publishes (until the end of the test).
    # Its own namespace (so the module's node does not hear it); odometry remapped to a topic
    # nobody publishes until the end of the test.
    node = start(
        tmp_path,
        "yaml",
        params_file=params_file,
        extra=("-r", "__ns:=/yaml", "-r", "odom:=odom_late"),
    )
    try:
        rig = Rig(ros_module, node, sim_time=False, ns="yaml")
        camera = ros_module.publisher(
            CompressedImage,
            "/yaml/camera/image_raw/compressed",
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
        )
        jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()

        def frame(t: float) -> CompressedImage:
            msg = CompressedImage(format="jpeg", data=jpeg)
            msg.header.stamp, msg.header.frame_id = to_time(t), "camera"
            return msg

        # Our reliable camera publisher matched to the node's reader (not only discovered): a frame
        # published now is then delivered.
        rig.wait(
            lambda: (
                camera.get_subscription_count() > 0
                and ros_module.node.count_subscribers("/yaml/odom_late") > 0
            ),
            "the node's subscriptions",
            30.0,
        )
        before = rig.count("frames_skipped.no_odometry")
        camera.publish(frame(stamp_s(ros_module.now_msg())))
        rig.wait_warning(
            "frame on '/yaml/camera/image_raw/compressed' skipped (no_odometry): "
            "no odometry received on '/yaml/odom_late'"
        )
        rig.wait_count("frames_skipped.no_odometry", before + 1)

        late_odom = ros_module.publisher(Odometry, "/yaml/odom_late", QoSProfile(depth=10))
        rig.wait(
            lambda: late_odom.get_subscription_count() > 0,
            "the node to match the odometry publisher",
        )
        t = stamp_s(ros_module.now_msg())
        sent: list[float] = []

        def publish_until_heard() -> bool:
            # Discovery may match our side before the node's (best-effort) subscription is ready to
            # receive: keep publishing, 1 ms apart, until the node counts one.
            sent.append(t + 0.001 * len(sent))
            late_odom.publish(odom_msg(sent[-1]))
            return rig.count("odom_received") >= 1

        rig.wait(publish_until_heard, "the node to receive the late odometry")

        # Then cycles at fresh stamps until one is predicted: matching the late publisher may have
        # taken longer than max_input_age_s (a frame stamped t would be skipped as stale), and our
        # prediction subscription may not be matched yet (see Rig.first_prediction).
        def send(t_s: float) -> None:
            heard = rig.count("odom_received")
            for dt in (-0.02, 0.02):
                late_odom.publish(odom_msg(t_s + dt))
            rig.wait_count("odom_received", heard + 2)
            camera.publish(frame(t_s))

        prediction = rig.first_prediction(lambda: stamp_s(ros_module.now_msg()), send=send)
        assert len(prediction.states) == 7 and prediction.dt == pytest.approx(0.2)

        client = ros_module.node.create_client(
            DescribeParameters, "/yaml/world_model_node/describe_parameters"
        )
        rig.wait(lambda: client.service_is_ready(), "the describe_parameters service")
        future = client.call_async(
            DescribeParameters.Request(names=["horizon", "budget_ms", "model"])
        )
        rig.wait(future.done, "describe_parameters")
        horizon, budget, model = future.result().descriptors
        assert horizon.integer_range[0].from_value == 1 and horizon.description
        assert budget.floating_point_range[0].to_value > 200.0 and model.description
        ros_module.node.destroy_client(client)
    finally:
        assert node.stop() == 0, node.output()[-3000:]


@pytest.mark.parametrize(
    "params, expected",
    [
        (
            ("model:=latent", "checkpoint:=/nonexistent/wm-checkpoint"),
            "/nonexistent/wm-checkpoint",
        ),
        (("horizon:=0",), "parameter 'horizon' is invalid"),
        (("model:=magic",), "must be one of latent, kinematic"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path, params, expected):
    node = start(tmp_path, "bad", *params)
    wait_until(lambda: not node.alive(), 60.0, what="the node to exit")
    assert node.process.returncode != 0
    assert expected in node.output()


def test_vga_stream_from_a_second_process_gets_a_prediction_per_processed_frame(tmp_path):
    # A ROS domain of its own, so the module's node (still running) neither hears nor answers it.
    domain = (int(os.environ["ROS_DOMAIN_ID"]) + 101) % 232
    env = {"ROS_DOMAIN_ID": str(domain)}
    node = NodeProcess(
        "world_model_node",
        ["--ros-args", "--params-file", str(CONFIG), "-p", "diagnostics_period_s:=0.2"],
        tmp_path / "vga.log",
        env,
    )
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    ros = RosTestNode(context, "vga_test")
    try:
        rig = Rig(ros, node, sim_time=False)
        rig.wait(lambda: bool(rig.diagnostics), "the node's diagnostics", 30.0)
        # The camera and odometry come from a process of its own (it prints every stamp it sent).
        streamer = subprocess.Popen(
            [sys.executable, str(REPO / "bench/e2e_latency_quick.py"), "--seconds", "4"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        rig.wait(lambda: streamer.poll() is not None, "the streamer to finish", 60.0)
        report = json.loads(streamer.stdout.read().strip().splitlines()[-1])
        assert streamer.returncode == 0 and report["sent"] >= 100, report  # 4 s at 30 Hz
        processed = lambda: int(rig.diag().get("frames_processed", -1))  # noqa: E731
        rig.wait(
            lambda: processed() > 0 and processed() == len(rig.predictions),
            "one prediction per processed frame",
        )
        stamps = [
            p.header.stamp.sec * 1_000_000_000 + p.header.stamp.nanosec for p in rig.predictions
        ]
        assert len(set(stamps)) == len(stamps) and stamps == sorted(stamps)
        assert set(stamps) <= set(
            report["sent_stamps_ns"]
        )  # each carries the stamp of a frame that was sent
        assert (
            report["matched"] == report["received"] == len(stamps)
        )  # the streamer got them all too
        assert all(p.header.frame_id == "odom" and len(p.states) == 20 for p in rig.predictions)
        # Most frames are predicted on (2 shared cores: some may be dropped, never queued).
        assert len(stamps) >= 0.5 * report["sent"], (len(stamps), report["sent"], rig.diag())
        print(
            f"VGA 30 Hz: {len(stamps)}/{report['sent']} frames predicted; end-to-end latency "
            f"{report['latency_ms']}, node-side {report['node_latency_ms']}"
        )
    finally:
        ros.destroy()
        rclpy.shutdown(context=context)
        assert node.stop() == 0, node.output()[-3000:]
