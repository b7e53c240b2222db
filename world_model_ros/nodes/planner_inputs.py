"""The planner node's inputs: stored by the subscription callbacks, taken by the control thread.

Callbacks only keep the newest message of each kind (and the odometry history the local state
source interpolates in); they never decode, encode or plan. Once per control period the control
thread calls :meth:`PlannerInputs.take`, which turns what arrived since the last period into
one input for the controller and tells the controller why an input could not be used
(an unusable image, odometry out of sync, a twin state of another checkpoint), so that the
planner's status names the reason the robot holds.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Image

from world_model_ros.core.data.images import ImageError
from world_model_ros.core.live.input_checks import InputError, WarningThrottle
from world_model_ros.core.live.sync import OdomBuffer, SyncError
from world_model_ros.core.model.contract import Observation
from world_model_ros.core.planning.goal import PlanningInput
from world_model_ros.core.planning.goal_controller import GoalController
from world_model_ros.msg import DomainStatus, WorldModelState
from world_model_ros.nodes.conversions import image_to_rgb, odometry_to_sample, time_to_s
from world_model_ros.nodes.mpc_planner_config import PlannerNodeConfig
from world_model_ros.nodes.planner_messages import goal_to_xyyaw, state_to_input


class PlannerInputs:
    """Newest goal, state (or camera frame + odometry) and domain verdict; thread-safe."""

    def __init__(self, node: Node, config: PlannerNodeConfig, use_camera: bool):
        self._node = node
        self._config = config
        self._use_camera = use_camera
        self._lock = threading.Lock()
        self._goal: PoseStamped | None = None
        self._state: WorldModelState | None = None
        self._image: Image | None = None
        self._domain: DomainStatus | None = None
        self._odom = OdomBuffer(history_s=2.0)
        self._odom_new = False
        self._odom_problem = ""
        self.frame_id = config.odom_frame  # the odometry frame, once an input has named it
        self._throttle = WarningThrottle(5.0)
        self.received = {"goal": 0, "state": 0, "image": 0, "odom": 0, "domain": 0}

    def reconfigure(self, config: PlannerNodeConfig) -> None:
        self._config = config

    # -- callbacks (executor thread): store, nothing else ---------------------------------------

    def on_goal(self, msg: PoseStamped) -> None:
        with self._lock:
            self._goal = msg
            self.received["goal"] += 1

    def on_state(self, msg: WorldModelState) -> None:
        with self._lock:
            self._state = msg
            self.received["state"] += 1

    def on_image(self, msg: Image) -> None:
        with self._lock:
            self._image = msg
            self.received["image"] += 1

    def on_domain(self, msg: DomainStatus) -> None:
        with self._lock:
            self._domain = msg
            self.received["domain"] += 1

    def on_odom(self, msg: Odometry) -> None:
        try:
            sample = odometry_to_sample(msg)
        except InputError as exc:
            with self._lock:
                self._odom_problem = f"odom: {exc}"
            return
        with self._lock:
            latest = self._odom.latest
            if latest is not None and sample.stamp_s <= latest.stamp_s:
                if latest.stamp_s - sample.stamp_s < 1.0:
                    self._odom_problem = (
                        f"odom: stamp {sample.stamp_s:.3f} s did not advance "
                        "(duplicated or frozen stamps)"
                    )
                    return
                self._odom.clear()  # time jumped back (simulation restart): start over
            self._odom.add(sample)
            self._odom_new = True
            self._odom_problem = ""
            self.received["odom"] += 1

    # -- the control thread ---------------------------------------------------------------------

    def take(self, controller: GoalController, now_s: float) -> PlanningInput | Observation | None:
        """Apply a new goal and domain verdict to ``controller`` and return the newest usable
        input (None when nothing new arrived or it could not be used: the controller is told
        why)."""
        with self._lock:
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
        try:
            if self._config.state_source == "twin":
                return self._from_state(controller, state)
            return self._local(image, odom_new, odom_problem)
        except (InputError, ImageError, SyncError) as exc:
            self._warn(str(exc))
            controller.input_rejected(str(exc), now_s)
            return None

    def _apply_goal(self, controller: GoalController, msg: PoseStamped, now_s: float) -> None:
        frame = msg.header.frame_id
        if frame != self.frame_id:
            reason = (
                f"goal frame '{frame}' is not the odometry frame '{self.frame_id}' (no tf2 "
                f"here: send the goal in '{self.frame_id}')"
            )
            self._warn(f"goal rejected: {reason}")
            controller.cancel(reason, now_s)
            return
        try:
            goal = goal_to_xyyaw(msg)
        except InputError as exc:
            self._warn(f"goal rejected: {exc}")
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
            raise InputError("empty_frame_id", "world_model/state: header.frame_id is empty")
        model = controller.model
        planning_input = state_to_input(msg, model.model_id, model.weights_sha256, model.device)
        self.frame_id = msg.header.frame_id
        return planning_input

    def _local(self, image: Image | None, odom_new: bool, odom_problem: str):
        if odom_problem and not odom_new:
            raise InputError("odometry", odom_problem)
        with self._lock:
            latest = self._odom.latest
        if latest is None:
            return None
        self.frame_id = latest.frame_id
        if not self._use_camera:
            if not odom_new:
                return None
            return Observation(
                latest.stamp_s,
                None,
                latest.pose_xyyaw.astype(np.float32),
                latest.twist_vw.astype(np.float32),
            )
        if image is None:
            return None
        stamp_s = time_to_s(image.header.stamp)
        rgb = image_to_rgb(image)
        with self._lock:
            odom = self._odom.lookup(stamp_s, self._config.sync_slop_s)
        return Observation(
            stamp_s, rgb, odom.pose_xyyaw.astype(np.float32), odom.twist_vw.astype(np.float32)
        )

    def _warn(self, text: str) -> None:
        allowed, held = self._throttle.allow(text.split(":", 1)[0], time.monotonic())
        if allowed:
            more = f" ({held} more like this held back)" if held else ""
            self._node.get_logger().warning(text + more)
