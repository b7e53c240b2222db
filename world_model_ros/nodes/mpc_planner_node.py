"""``mpc_planner_node``: MPPI on the world model, from a goal pose to ``cmd_vel``.

In: ``goal_pose`` (PoseStamped, rviz "2D Goal Pose"), ``camera/image_raw`` and ``odom``.
Out: ``cmd_vel`` (Twist or TwistStamped) at ``control_rate_hz``; the chosen plan on
``mpc_planner/plan`` (WorldModelPrediction: header.stamp = the observation planned from,
actions = the plan, states = the model's prediction under it), so the world-model node can
predict under the plan actually executed; sampled and chosen rollouts on
``mpc_planner/markers``; the goal's state on ``mpc_planner/status`` (std_msgs/String, latched):
``idle``, ``active``, ``reached``, ``failed: <reason>``; with a model that has an occupancy
head, the planner's occupancy map (core/planning/occupancy_map.py) on ``mpc_planner/occupancy``
(nav_msgs/OccupancyGrid, once a second while someone listens).

Safety: the node publishes one zero command and drops the goal when the goal is reached, the
inputs go stale (``stale_timeout_s``), the model is unavailable or a rollout fails, the goal
times out, and on shutdown; without a goal it publishes nothing (teleop can take over).

Frames: tf2 is not available from the package registries this package installs from, so the
node plans in the odometry frame and accepts only goals stamped in it (``odom_frame``, or the
odometry's own frame_id once one has arrived); a goal in another frame (e.g. ``map``) is
rejected with a warning naming both frames. Sync: newest camera frame, odometry interpolated
to its stamp (core/live/sync.py), as the world-model node does. The model math is in
core/planning/mppi.py.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from geometry_msgs.msg import Point, PoseStamped, Twist, TwistStamped, Vector3
from nav_msgs.msg import OccupancyGrid, Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import ColorRGBA, Header, String
from visualization_msgs.msg import Marker, MarkerArray

from world_model_ros.core.data.images import ImageError
from world_model_ros.core.geometry import quaternion_to_yaw
from world_model_ros.core.live.input_checks import InputError, WarningThrottle
from world_model_ros.core.live.sync import OdomBuffer, SyncError
from world_model_ros.core.model.contract import Observation
from world_model_ros.core.model.registry import MODEL_KINDS, ModelSpec, load_world_model
from world_model_ros.core.planning.contact_memory import ContactMemoryConfig
from world_model_ros.core.planning.costs import CostConfig
from world_model_ros.core.planning.detour import Detour, DetourConfig
from world_model_ros.core.planning.mppi import GoalTolerance, MppiConfig, MppiPlanner, goal_reached
from world_model_ros.core.planning.occupancy_map import OccupancyMapConfig
from world_model_ros.core.planning.past_view import PastViewConfig
from world_model_ros.nodes.conversions import (
    image_to_rgb,
    occupancy_to_grid,
    odometry_to_sample,
    rollout_to_prediction,
    s_to_duration,
    time_to_s,
)
from world_model_ros.nodes.lifetime import run_node
from world_model_ros.nodes.parameters import describe
from world_model_ros.nodes.qos import CAMERA_QOS, ODOM_QOS, OUTPUT_QOS

NODE_NAME = "mpc_planner_node"

# Descriptions of the MPPI parameters (names = MppiConfig / CostConfig fields; costs.* for the
# latter).
MPPI_DESCRIPTIONS = {
    "num_samples": "sampled command sequences per iteration",
    "horizon": "planning steps of the model's dt",
    "iterations": "sample-score-average rounds per control cycle",
    "temperature": "softmax temperature in cost units (lower: greedier)",
    "noise_std_v": "sampling std of the forward speed (m/s)",
    "noise_std_w": "sampling std of the yaw rate (rad/s)",
    "noise_correlation": "AR(1) correlation of the sampling noise between steps",
    "v_min": "minimum forward speed (m/s, <= 0; negative allows reversing)",
    "v_max": "maximum forward speed (m/s)",
    "w_max": "maximum |yaw rate| (rad/s)",
    "a_max": "maximum |linear acceleration| (m/s^2)",
    "alpha_max": "maximum |angular acceleration| (rad/s^2)",
    "num_visualised": "sampled rollouts drawn on mpc_planner/markers",
    "turn_in_place_rad": "goal (or detour sub-goal) at least this far off the heading (rad): turn "
    "on the spot towards it first (pi: off)",
}
COST_DESCRIPTIONS = {
    "goal_weight": "weight of the mean distance to the goal over the horizon",
    "goal_terminal_weight": "weight of the distance to the goal at the horizon's end",
    "heading_weight": "weight of the heading error (to the goal's bearing, then its yaw)",
    "heading_near_distance_m": "distance (m) below which the heading term blends into the goal's "
    "yaw",
    "use_goal_yaw": "finish in the goal's orientation (false: position-only goals)",
    "effort_weight": "weight of the mean squared command",
    "smoothness_weight": "weight of the mean squared command change per step",
    "prefer_forward_weight": "weight of the mean reverse speed",
    "collision_weight": "weight of the mean probability of having collided by each step",
    "collision_terminal_weight": "weight of the probability of any collision in the horizon",
    "collision_floor": "collision probabilities up to this count as 0 (the learned model's noise "
    "floor)",
    "uncertainty_weight": "weight of the mean predicted position variance (m^2)",
}

MEMORY_DESCRIPTIONS = {
    "enabled": "remember where the model predicted contact and keep rollouts away once out of "
    "view",
    "probability": "a sampled rollout's first step with P(collision) above this is remembered",
    "body_radius_m": "robot radius (m): a surface hit is remembered this far beyond the centre "
    "(0: the centre)",
    "inner_m": "rollouts whose body comes within this (m) of a remembered surface count as "
    "colliding",
    "radius_m": "a remembered surface further than this (m) from the body costs nothing (linear "
    "in between)",
    "cell_m": "grid (m) on which remembered contacts are merged",
    "lifetime_s": "forget a contact not predicted again for this long (s)",
    "max_points": "remember at most this many contact positions (newest kept)",
    "view_half_angle_rad": "the camera's half horizontal field of view (rad); remembered contacts "
    "in it are re-checked (0: never)",
    "clear_below": "a remembered contact in view that a rollout now passes below this probability "
    "is forgotten",
    "stall_after_s": "told to move but measured speed under a quarter of it this long (s): a felt "
    "contact (0: off)",
    "stall_min_speed_mps": "commands slower than this (m/s) never count as stalled",
    "stall_distance_m": "a felt surface is remembered this far (m) beyond the body in the "
    "commanded direction",
}

PAST_VIEW_DESCRIPTIONS = {
    "delay_s": "also ask the camera frame this old (s), carried forward by the model, about the "
    "candidates (0: only the current frame); only for a model without an occupancy "
    "head",
}

OCCUPANCY_DESCRIPTIONS = {
    "enabled": "fuse the model's occupancy head (when its checkpoint has one) into a costmap the "
    "rollouts are checked against",
    "resolution_m": "map cell size (m)",
    "size_m": "side of the square map (m); it follows the robot",
    "max_range_m": "trust the head's cells out to this distance from the robot (m)",
    "camera_x_m": "the camera's position ahead of the robot's centre (m)",
    "view_half_angle_rad": "half the camera's horizontal field of view (rad): only cells in view "
    "are updated",
    "gain": "log-odds added per frame per unit of the head's logit",
    "prior": "occupancy probability of a cell never seen",
    "max_log_odds": "a cell's log-odds stay within +- this",
    "half_life_s": "evidence halves in this long (s)",
    "inflation_m": "rollouts read the highest occupancy within this distance (m): a safety margin",
}

DETOUR_DESCRIPTIONS = {
    "enabled": "escape local minima (an obstacle squarely in the way) with a temporary side "
    "sub-goal",
    "no_progress_s": "seconds without getting closer by progress_m before a detour",
    "progress_m": "progress (m) that counts",
    "angle_rad": "sub-goal direction relative to the goal's bearing (rad, either side)",
    "distance_m": "sub-goal distance from the robot (m)",
    "duration_s": "how long one detour lasts (s)",
}


def _descriptor(
    description: str, low: float | None = None, high: float | None = None, integer: bool = False
) -> ParameterDescriptor:
    bounds = (low, high) if low is not None and high is not None else None
    return describe(description, bounds, 0 if integer else 0.0)


class MpcPlannerNode(Node):
    def __init__(self):
        super().__init__(NODE_NAME)
        self._declare_parameters()
        self._warnings = WarningThrottle(5.0)
        self._odom = OdomBuffer(history_s=2.0)
        self._odom_frame: str | None = None
        self._odom_received_s: float | None = None
        self._image_msg: Image | None = None
        self._image_received_s: float | None = None
        self._goal: np.ndarray | None = None
        self._goal_received_s = 0.0
        self._last_command = np.zeros(2)
        self._plan_end_xy: np.ndarray | None = None
        self._detour = Detour(self.p["detour"])
        self._cycles = 0

        if self.p["torch_threads"] > 0:
            torch.set_num_threads(self.p["torch_threads"])
        self.model, self.model_error = None, ""
        self.planner: MppiPlanner | None = None
        try:
            self.model = load_world_model(
                ModelSpec(
                    kind=self.p["model"],
                    checkpoint=self.p["checkpoint"],
                    device=self.p["device"],
                    dt_s=self.p["dt"],
                    horizon=self.p["mppi"].horizon,
                )
            )
            self.planner = MppiPlanner(self.model, self.p["mppi"])
        except Exception as exc:  # noqa: BLE001 - any load failure leaves the node up, refusing goals
            self.model_error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(
                f"model unavailable, every goal will be refused: {self.model_error}"
            )
        use_camera = self.p["use_camera"]
        # auto: whatever the model says it needs (the kinematic model has no camera input).
        self.use_camera = (
            bool(getattr(self.model, "uses_camera", False))
            if use_camera == "auto"
            else use_camera == "true"
        )

        self.create_subscription(PoseStamped, "goal_pose", self._on_goal, 10)
        self.create_subscription(Odometry, "odom", self._on_odom, ODOM_QOS)
        if self.use_camera:
            self.create_subscription(Image, "camera/image_raw", self._on_image, CAMERA_QOS)
        command_type = TwistStamped if self.p["cmd_vel_stamped"] else Twist
        self.cmd_pub = self.create_publisher(command_type, "cmd_vel", 10)
        self.plan_pub = self.create_publisher(_prediction_type(), "mpc_planner/plan", OUTPUT_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "mpc_planner/markers", OUTPUT_QOS)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.status_pub = self.create_publisher(String, "mpc_planner/status", latched)
        self.occupancy_pub = self.create_publisher(
            OccupancyGrid, "mpc_planner/occupancy", OUTPUT_QOS
        )
        self._publish_status("idle")
        self.create_timer(1.0 / self.p["control_rate_hz"], self._on_timer)
        model_id = self.model.model_id if self.model is not None else "none"
        self.get_logger().info(
            f"planning with model '{model_id}' ({self.p['mppi'].num_samples} samples x "
            f"{self.p['mppi'].horizon} steps) "
            f"at {self.p['control_rate_hz']:g} Hz; camera "
            f"{'used' if self.use_camera else 'not used'}"
        )

    # -- parameters ----------------------------------------------------------------------------

    def _declare_parameters(self) -> None:
        d = _descriptor
        own = {
            "model": ("kinematic", d(f"predictor to plan with: {' | '.join(MODEL_KINDS)}")),
            "checkpoint": (
                "",
                d("latent model checkpoint folder ('' = the one shipped with the package)"),
            ),
            "device": ("auto", d("torch device: auto | cpu | cuda | cuda:N")),
            "dt": (
                0.1,
                d(
                    "kinematic model step (s); a learned model's comes from its checkpoint",
                    0.01,
                    1.0,
                ),
            ),
            "control_rate_hz": (10.0, d("rate of planning and cmd_vel (Hz)", 0.5, 100.0)),
            "cmd_vel_stamped": (False, d("publish geometry_msgs/TwistStamped instead of Twist")),
            "base_frame": ("base_link", d("frame_id of TwistStamped commands")),
            "odom_frame": ("odom", d("frame goals must be in until odometry names its own frame")),
            "use_camera": (
                "auto",
                d("wait for camera frames: auto (unless kinematic) | true | false"),
            ),
            "stale_timeout_s": (
                0.5,
                d("stop when odometry (or the camera) is older than this (s)", 0.05, 10.0),
            ),
            "sync_slop_s": (
                0.05,
                d("max gap between a frame and the nearest odometry (s)", 0.0, 1.0),
            ),
            "xy_goal_tolerance": (0.15, d("goal reached within this distance (m)", 0.01, 5.0)),
            "yaw_goal_tolerance": (
                0.35,
                d("goal reached within this yaw error (rad; >= pi ignores yaw)", 0.01, 7.0),
            ),
            "goal_timeout_s": (
                120.0,
                d("give up a goal after this long (s; 0 = never)", 0.0, 3600.0),
            ),
            "seed": (
                -1,
                d(
                    "random seed of the sampler (-1: nondeterministic)",
                    -1,
                    2**31 - 1,
                    integer=True,
                ),
            ),
            "torch_threads": (
                1,
                d(
                    "torch intra-op threads (0: torch's default); 1 is fastest on a shared "
                    "small CPU, where threads of one op wait on each other",
                    0,
                    256,
                    integer=True,
                ),
            ),
        }
        for name, (default, descriptor) in own.items():
            self.declare_parameter(name, default, descriptor)
        values = self._declare_group("", MppiConfig(), MPPI_DESCRIPTIONS)
        values["costs"] = self._declare_group("costs.", CostConfig(), COST_DESCRIPTIONS)
        values["memory"] = self._declare_group(
            "memory.", ContactMemoryConfig(), MEMORY_DESCRIPTIONS
        )
        values["past_view"] = self._declare_group(
            "past_view.", PastViewConfig(), PAST_VIEW_DESCRIPTIONS
        )
        values["occupancy"] = self._declare_group(
            "occupancy.", OccupancyMapConfig(), OCCUPANCY_DESCRIPTIONS
        )
        detour = self._declare_group("detour.", DetourConfig(), DETOUR_DESCRIPTIONS)
        p = {name: self.get_parameter(name).value for name in own}
        if p["model"] not in MODEL_KINDS:
            raise ValueError(
                f"parameter model: '{p['model']}' is not one of {', '.join(MODEL_KINDS)}"
            )
        if p["use_camera"] not in ("auto", "true", "false"):
            raise ValueError(
                f"parameter use_camera: '{p['use_camera']}' is not one of auto, true, false"
            )
        values["seed"] = None if p["seed"] < 0 else p["seed"]
        p["mppi"] = MppiConfig.from_dict(values, where="mpc_planner parameters")
        p["detour"] = DetourConfig(**detour)
        p["tolerance"] = GoalTolerance(p["xy_goal_tolerance"], p["yaw_goal_tolerance"])
        self.p = p

    def _declare_group(self, prefix: str, defaults: object, descriptions: dict[str, str]) -> dict:
        """Declare ``prefix + name`` for each described field of the dataclass ``defaults`` (its
        value the default) and return the values set, floats as floats (YAML may say 1 for 1.0)."""
        values = {}
        for name, description in descriptions.items():
            default = getattr(defaults, name)
            value = self.declare_parameter(prefix + name, default, _descriptor(description)).value
            values[name] = float(value) if isinstance(default, float) else value
        return values

    # -- inputs --------------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _warn(self, key: str, text: str) -> None:
        allowed, held = self._warnings.allow(key, time.monotonic())
        if allowed:
            self.get_logger().warning(
                text + (f" ({held} more like this held back)" if held else "")
            )

    def _on_odom(self, msg: Odometry) -> None:
        try:
            sample = odometry_to_sample(msg)
            if self._odom.latest is not None and sample.stamp_s < self._odom.latest.stamp_s - 1.0:
                self._odom.clear()  # time jumped back (simulation reset): start over
                if (
                    self.planner is not None
                ):  # the warm start and remembered contacts are of the old run
                    self.planner.reset()
            self._odom.add(sample)
        except (InputError, ValueError) as exc:
            self._warn("odom", f"odometry rejected: {exc}")
            return
        self._odom_frame = sample.frame_id
        self._odom_received_s = self._now_s()

    def _on_image(self, msg: Image) -> None:
        self._image_msg = msg  # decoded only when planned from: the newest frame wins
        self._image_received_s = self._now_s()

    def _on_goal(self, msg: PoseStamped) -> None:
        expected = self._odom_frame or self.p["odom_frame"]
        frame = msg.header.frame_id
        if frame != expected:
            self.get_logger().warning(
                f"goal rejected: it is in frame '{frame}' but this planner works in the odometry "
                "frame "
                f"'{expected}' and cannot transform goals (no tf2); send the goal in '{expected}'"
            )
            self._stop(f"failed: goal frame '{frame}' is not the odometry frame '{expected}'")
            return
        p, q = msg.pose.position, msg.pose.orientation
        values = (p.x, p.y, q.x, q.y, q.z, q.w)
        if not all(math.isfinite(v) for v in values) or q.x == q.y == q.z == q.w == 0.0:
            self.get_logger().warning(
                f"goal rejected: position/orientation not finite or zero quaternion: {values}"
            )
            self._stop("failed: goal pose is not finite")
            return
        if self.model is None:
            self.get_logger().error(f"goal refused: model unavailable ({self.model_error})")
            self._stop(f"failed: model unavailable: {self.model_error}")
            return
        if self._goal is None:
            self.planner.reset()
        self._detour.reset()
        self._goal = np.array([p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w)])
        self._goal_received_s = self._now_s()
        self.get_logger().info(
            f"new goal ({p.x:.2f}, {p.y:.2f}, yaw {self._goal[2]:.2f}) in '{frame}'"
        )
        self._publish_status("active")

    # -- control cycle -------------------------------------------------------------------------

    def _on_timer(self) -> None:
        if self._goal is None:
            return
        now = self._now_s()
        stale = self._stale_inputs(now)
        if stale:
            self._stop(f"failed: stale inputs ({stale})")
            return
        latest = self._odom.latest
        if latest is None or (self.use_camera and self._image_msg is None):
            return  # waiting for the first inputs (at most stale_timeout_s after the goal)
        if goal_reached(latest.pose_xyyaw, self._goal, self.p["tolerance"]):
            self.get_logger().info(
                f"goal reached at ({latest.pose_xyyaw[0]:.2f}, {latest.pose_xyyaw[1]:.2f})"
            )
            self._stop("reached")
            return
        timeout = self.p["goal_timeout_s"]
        if timeout > 0 and now - self._goal_received_s > timeout:
            self._stop(f"failed: goal not reached within goal_timeout_s={timeout:g}")
            return
        try:
            observation = self._observation()
        except (SyncError, ImageError) as exc:
            self._warn("sync", f"skipping a cycle: {exc}")
            return
        started = time.perf_counter()
        try:
            if self._cycles:
                self.planner.shift(1)
            latent = self.model.encode(observation)
            target = self._detour.goal_for(now, latest.pose_xyyaw, self._goal, self._plan_end_xy)
            result = self.planner.plan(latent, target, self._last_command)
        except Exception as exc:  # noqa: BLE001 - any model failure must stop the robot
            self.get_logger().error(f"planning failed, stopping: {type(exc).__name__}: {exc}")
            self._stop(f"failed: planning error: {type(exc).__name__}: {exc}")
            return
        self._cycles += 1
        self._last_command = result.command_2
        self._plan_end_xy = result.plan_rollout.poses_bh3[0, -1, :2].cpu().numpy()
        self._publish_command(*self._last_command)
        self._publish_plan(observation.stamp_s, result, time.perf_counter() - started)

    def _stale_inputs(self, now: float) -> str:
        """'' when fresh, else which input is how old (receipt time: works with sim time too)."""
        limit = self.p["stale_timeout_s"]
        checks = [("odom", self._odom_received_s)]
        if self.use_camera:
            checks.append(("camera/image_raw", self._image_received_s))
        for topic, received in checks:
            since = self._goal_received_s if received is None else received
            age = now - since
            if age > limit:
                what = "nothing received" if received is None else f"last {age:.2f} s ago"
                return f"{topic}: {what}, stale_timeout_s={limit:g}"
        return ""

    def _observation(self) -> Observation:
        if not self.use_camera:
            latest = self._odom.latest
            return Observation(
                latest.stamp_s,
                None,
                latest.pose_xyyaw.astype(np.float32),
                latest.twist_vw.astype(np.float32),
            )
        stamp_s = time_to_s(self._image_msg.header.stamp)
        odom = self._odom.lookup(stamp_s, self.p["sync_slop_s"])
        return Observation(
            stamp_s,
            image_to_rgb(self._image_msg),
            odom.pose_xyyaw.astype(np.float32),
            odom.twist_vw.astype(np.float32),
        )

    # -- outputs -------------------------------------------------------------------------------

    def _stop(self, status: str) -> None:
        """Zero command once (when a goal was active), forget the goal, report ``status``."""
        if self._goal is not None:
            self._publish_command(0.0, 0.0)
            self.marker_pub.publish(
                MarkerArray(markers=[Marker(action=Marker.DELETEALL, ns="mpc_planner")])
            )
        self._goal = None
        self._cycles = 0
        self._last_command = np.zeros(2)
        if status != "reached" and status != "idle":
            self.get_logger().warning(f"stopped: {status}")
        self._publish_status(status)

    def stop_for_shutdown(self) -> None:
        if self._goal is not None:
            self._stop("failed: planner shut down")

    def _publish_status(self, status: str) -> None:
        self.status_pub.publish(String(data=status))

    def _publish_command(self, v: float, w: float) -> None:
        twist = Twist(
            linear=Vector3(x=float(v), y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=float(w))
        )
        if self.p["cmd_vel_stamped"]:
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.p["base_frame"])
            self.cmd_pub.publish(TwistStamped(header=header, twist=twist))
        else:
            self.cmd_pub.publish(twist)

    def _publish_plan(self, stamp_s: float, result, elapsed_s: float) -> None:
        frame = self._odom_frame or self.p["odom_frame"]
        ns = round(stamp_s * 1e9)
        header = Header(frame_id=frame)
        header.stamp.sec, header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
        plan = rollout_to_prediction(
            header,
            self.model.model_id,
            self.model.dt_s,
            result.plan_rollout.to_numpy(),
            result.commands_h2.cpu().numpy(),
            "plan",
        )
        plan.latency = s_to_duration(self._now_s() - stamp_s)
        self.plan_pub.publish(plan)
        if self.marker_pub.get_subscription_count() > 0:
            self.marker_pub.publish(plan_markers(header, result, self._goal))
        occupancy = self.planner.occupancy_map
        if (
            self._cycles % max(1, round(self.p["control_rate_hz"])) == 1
            and not occupancy.empty
            and self.occupancy_pub.get_subscription_count() > 0
        ):
            self.occupancy_pub.publish(
                occupancy_to_grid(
                    header,
                    occupancy.occupancy_percent_yx(),
                    occupancy.origin_2.cpu().numpy(),
                    occupancy.config.resolution_m,
                )
            )
        if self._cycles % 50 == 1:
            self.get_logger().info(
                f"planning {elapsed_s * 1e3:.0f} ms, command v={result.command_2[0]:.2f} "
                f"w={result.command_2[1]:.2f}, cost {result.best_cost:.2f}"
            )


def _prediction_type():
    from world_model_ros.msg import WorldModelPrediction

    return WorldModelPrediction


def plan_markers(
    header: Header, result, goal_3: np.ndarray | None, namespace: str = "mpc_planner"
) -> MarkerArray:
    """rviz: sampled rollouts (one grey LINE_LIST, id 0), the plan (green LINE_STRIP, id 1), the
    goal (arrow, id 2)."""
    samples = result.samples_kh3.detach().cpu().numpy()
    plan = result.plan_rollout.poses_bh3[0].detach().cpu().numpy()
    lifetime = s_to_duration(1.0)
    sampled = Marker(
        header=header,
        ns=f"{namespace}/samples",
        id=0,
        type=Marker.LINE_LIST,
        action=Marker.ADD,
        lifetime=lifetime,
        color=ColorRGBA(r=0.6, g=0.6, b=0.6, a=0.5),
    )
    sampled.scale.x = 0.005
    sampled.pose.orientation.w = 1.0
    for rollout in samples:
        for a, b in zip(rollout[:-1], rollout[1:], strict=False):
            sampled.points += [
                Point(x=float(a[0]), y=float(a[1]), z=0.01),
                Point(x=float(b[0]), y=float(b[1]), z=0.01),
            ]
    chosen = Marker(
        header=header,
        ns=f"{namespace}/plan",
        id=1,
        type=Marker.LINE_STRIP,
        action=Marker.ADD,
        lifetime=lifetime,
        color=ColorRGBA(r=0.1, g=0.9, b=0.2, a=1.0),
    )
    chosen.scale.x = 0.03
    chosen.pose.orientation.w = 1.0
    chosen.points = [Point(x=float(x), y=float(y), z=0.02) for x, y, _ in plan]
    markers = [sampled, chosen]
    if goal_3 is not None:
        goal = Marker(
            header=header,
            ns=f"{namespace}/goal",
            id=2,
            type=Marker.ARROW,
            action=Marker.ADD,
            lifetime=lifetime,
            color=ColorRGBA(r=1.0, g=0.5, b=0.0, a=1.0),
        )
        goal.scale.x, goal.scale.y, goal.scale.z = 0.3, 0.05, 0.05
        goal.pose.position.x, goal.pose.position.y = float(goal_3[0]), float(goal_3[1])
        goal.pose.orientation.z, goal.pose.orientation.w = (
            math.sin(goal_3[2] / 2),
            math.cos(goal_3[2] / 2),
        )
        markers.append(goal)
    return MarkerArray(markers=markers)


def main(args: list[str] | None = None) -> int:
    # Stopping sends the zero command while the context still works (nodes/lifetime.py).
    return run_node(
        MpcPlannerNode, args, name="mpc_planner_node", stop=lambda node: node.stop_for_shutdown()
    )


if __name__ == "__main__":
    raise SystemExit(main())
