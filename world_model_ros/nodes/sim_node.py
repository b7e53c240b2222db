"""sim_node: the embedded MuJoCo robot on ROS 2, publishing what a Gazebo bridge publishes.

Publishes ``camera/image_raw`` (rgb8) + ``camera/camera_info`` at ``camera_rate_hz``, ``odom``
(nav_msgs/Odometry, frame odom -> base_link, optional noise) at ``odom_rate_hz``, ``clock``
(simulated time, starting at 0), ``tf`` odom -> base_link and ``tf_static`` base_link -> camera
(only where tf2_msgs is installed: it is not on the package registries, so a pip-only install
logs once that tf is off), and ground truth ``ground_truth/contact`` (std_msgs/Bool, camera
rate) and, when odometry noise is on, ``ground_truth/odom``. Subscribes ``cmd_vel`` (Twist,
or TwistStamped with ``cmd_vel_stamped``); a command older than ``cmd_timeout_s`` of simulated
time stops the robot, as ros2_control's diff_drive_controller does; a non-finite command, or
one beyond ``input_bounds.*``, is rejected and counted on ``diagnostics`` (steady clock).
Service ``~/reset`` (std_srvs/Trigger) restarts the episode from a new collision-free pose in
the same layout.

``robot`` (config/robots/<name>.yaml or a path, sim/robots.py) simulates another robot: its
body, limits and camera replace the camera parameters, its LiDAR publishes ``scan``, its bumper
``bumper``, and a base that takes TwistStamped gets it.

Stamps are simulated time: run the other nodes with ``use_sim_time:=true``. Pacing is by the
steady (wall) clock: ``real_time_factor`` 1 is real time, 5 is five times faster, 0 is as fast
as the machine can. Odometry's frame is the arena frame (DiffDriveSim's docstring).
"""

from __future__ import annotations

import array
import math
import time
from dataclasses import replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import (
    Quaternion,
    Twist,
    TwistStamped,
    Vector3,
)
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, LaserScan
from std_msgs.msg import Bool, Header
from std_srvs.srv import Trigger

from world_model_ros.core.data.images import encode_raw
from world_model_ros.core.geometry import yaw_to_quaternion
from world_model_ros.core.live.input_checks import InputError, RejectionCounter
from world_model_ros.nodes.conversions import twist_to_vw
from world_model_ros.nodes.lifetime import run_node
from world_model_ros.nodes.parameters import ParameterHandler
from world_model_ros.nodes.qos import COMMAND_QOS
from world_model_ros.nodes.sim_messages import camera_info_msg, laser_scan_msg, odometry_msg
from world_model_ros.nodes.sim_node_config import SimNodeConfig
from world_model_ros.nodes.topic_types import command_type_watch
from world_model_ros.sim.robots import RobotFileError, load_robot
from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

try:  # not on PyPI; present in every ROS 2 distribution
    from geometry_msgs.msg import Transform, TransformStamped
    from tf2_msgs.msg import TFMessage
except ImportError:  # pragma: no cover - depends on the install
    TFMessage = None

NODE_NAME = "sim_node"
# Like ros_gz_bridge's defaults (reliable): matches reliable and best-effort subscribers alike.
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
STATIC_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def stamp_msg(seconds: float):
    ns = int(round(seconds * 1e9))
    from builtin_interfaces.msg import Time

    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


class SimNode(Node):
    """Steps the simulator from a steady-clock timer and publishes at simulated-time rates."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = ParameterHandler(self, SimNodeConfig, on_change=self._on_parameters)
        self.cfg = cfg = self.params.config
        noise = {
            "odom_noise_linear_frac": cfg.odom_noise,
            "odom_noise_angular_frac": cfg.odom_noise,
        }
        self._encoding = "rgb8"
        if cfg.robot:  # a RobotFileError names the key and the file; the node exits with it
            robot = load_robot(cfg.robot)
            sim_config = robot.sim_config(**noise)
            self._encoding = robot.camera.encoding
            self._camera_rate_hz = robot.camera.rate_hz
            cfg = self.cfg = replace(cfg, cmd_vel_stamped=robot.cmd_vel_stamped)
        else:
            sim_config = SimConfig(
                camera_width=cfg.camera_width,
                camera_height=cfg.camera_height,
                camera_fovy_deg=cfg.camera_fovy_deg,
                **noise,
            )
            self._camera_rate_hz = cfg.camera_rate_hz
        self.sim = DiffDriveSim(sim_config, cfg.layout_seed)
        lidar = sim_config.lidar
        self._scan_pub = self.create_publisher(LaserScan, "scan", SENSOR_QOS) if lidar else None
        self._bumper_pub = (
            self.create_publisher(Bool, "bumper", SENSOR_QOS) if sim_config.bumper else None
        )
        self._image_pub = self.create_publisher(Image, "camera/image_raw", SENSOR_QOS)
        self._info_pub = self.create_publisher(CameraInfo, "camera/camera_info", SENSOR_QOS)
        self._odom_pub = self.create_publisher(Odometry, "odom", SENSOR_QOS)
        self._contact_pub = self.create_publisher(Bool, "ground_truth/contact", SENSOR_QOS)
        self._true_odom_pub = (
            self.create_publisher(Odometry, "ground_truth/odom", SENSOR_QOS)
            if cfg.odom_noise > 0
            else None
        )
        self._clock_pub = (
            self.create_publisher(ClockMsg, "/clock", SENSOR_QOS) if cfg.publish_clock else None
        )
        self._tf_pub = None
        if cfg.publish_tf and TFMessage is not None:
            self._tf_pub = self.create_publisher(TFMessage, "/tf", SENSOR_QOS)
            self.create_publisher(TFMessage, "/tf_static", STATIC_QOS).publish(
                self._camera_static_tf()
            )
        elif cfg.publish_tf:
            self.get_logger().info(
                "tf2_msgs is not installed (it is not on PyPI): not publishing tf odom -> "
                f"{cfg.base_frame}; odom carries the same pose"
            )
        command_sub = self.create_subscription(
            TwistStamped if cfg.cmd_vel_stamped else Twist,
            "cmd_vel",
            self._on_cmd_vel,
            COMMAND_QOS,
        )
        self._cmd_watch = command_type_watch(self, command_sub, cfg.cmd_vel_stamped)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._command = np.zeros(2)
        self._command_time_s = -math.inf
        self._commands_received = 0
        self._rejected = RejectionCounter()
        self._reported_rejections = 0
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self._diagnostics_timer = self.create_timer(
            cfg.diagnostics_period_s,
            self._publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )
        self._camera_period_s = 1.0 / self._camera_rate_hz
        self._odom_period_s = 1.0 / cfg.odom_rate_hz
        self._scan_period_s = 1.0 / lidar.rate_hz if lidar else math.inf
        self._next_scan_s = self.sim.time_s
        self._next_camera_s = self.sim.time_s
        self._next_odom_s = self.sim.time_s
        self._anchor: tuple[float, float] | None = None  # (wall, sim) at the first tick
        self._lag_resets = 0
        fastest = min(self._camera_period_s, self._odom_period_s)
        period = (
            0.001 if cfg.real_time_factor <= 0 else max(0.001, fastest / cfg.real_time_factor / 2)
        )
        self.create_timer(period, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        arena = self.sim.arena_map()
        self.get_logger().info(
            f"layout {cfg.layout_seed}: {len(arena.obstacles)} obstacles in a "
            f"{2 * arena.half_size_m:.1f} m arena; "
            f"robot '{cfg.robot or 'default'}', camera {sim_config.camera_width}x"
            f"{sim_config.camera_height} {self._encoding} @ {self._camera_rate_hz:g} Hz, odom @ "
            f"{cfg.odom_rate_hz:g} Hz, "
            f"real_time_factor {cfg.real_time_factor:g}"
        )

    def _on_parameters(self, config: SimNodeConfig, changed: set[str]) -> None:
        """Rates, the real-time factor and the command timeout change on the fly."""
        # a robot file's base decides the command type (static; kept across changes)
        self.cfg = replace(config, cmd_vel_stamped=self.cfg.cmd_vel_stamped)
        if "camera_rate_hz" in changed:  # the robot file's rate until the parameter is set
            self._camera_rate_hz = config.camera_rate_hz
        self._camera_period_s = 1.0 / self._camera_rate_hz
        self._odom_period_s = 1.0 / config.odom_rate_hz
        self._anchor = None  # re-anchor wall and simulated time at the next tick
        if "diagnostics_period_s" in changed:
            self._diagnostics_timer.timer_period_ns = int(1e9 * config.diagnostics_period_s)

    # -- inputs -----------------------------------------------------------------------------
    def _on_cmd_vel(self, msg: Twist | TwistStamped) -> None:
        twist = msg.twist if isinstance(msg, TwistStamped) else msg
        try:
            vw = twist_to_vw(twist, self.cfg.input_bounds)
        except InputError as exc:
            count = self._rejected.add("cmd_vel", exc.reason)
            self.get_logger().warn(
                f"ignoring cmd_vel ({exc.reason}): {exc.detail} ({count} so far)",
                throttle_duration_sec=5.0,
            )
            return
        self._commands_received += 1
        self._command, self._command_time_s = vw, self.sim.time_s

    def _publish_diagnostics(self) -> None:
        rejected = self._rejected.counts
        values = {
            "sim_time_s": f"{self.sim.time_s:.3f}",
            "cmd_vel_received": str(self._commands_received),
            "rejected": str(self._rejected.total()),
            "lag_resets": str(self._lag_resets),
            **{f"rejected.{t}.{r}": str(n) for (t, r), n in rejected.items()},
        }
        new = self._rejected.total() - self._reported_rejections
        self._reported_rejections = self._rejected.total()
        problems = [f"{new} commands rejected since the last report"] if new else []
        problems += self._cmd_watch.check()  # a commander of the other type reaches nothing
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
            name=f"{self.get_name()}: simulator",
            message="; ".join(problems) if problems else "running",
            hardware_id=f"layout {self.cfg.layout_seed}",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        header = Header(stamp=self.get_clock().now().to_msg())
        self._diagnostics_pub.publish(DiagnosticArray(header=header, status=[status]))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.sim.reset()
        self._command_time_s = -math.inf
        x, y, yaw = self.sim.pose()
        response.success, response.message = True, f"reset to x={x:.2f} y={y:.2f} yaw={yaw:.2f}"
        return response

    # -- the loop ---------------------------------------------------------------------------
    def _tick(self) -> None:
        """Advance simulated time to where the wall clock says it should be, event by event."""
        wall_now = time.monotonic()
        started = wall_now
        if self._anchor is None:
            self._anchor = (wall_now, self.sim.time_s)
        if self.cfg.real_time_factor > 0:
            target_s = self._anchor[1] + (wall_now - self._anchor[0]) * self.cfg.real_time_factor
            if (
                target_s - self.sim.time_s > 0.5
            ):  # the machine cannot keep up: do not try to catch up
                self._lag_resets += 1
                self.get_logger().warn(
                    f"running slower than real_time_factor {self.cfg.real_time_factor:g} "
                    f"({self._lag_resets} resyncs)",
                    throttle_duration_sec=10.0,
                )
                self._anchor = (wall_now, self.sim.time_s)
                target_s = self.sim.time_s
        else:
            target_s = math.inf
        while time.monotonic() - started < 0.05:  # leave room for subscriptions and services
            next_event_s = min(self._next_camera_s, self._next_odom_s)
            if next_event_s > target_s:
                break
            stale = self.sim.time_s - self._command_time_s > self.cfg.cmd_timeout_s
            half_step_s = 0.5 * self.sim.config.timestep_s  # events land on whole physics steps
            if next_event_s > self.sim.time_s + half_step_s:
                self.sim.step(
                    np.zeros(2) if stale else self._command,
                    max(next_event_s - self.sim.time_s, self.sim.config.timestep_s),
                )
            now_s = self.sim.time_s
            if self._next_odom_s <= now_s + half_step_s:
                self._publish_odometry(now_s)
                self._next_odom_s += self._odom_period_s
            if self._next_camera_s <= now_s + half_step_s:
                self._publish_camera(now_s)
                self._next_camera_s += self._camera_period_s

    # -- outputs ----------------------------------------------------------------------------
    def _publish_odometry(self, now_s: float) -> None:
        stamp = stamp_msg(now_s)
        pose, twist = self.sim.odometry()
        self._odom_pub.publish(self._odometry_msg(stamp, pose, twist))
        if self._true_odom_pub is not None:
            self._true_odom_pub.publish(
                self._odometry_msg(stamp, self.sim.pose(), self.sim.twist())
            )
        if self._clock_pub is not None:
            self._clock_pub.publish(ClockMsg(clock=stamp))
        if self._bumper_pub is not None:
            self._bumper_pub.publish(Bool(data=self.sim.bumper_pressed()))
        if self._scan_pub is not None and now_s + 1e-9 >= self._next_scan_s:
            self._next_scan_s += self._scan_period_s
            self._scan_pub.publish(
                laser_scan_msg(Header(stamp=stamp, frame_id="laser"), self.sim.config.lidar,
                               self.sim.scan())
            )  # fmt: skip
        if self._tf_pub is not None:
            qx, qy, qz, qw = yaw_to_quaternion(float(pose[2]))
            self._tf_pub.publish(
                TFMessage(
                    transforms=[
                        TransformStamped(
                            header=Header(stamp=stamp, frame_id=self.cfg.odom_frame),
                            child_frame_id=self.cfg.base_frame,
                            transform=Transform(
                                translation=Vector3(x=float(pose[0]), y=float(pose[1]), z=0.0),
                                rotation=Quaternion(x=qx, y=qy, z=qz, w=qw),
                            ),
                        )
                    ]
                )
            )

    def _odometry_msg(self, stamp, pose: np.ndarray, twist: np.ndarray) -> Odometry:
        header = Header(stamp=stamp, frame_id=self.cfg.odom_frame)
        return odometry_msg(header, self.cfg.base_frame, pose, twist, self.cfg.odom_noise)

    def _publish_camera(self, now_s: float) -> None:
        stamp = stamp_msg(now_s)
        header = Header(stamp=stamp, frame_id=self.cfg.camera_frame)
        height, width, step, data = encode_raw(self.sim.render(), self._encoding)
        image = Image(
            header=header,
            height=height,
            width=width,
            encoding=self._encoding,
            is_bigendian=0,
            step=step,
        )
        image.data = array.array(
            "B", data
        )  # the fast path of the generated setter (bytes are checked one by one)
        self._image_pub.publish(image)
        self._info_pub.publish(
            camera_info_msg(header, width, height, self.sim.camera_intrinsics())
        )
        self._contact_pub.publish(Bool(data=self.sim.in_contact()))

    def _camera_static_tf(self):
        """base_link -> camera optical frame (z forward, x right, y down), pitched down."""
        position, pitch = self.sim.camera_pose_in_base()
        # Optical frame from base axes: R = Ry(pitch) * [[0,0,1],[-1,0,0],[0,-1,0]] as a
        # quaternion.
        body_to_optical = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
        c, s = math.cos(pitch), math.sin(pitch)
        rotation = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]) @ body_to_optical
        w = math.sqrt(max(0.0, 1.0 + np.trace(rotation))) / 2.0
        x = (rotation[2, 1] - rotation[1, 2]) / (4 * w)
        y = (rotation[0, 2] - rotation[2, 0]) / (4 * w)
        z = (rotation[1, 0] - rotation[0, 1]) / (4 * w)
        return TFMessage(
            transforms=[
                TransformStamped(
                    header=Header(stamp=stamp_msg(0.0), frame_id=self.cfg.base_frame),
                    child_frame_id=self.cfg.camera_frame,
                    transform=Transform(
                        translation=Vector3(
                            x=float(position[0]), y=float(position[1]), z=float(position[2])
                        ),
                        rotation=Quaternion(x=x, y=y, z=z, w=w),
                    ),
                )
            ]
        )

    def destroy_node(self) -> None:
        self.sim.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args, name="sim_node", fatal=(RobotFileError,))


if __name__ == "__main__":
    raise SystemExit(main())
