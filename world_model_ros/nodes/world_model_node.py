"""world_model_node: live predictions of the robot's next states from camera + odometry.

Each cycle takes the newest camera frame, pairs it with odometry at the frame's stamp, chooses
the actions to predict under (a fresh planner plan, else the last command held, else the
measured twist held), runs the world model's ``encode`` and ``rollout`` and publishes the
prediction, a path and rviz markers stamped with the camera frame's stamp. Model math lives in
core; this file converts, calls and publishes.

Threading: subscription callbacks only validate headers and store the newest input (cheap);
a dedicated worker thread runs the prediction cycles, woken as soon as a frame arrives. So a
slow model never delays odometry or command callbacks (the odometry buffer stays current), and
frames that arrive during inference replace each other (counted as dropped) instead of queueing.
A worker thread rather than a timer in its own callback group: it starts a cycle the moment a
frame lands, with no polling delay, and needs no multi-threaded executor.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry, Path
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from world_model_ros.core.contract import Observation, WorldModel
from world_model_ros.core.images import ImageError
from world_model_ros.core.input_checks import InputError, RejectionCounter, WarningThrottle, require_frame_id
from world_model_ros.core.latency import LatencyMonitor, StageTimer
from world_model_ros.core.registry import MODEL_KINDS, ModelSpec, load_world_model
from world_model_ros.core.sync import OdomBuffer, OdomSample, Plan, StampMonitor, StampOrder, SyncError, align_plan
from world_model_ros.msg import WorldModelPrediction
from world_model_ros.nodes import conversions as conv
from world_model_ros.nodes.qos import CAMERA_QOS, COMMAND_QOS, ODOM_QOS, OUTPUT_QOS, QOS_OVERRIDES

NODE_NAME = "world_model_node"


@dataclass(frozen=True)
class WorldModelNodeConfig:
    """Every setting of the node; each field is a declared ROS parameter of the same name."""

    model: str = "kinematic"
    checkpoint: str = ""
    device: str = "auto"
    horizon: int = 20
    dt: float = 0.1
    budget_ms: float = 200.0
    use_compressed: bool = False
    cmd_vel_stamped: bool = False
    cmd_timeout_s: float = 0.5
    plan_timeout_s: float = 0.5
    sync_slop_s: float = 0.05
    odom_history_s: float = 2.0
    max_input_age_s: float = 0.5
    time_reset_threshold_s: float = 1.0
    max_image_pixels: int = 4096 * 4096
    diagnostics_period_s: float = 1.0
    warn_throttle_s: float = 5.0
    latency_window: int = 300
    marker_sigma: float = 2.0
    marker_lifetime_s: float = 1.0


# name -> (description, (min, max) or None). Defaults come from WorldModelNodeConfig.
PARAMETERS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "model": (f"predictor: one of {', '.join(MODEL_KINDS)}. A model that fails to load is an error, never swapped", None),
    "checkpoint": ("latent model only: checkpoint folder ('' = the checkpoint shipped with the package)", None),
    "device": ("torch device: 'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'", None),
    "horizon": ("predicted steps H (a learned model may fix its own; the node uses the loaded model's)", (1, 1000)),
    "dt": ("seconds per predicted step (kinematic model; a learned model's dt comes from its checkpoint)", (0.001, 10.0)),
    "budget_ms": ("deadline per cycle: publish time - camera stamp above this counts as a deadline miss", (1.0, 60000.0)),
    "use_compressed": ("subscribe camera/image_raw/compressed (JPEG/PNG) instead of camera/image_raw", None),
    "cmd_vel_stamped": ("cmd_vel is geometry_msgs/TwistStamped (true) or Twist (false)", None),
    "cmd_timeout_s": ("a command older than this (node clock, since receipt) is stale and no longer held", (0.0, 3600.0)),
    "plan_timeout_s": ("a plan is used while |camera stamp - plan stamp| is at most this", (0.0, 3600.0)),
    "sync_slop_s": ("without odometry on both sides of a frame stamp, use the nearest within this", (0.0, 10.0)),
    "odom_history_s": ("seconds of odometry kept for interpolation", (0.1, 600.0)),
    "max_input_age_s": ("frames older than this (node clock - stamp) are skipped and counted", (0.001, 3600.0)),
    "time_reset_threshold_s": ("a stamp this far behind the last one is a time reset (history cleared); "
                               "less far behind is rejected as out of order", (0.0, 3600.0)),
    "max_image_pixels": ("images with more pixels than this are rejected", (1, 1 << 30)),
    "diagnostics_period_s": ("seconds between diagnostics messages (steady clock)", (0.05, 60.0)),
    "warn_throttle_s": ("at most one warning per topic and reason every this many seconds", (0.0, 3600.0)),
    "latency_window": ("cycles in the rolling latency / stage-timing window", (1, 100000)),
    "marker_sigma": ("uncertainty disc radius in position standard deviations", (0.0, 10.0)),
    "marker_lifetime_s": ("rviz markers expire after this many seconds", (0.0, 3600.0)),
}


class ConfigError(RuntimeError):
    """A parameter value the node cannot run with (wrong type, out of range)."""


class ModelLoadError(RuntimeError):
    """The chosen model could not be loaded; the message names the model, checkpoint and cause."""


def declare_config(node: Node) -> WorldModelNodeConfig:
    """Declare every parameter once (with description and range) and build the config from them."""
    defaults = WorldModelNodeConfig()
    values = {}
    for field in dataclasses.fields(WorldModelNodeConfig):
        description, bounds = PARAMETERS[field.name]
        default = getattr(defaults, field.name)
        descriptor = ParameterDescriptor(description=description, read_only=True)
        if bounds is not None and isinstance(default, int) and not isinstance(default, bool):
            descriptor.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
        elif bounds is not None and isinstance(default, float):
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]),
                                                                  to_value=float(bounds[1]), step=0.0)]
        try:
            values[field.name] = node.declare_parameter(field.name, default, descriptor).value
        except Exception as exc:  # rclpy: InvalidParameterTypeException / InvalidParameterValueException
            expected = type(default).__name__
            raise ConfigError(f"parameter '{field.name}' is invalid ({expected} expected"
                              f"{f' in [{bounds[0]}, {bounds[1]}]' if bounds else ''}): {exc}") from exc
    config = WorldModelNodeConfig(**values)
    if config.model not in MODEL_KINDS:
        raise ConfigError(f"parameter 'model' is '{config.model}'; choose one of {', '.join(MODEL_KINDS)}")
    return config


def load_model(config: WorldModelNodeConfig) -> WorldModel:
    spec = ModelSpec(kind=config.model, checkpoint=config.checkpoint, device=config.device,
                     dt_s=config.dt, horizon=config.horizon)
    try:
        return load_world_model(spec)
    except Exception as exc:
        where = config.checkpoint or "<checkpoint shipped with the package>"
        raise ModelLoadError(f"cannot load world model '{config.model}' (checkpoint: {where}, device: "
                             f"{config.device}): {type(exc).__name__}: {exc}") from exc


@dataclass
class _Frame:
    """The newest camera message waiting for the worker (not decoded yet: decoding is a stage)."""

    msg: Image | CompressedImage
    stamp_s: float


@dataclass
class _Command:
    vw: np.ndarray
    received_s: float  # node clock


class WorldModelNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.config = declare_config(self)
        self.model = load_model(self.config)
        self.horizon = int(self.model.horizon)
        self.dt_s = float(self.model.dt_s)
        cfg = self.config

        # Shared between the executor thread (callbacks) and the worker; held only briefly.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: _Frame | None = None
        self._stopping = False
        self._odom = OdomBuffer(history_s=cfg.odom_history_s)
        self._command: _Command | None = None
        self._plan: Plan | None = None
        self._stamps = {name: StampMonitor(cfg.time_reset_threshold_s) for name in ("camera", "odom")}
        self._latency = LatencyMonitor(cfg.budget_ms, cfg.latency_window)
        self._rejected = RejectionCounter()  # bad messages, per (topic, reason)
        self._skipped = RejectionCounter()  # good frames not predicted on, per (topic, reason)
        self._throttle = WarningThrottle(cfg.warn_throttle_s)
        self._counts = {"frames_received": 0, "frames_processed": 0, "frames_dropped": 0, "odom_received": 0,
                        "cmd_vel_received": 0, "plan_received": 0, "time_resets": 0, "internal_errors": 0}
        self._source_counts = {"plan": 0, "cmd_vel": 0, "odometry": 0, "none": 0}
        self._last_report = {"deadline_misses": 0, "rejected": 0, "skipped": 0, "processed": 0}

        if cfg.use_compressed:
            self._camera_sub = self.create_subscription(CompressedImage, "camera/image_raw/compressed",
                                                        self._on_camera, CAMERA_QOS,
                                                        qos_overriding_options=QOS_OVERRIDES)
        else:
            self._camera_sub = self.create_subscription(Image, "camera/image_raw", self._on_camera, CAMERA_QOS,
                                                        qos_overriding_options=QOS_OVERRIDES)
        self._odom_sub = self.create_subscription(Odometry, "odom", self._on_odom, ODOM_QOS,
                                                  qos_overriding_options=QOS_OVERRIDES)
        self._cmd_sub = self.create_subscription(TwistStamped if cfg.cmd_vel_stamped else Twist, "cmd_vel",
                                                 self._on_cmd_vel, COMMAND_QOS,
                                                 qos_overriding_options=QOS_OVERRIDES)
        self._plan_sub = self.create_subscription(WorldModelPrediction, "mpc_planner/plan", self._on_plan,
                                                  COMMAND_QOS, qos_overriding_options=QOS_OVERRIDES)
        self._prediction_pub = self.create_publisher(WorldModelPrediction, "world_model/prediction", OUTPUT_QOS)
        self._path_pub = self.create_publisher(Path, "world_model/predicted_path", OUTPUT_QOS)
        self._marker_pub = self.create_publisher(MarkerArray, "world_model/markers", OUTPUT_QOS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "diagnostics", OUTPUT_QOS)
        # Diagnostics on the steady clock: they keep coming while a simulation is paused or reset.
        self._diagnostics_timer = self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics,
                                                    clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._worker = threading.Thread(target=self._worker_loop, name="world_model_inference", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"model '{self.model.model_id}' on {self.model.device}: H={self.horizon} x dt={self.dt_s:g} s, "
            f"budget {cfg.budget_ms:g} ms; camera '{self._camera_sub.topic_name}', odometry "
            f"'{self._odom_sub.topic_name}', commands '{self._cmd_sub.topic_name}', plan '{self._plan_sub.topic_name}'")

    # --- bookkeeping ---------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _warn(self, key: tuple, text: str) -> None:
        allowed, held = self._throttle.allow(key, time.monotonic())
        if allowed:
            self.get_logger().warning(text + (f" ({held} more since the last warning)" if held else ""))

    def _reject(self, topic: str, reason: str, detail: str) -> None:
        """A message that cannot be used: counted per topic and reason, warned about (throttled)."""
        with self._lock:
            self._rejected.add(topic, reason)
        self._warn(("rejected", topic, reason), f"rejected message on '{topic}' ({reason}): {detail}")

    def _skip(self, reason: str, detail: str) -> None:
        """A valid frame the node could not predict on (stale, no odometry at its stamp)."""
        topic = self._camera_sub.topic_name
        with self._lock:
            self._skipped.add(topic, reason)
        self._warn(("skipped", reason), f"frame on '{topic}' skipped ({reason}): {detail}")

    def _check_stamp(self, source: str, topic: str, stamp_s: float) -> bool:
        """False when the stamp goes backwards (rejected); a large jump back resets history."""
        with self._lock:
            order = self._stamps[source].check(stamp_s)
        if order is StampOrder.BACKWARDS:
            self._reject(topic, "stamp_backwards", f"stamp {stamp_s:.6f} s is older than the previous message's")
            return False
        if order is StampOrder.RESET:
            self._reset_history(f"stamps on '{topic}' jumped back to {stamp_s:.3f} s")
        return True

    def _reset_history(self, why: str) -> None:
        """Time went backwards (simulation reset): forget everything tied to the old timeline."""
        with self._lock:
            self._odom.clear()
            for monitor in self._stamps.values():
                monitor.clear()
            self._command = None
            self._plan = None
            self._pending = None
            self._latency.clear_windows()
            self._counts["time_resets"] += 1
        self._warn(("time_reset",), f"time went backwards ({why}): cleared odometry, command, plan and "
                                    f"latency history (simulation reset?)")

    # --- subscriptions: cheap, never wait on inference -----------------------------------------

    def _on_camera(self, msg: Image | CompressedImage) -> None:
        topic = self._camera_sub.topic_name
        try:
            require_frame_id(msg.header.frame_id)
        except InputError as exc:
            self._reject(topic, exc.reason, exc.detail)
            return
        stamp_s = conv.time_to_s(msg.header.stamp)
        if not self._check_stamp("camera", topic, stamp_s):
            return
        with self._wake:
            self._counts["frames_received"] += 1
            if self._pending is not None:
                self._counts["frames_dropped"] += 1  # replaced before the worker got to it
            self._pending = _Frame(msg, stamp_s)
            self._wake.notify()

    def _on_odom(self, msg: Odometry) -> None:
        topic = self._odom_sub.topic_name
        try:
            sample = conv.odometry_to_sample(msg)
        except InputError as exc:
            self._reject(topic, exc.reason, exc.detail)
            return
        if not self._check_stamp("odom", topic, sample.stamp_s):
            return
        with self._lock:
            self._odom.add(sample)
            self._counts["odom_received"] += 1

    def _on_cmd_vel(self, msg: Twist | TwistStamped) -> None:
        topic = self._cmd_sub.topic_name
        try:
            vw = conv.twist_to_vw(msg.twist if isinstance(msg, TwistStamped) else msg)
        except InputError as exc:
            self._reject(topic, exc.reason, exc.detail)
            return
        with self._lock:
            self._command = _Command(vw, self._now_s())
            self._counts["cmd_vel_received"] += 1

    def _on_plan(self, msg: WorldModelPrediction) -> None:
        try:
            plan = conv.prediction_to_plan(msg)
        except InputError as exc:
            self._reject(self._plan_sub.topic_name, exc.reason, exc.detail)
            return
        with self._lock:
            self._plan = plan
            self._counts["plan_received"] += 1

    # --- the prediction cycle (worker thread) --------------------------------------------------

    def _worker_loop(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending is not None or self._stopping)
                if self._stopping:
                    return
                frame, self._pending = self._pending, None
            try:
                self._cycle(frame)
            except Exception as exc:  # a bug must not kill the node's only worker; it is counted and logged
                with self._lock:
                    self._counts["internal_errors"] += 1
                self.get_logger().error(f"prediction cycle failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=5.0)

    def _cycle(self, frame: _Frame) -> None:
        cfg = self.config
        topic = self._camera_sub.topic_name
        timer = StageTimer()
        now_s = self._now_s()

        with timer.stage("convert"):
            try:
                if isinstance(frame.msg, CompressedImage):
                    rgb_hw3 = conv.compressed_to_rgb(frame.msg, cfg.max_image_pixels)
                else:
                    rgb_hw3 = conv.image_to_rgb(frame.msg, cfg.max_image_pixels)
            except ImageError as exc:
                self._reject(topic, exc.reason, str(exc).split(": ", 1)[-1])
                return
            age_s = now_s - frame.stamp_s
            if age_s > cfg.max_input_age_s:
                self._skip("stale", f"frame is {age_s:.3f} s old (max_input_age_s={cfg.max_input_age_s:g})")
                return
            with self._lock:
                try:
                    odom = self._odom.lookup(frame.stamp_s, cfg.sync_slop_s)
                except SyncError as exc:
                    error = exc
                else:
                    error = None
                command, plan = self._command, self._plan
            if error is not None:
                detail = (f"no odometry received on '{self._odom_sub.topic_name}'" if error.reason == "no_odometry"
                          else str(error).split(": ", 1)[-1])
                self._skip(error.reason, detail)
                return

        with timer.stage("preprocess"):
            actions_h2, source = self._select_actions(frame.stamp_s, now_s, odom, command, plan)
            observation = Observation(frame.stamp_s, rgb_hw3, odom.pose_xyyaw.astype(np.float32),
                                      odom.twist_vw.astype(np.float32))
            actions_1h2 = torch.as_tensor(actions_h2, dtype=torch.float32).unsqueeze(0)
        with timer.stage("encode"):
            latent = self.model.encode(observation)
        with timer.stage("rollout"):
            rollout_np = self.model.rollout(latent, actions_1h2).to_numpy()
        with timer.stage("publish"):
            header = Header(stamp=frame.msg.header.stamp, frame_id=odom.frame_id)
            prediction = conv.rollout_to_prediction(header, self.model.model_id, self.dt_s, rollout_np,
                                                    actions_h2, source)
            start_pose = conv.pose_from_xyyaw(*odom.pose_xyyaw)
            path = conv.prediction_to_path(prediction, start_pose)
            markers = conv.prediction_to_markers(prediction, start_pose, cfg.marker_sigma, cfg.marker_lifetime_s)
            latency_s = self._now_s() - frame.stamp_s
            prediction.latency = conv.s_to_duration(latency_s)
            self._prediction_pub.publish(prediction)
            self._path_pub.publish(path)
            self._marker_pub.publish(markers)
        with self._lock:
            self._counts["frames_processed"] += 1
            self._source_counts[source] += 1
            missed = self._latency.record(1e3 * latency_s, timer.ms)
        if missed:
            self._warn(("deadline",), f"deadline missed: latency {1e3 * latency_s:.1f} ms > budget_ms "
                                      f"{cfg.budget_ms:g} (stages: " +
                       ", ".join(f"{k} {v:.1f} ms" for k, v in timer.ms.items()) + ")")

    def _select_actions(self, stamp_s: float, now_s: float, odom: OdomSample, command: _Command | None,
                        plan: Plan | None) -> tuple[np.ndarray, str]:
        """[H, 2] actions and their source: a fresh plan, else the fresh command held, else the measured twist held."""
        cfg = self.config
        if plan is not None and abs(stamp_s - plan.stamp_s) <= cfg.plan_timeout_s:
            return align_plan(plan, stamp_s, self.horizon, self.dt_s), "plan"
        # 0 <= age: a command received "in the future" belongs to a timeline the clock has left.
        if command is not None and 0.0 <= now_s - command.received_s <= cfg.cmd_timeout_s:
            return np.repeat(command.vw[None, :], self.horizon, axis=0), "cmd_vel"
        return np.repeat(odom.twist_vw[None, :], self.horizon, axis=0), "odometry"

    # --- diagnostics ---------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        cfg = self.config
        with self._lock:
            summary = self._latency.summary()
            counts = dict(self._counts)
            sources = dict(self._source_counts)
            misses, cycles = self._latency.deadline_misses, self._latency.cycles
            rejected = dict(self._rejected.counts)
            skipped = dict(self._skipped.counts)
            rejected_by_reason = self._rejected.by_reason()
            skipped_by_reason = self._skipped.by_reason()
        values: dict[str, str] = {"model_id": self.model.model_id, "device": str(self.model.device),
                                  "horizon": str(self.horizon), "dt_s": f"{self.dt_s:g}",
                                  "budget_ms": f"{cfg.budget_ms:g}", "deadline_misses": str(misses),
                                  "cycles": str(cycles)}
        values.update({key: (f"{value:.2f}" if math.isfinite(value) else "nan") for key, value in summary.items()})
        values.update({key: str(value) for key, value in counts.items()})
        values["frames_rejected"] = str(sum(rejected.get(k, 0) for k in rejected if k[0] == self._camera_sub.topic_name))
        values["frames_skipped"] = str(sum(skipped.values()))
        values.update({f"frames_skipped.{reason}": str(n) for reason, n in skipped_by_reason.items()})
        values.update({f"rejected.{reason}": str(n) for reason, n in rejected_by_reason.items()})
        values.update({f"rejected.{topic}.{reason}": str(n) for (topic, reason), n in rejected.items()})
        values.update({f"action_source.{source}": str(n) for source, n in sources.items()})

        report = {"deadline_misses": misses, "rejected": sum(rejected.values()), "skipped": sum(skipped.values()),
                  "processed": counts["frames_processed"]}
        new = {key: report[key] - self._last_report[key] for key in report}
        self._last_report = report
        problems = []
        if new["deadline_misses"]:
            problems.append(f"{new['deadline_misses']} deadline misses")
        if new["rejected"]:
            problems.append(f"{new['rejected']} inputs rejected")
        if new["skipped"]:
            problems.append(f"{new['skipped']} frames skipped")
        if counts["internal_errors"]:
            problems.append(f"{counts['internal_errors']} internal errors")
        if problems:
            level, message = DiagnosticStatus.WARN, "; ".join(problems) + " since the last report"
        elif not new["processed"]:
            level, message = DiagnosticStatus.OK, "waiting for camera frames"
        else:
            level, message = DiagnosticStatus.OK, (f"{new['processed']} predictions, latency p95 "
                                                   f"{summary['latency_p95_ms']:.1f} ms (budget {cfg.budget_ms:g} ms)")
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: prediction", message=message,
                                  hardware_id=self.model.model_id,
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self._diagnostics_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                                      status=[status]))

    def shutdown(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._worker.join(timeout=5.0)


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node = None
    try:
        node = WorldModelNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (ConfigError, ModelLoadError) as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(exc))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
