"""The planner node's inputs: stored by the subscription callbacks, taken by the control thread.

Callbacks only keep the newest message of each kind (and the odometry history the local state
source interpolates in); they never decode, encode or plan. Once per control period the control
thread calls :meth:`PlannerInputs.take`, which turns what arrived since the last period into
one input for the controller and tells the controller why an input could not be used
(an unusable image, odometry out of sync, a twin state of another checkpoint), so that the
planner's status names the reason the robot holds. Every rejected message is counted per
(topic, reason) for the node's diagnostics; odometry stamps follow the twin's rule
(core/live/sync.py StampMonitor: a lone message from another timeline is an outlier, a reset
needs evidence).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Image, LaserScan

from world_model_ros.core.data.images import ImageError
from world_model_ros.core.data.scan_input import SCAN_MAX_AGE_S, sensor_pose
from world_model_ros.core.live.domain import CommandLog
from world_model_ros.core.live.input_checks import (
    InputError,
    RejectionCounter,
    WarningThrottle,
    require_frame_id,
)
from world_model_ros.core.live.motion_history import COMMAND_TIMEOUT_S, motion_history
from world_model_ros.core.live.scan_log import SCAN_GRACE_FRAMES, ScanLog
from world_model_ros.core.live.sync import OdomBuffer, StampMonitor, StampOrder, SyncError
from world_model_ros.core.model.contract import EncoderInputs, Observation
from world_model_ros.core.planning.goal import PlanningInput
from world_model_ros.core.planning.goal_controller import GoalController
from world_model_ros.core.planning.scan_layer import LaserFrame
from world_model_ros.msg import DomainStatus, WorldModelState
from world_model_ros.nodes.conversions import image_to_rgb, odometry_to_sample, time_to_s
from world_model_ros.nodes.mpc_planner_config import PlannerNodeConfig
from world_model_ros.nodes.planner_messages import goal_to_xyyaw, state_to_input
from world_model_ros.nodes.scan_conversion import laser_scan

# A scan further than this from the state planned from is not fused (s): it would be placed
# at a pose the robot was not at.
SCAN_MAX_SKEW_S = 0.3
# What a rejected stamp is counted as (on the diagnostics, per topic)
STAMP_PROBLEMS = {
    StampOrder.DUPLICATE: "duplicate",
    StampOrder.BACKWARDS: "stamp_backwards",
    StampOrder.OUTLIER: "stamp_outlier",
}


class PlannerInputs:
    """Newest goal, state (or camera frame + odometry) and domain verdict; thread-safe."""

    def __init__(self, node: Node, config: PlannerNodeConfig, use_camera: bool):
        self._node = node
        self._config = config
        self._use_camera = use_camera
        self.lock = threading.Lock()  # also held by the diagnostics while they copy counts
        self._goal: PoseStamped | None = None
        self._state: WorldModelState | None = None
        self._image: Image | None = None
        self._domain: DomainStatus | None = None
        # the newest few scans, decoded: the newest for the costmap, the one at or before each
        # frame for a local encoder whose model takes a scan (core/live/scan_log.py)
        self._scans = ScanLog()
        self._handed_scan_s: float | None = None  # the stamp of the scan last fused
        self._local_frames = 0
        self._odom = OdomBuffer(history_s=2.0)
        # what this node commanded, when: the local encoder's history input (a model that
        # takes the steps before a frame, core/live/motion_history.py)
        self._commands = CommandLog()
        self._odom_stamps = StampMonitor(1.0, config.time_reset_confirm_messages)
        self._scan_stamps = StampMonitor(1.0, config.time_reset_confirm_messages)
        self._odom_new = False
        self._odom_problem: InputError | None = None
        self.frame_id = config.odom_frame  # the odometry frame, once an input has named it
        self._throttle = WarningThrottle(5.0)
        self.received = {"goal": 0, "state": 0, "image": 0, "odom": 0, "domain": 0, "scan": 0}
        self.rejected = RejectionCounter()  # per (topic, reason); read by the diagnostics
        self.odom_time_resets = 0

    def record_command(self, now_s: float, command_2) -> None:
        """A command just sent to the base (the node's clock)."""
        with self.lock:
            self._commands.add(now_s, command_2)

    def reconfigure(self, config: PlannerNodeConfig) -> None:
        self._config = config

    # -- callbacks (executor thread): store, nothing else ---------------------------------------

    def on_goal(self, msg: PoseStamped) -> None:
        with self.lock:
            self._goal = msg
            self.received["goal"] += 1

    def on_state(self, msg: WorldModelState) -> None:
        with self.lock:
            self._state = msg
            self.received["state"] += 1

    def on_image(self, msg: Image) -> None:
        with self.lock:
            self._image = msg
            self.received["image"] += 1

    def on_domain(self, msg: DomainStatus) -> None:
        with self.lock:
            self._domain = msg
            self.received["domain"] += 1

    def on_scan(self, msg: LaserScan) -> None:
        """A planar LiDAR's scan, for the costmap's scan layer (core/planning/scan_layer.py)."""
        try:
            scan = laser_scan(msg)
        except InputError as exc:
            with self.lock:
                self.rejected.add("scan", exc.reason)
            self._warn(f"scan rejected: {exc}")
            return
        order, refused = self._judge_stamp(self._scan_stamps, scan[0])
        if refused is not None:  # a lone scan off the timeline (stamped 0) wipes nothing
            with self.lock:
                self.rejected.add("scan", refused.reason)
            self._warn(f"scan rejected: {refused}")
            return
        with self.lock:
            if order is StampOrder.RESET:
                self._scans.clear()
            self._scans.add(scan)
            self.received["scan"] += 1

    def _judge_stamp(
        self, monitor: StampMonitor, stamp_s: float
    ) -> tuple[StampOrder, InputError | None]:
        """Where ``stamp_s`` stands on its topic's timeline (core/live/sync.py StampMonitor),
        and the error to count when it is refused."""
        now_s = self._node.get_clock().now().nanoseconds * 1e-9
        with self.lock:
            newest_s = monitor.last_s
            order = monitor.check(stamp_s, now_s)
        problem = STAMP_PROBLEMS.get(order)
        if problem is None:
            return order, None
        detail = (
            f"stamp {stamp_s:.3f} s did not advance (duplicated or frozen stamps)"
            if order is not StampOrder.OUTLIER
            else f"stamp {stamp_s:.3f} s is off the current timeline (newest {newest_s:.3f} s, "
            f"node clock {now_s:.3f} s)"
        )
        return order, InputError(problem, detail)

    def on_odom(self, msg: Odometry) -> None:
        try:
            sample = odometry_to_sample(msg, self._config.input_bounds)
        except InputError as exc:
            self._odom_rejected(exc)
            return
        order, refused = self._judge_stamp(self._odom_stamps, sample.stamp_s)
        if refused is not None:
            self._odom_rejected(refused)
            return
        with self.lock:
            if order is StampOrder.RESET:
                self._odom.clear()  # a confirmed new timeline (simulation restart): start over
                self.odom_time_resets += 1
            self._odom.add(sample)
            self._odom_new = True
            self._odom_problem = None
            self.received["odom"] += 1

    def _odom_rejected(self, exc: InputError) -> None:
        with self.lock:
            self._odom_problem = exc
            self.rejected.add("odom", exc.reason)

    # -- the control thread ---------------------------------------------------------------------

    def take(self, controller: GoalController, now_s: float) -> PlanningInput | Observation | None:
        """Apply a new goal and domain verdict to ``controller`` and return the newest usable
        input (None when nothing new arrived or it could not be used: the controller is told
        why)."""
        with self.lock:
            goal, self._goal = self._goal, None
            state, self._state = self._state, None
            image, self._image = self._image, None
            domain, self._domain = self._domain, None
            odom_new, self._odom_new = self._odom_new, False
            odom_problem = self._odom_problem
        if domain is not None:
            controller.set_domain(domain.in_domain, domain.reason)
        if goal is not None:
            self._apply_goal(controller, goal, now_s)
        twin = self._config.state_source == "twin"
        if not twin and odom_problem is not None and not odom_new:
            self._unusable(controller, f"odom: {odom_problem}", now_s)  # counted on arrival
            return None
        topic = "world_model/state" if twin else "camera/image_raw"
        try:
            return (
                self._from_state(controller, state)
                if twin
                else self._local(controller, image, odom_new)
            )
        except (InputError, ImageError, SyncError) as exc:
            with self.lock:
                self.rejected.add(topic, exc.reason)
            self._unusable(controller, f"{topic}: {exc}", now_s)
            return None

    def scan_for(self, newest: PlanningInput | Observation | None) -> LaserFrame | None:
        """The scan to fuse with the input planned from: the newest within SCAN_MAX_SKEW_S of
        its stamp, placed at its pose (the twin's state, or the odometry at the frame; the
        skew is at most a few centimetres at walking speed)."""
        if isinstance(newest, Observation):
            pose = np.asarray(newest.pose_xyyaw, np.float64)
        elif isinstance(newest, PlanningInput):
            pose = newest.latent.pose_3.detach().cpu().numpy().astype(np.float64)
        else:
            return None
        return self._take_scan(newest.stamp_s, pose)

    def _take_scan(self, stamp_s: float, pose_3: np.ndarray) -> LaserFrame | None:
        """The newest scan if it is within SCAN_MAX_SKEW_S of ``stamp_s`` and was not handed
        on before (a scan fused twice would count as two), with the sensor at ``pose_3``."""
        with self.lock:
            scan = self._scans.newest
            if (
                scan is None
                or scan[0] == self._handed_scan_s
                or abs(scan[0] - stamp_s) > SCAN_MAX_SKEW_S
            ):
                return None
            self._handed_scan_s = scan[0]  # handed on once
        sensor = sensor_pose(pose_3, self._config.scan_forward_m)
        return LaserFrame(scan[1], scan[2], sensor)

    def _unusable(self, controller: GoalController, text: str, now_s: float) -> None:
        self._warn(text)
        controller.input_rejected(text, now_s)

    def _apply_goal(self, controller: GoalController, msg: PoseStamped, now_s: float) -> None:
        frame = msg.header.frame_id
        if frame != self.frame_id:
            reason = (
                f"goal frame '{frame}' is not the odometry frame '{self.frame_id}' (no tf2 "
                f"here: send the goal in '{self.frame_id}')"
            )
            self._warn(f"goal rejected: {reason}")
            with self.lock:
                self.rejected.add("goal_pose", "wrong_frame")
            controller.cancel(reason, now_s)
            return
        try:
            goal = goal_to_xyyaw(msg, self._config.input_bounds)
        except InputError as exc:
            self._warn(f"goal rejected: {exc}")
            with self.lock:
                self.rejected.add("goal_pose", exc.reason)
            controller.cancel(f"goal rejected: {exc}", now_s)
            return
        controller.set_goal(goal, now_s)
        self._node.get_logger().info(
            f"new goal ({goal[0]:.2f}, {goal[1]:.2f}, yaw {goal[2]:.2f}) in '{frame}'"
        )

    def _from_state(self, controller: GoalController, msg: WorldModelState | None):
        if msg is None:
            return None
        if not msg.header.frame_id:
            raise InputError("empty_frame_id", "header.frame_id is empty")
        model = controller.model
        planning_input = state_to_input(
            msg, model.model_id, model.weights_sha256, model.device, self._config.input_bounds
        )
        self.frame_id = msg.header.frame_id
        return planning_input

    def _local(self, controller: GoalController, image: Image | None, odom_new: bool):
        with self.lock:
            latest = self._odom.latest
        if latest is None:
            return None
        self.frame_id = latest.frame_id
        if not self._use_camera:
            if not odom_new:
                return None
            stamp_s, rgb, odom = latest.stamp_s, None, latest
        else:
            if image is None:
                return None
            require_frame_id(image.header.frame_id)
            stamp_s = time_to_s(image.header.stamp)
            rgb = image_to_rgb(image)
            with self.lock:
                odom = self._odom.lookup(stamp_s, self._config.sync_slop_s)
        steps = EncoderInputs.of(controller.model).history_steps
        history = None
        if steps:
            with self.lock:
                history = motion_history(
                    stamp_s,
                    steps,
                    float(controller.model.dt_s),
                    self._commands,
                    self._odom,
                    COMMAND_TIMEOUT_S,
                    odom.twist_vw,
                )
        return Observation(
            stamp_s,
            rgb,
            odom.pose_xyyaw.astype(np.float32),
            odom.twist_vw.astype(np.float32),
            history,
            self._local_scan(controller, stamp_s, odom.pose_xyyaw),
        )

    def _local_scan(
        self, controller: GoalController, stamp_s: float, pose_3: np.ndarray
    ) -> np.ndarray | None:
        """The LaserScan input for a model that takes one, as the twin builds it."""
        inputs = EncoderInputs.of(controller.model)
        if not inputs.scan_sectors:
            return None
        with self.lock:
            self._local_frames += 1
            scan = self._scans.input_at(
                stamp_s, pose_3, self._odom, self._config.sync_slop_s, inputs
            )
            quiet = not len(self._scans) and self._local_frames < SCAN_GRACE_FRAMES
        if scan is None and not quiet:
            self._warn(
                f"scan: the model takes a LaserScan and none is within {SCAN_MAX_AGE_S:g} s "
                "before the frame: read as no scan"
            )
        return scan

    def _warn(self, text: str) -> None:
        key = tuple(text.split(": ", 2)[:2])  # (topic, reason): one warning per kind and period
        allowed, held = self._throttle.allow(key, time.monotonic())
        if allowed:
            more = f" ({held} more like this held back)" if held else ""
            self._node.get_logger().warning(text + more)
