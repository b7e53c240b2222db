"""Everything the world-model node does, for a plain node and a lifecycle node alike.

Each cycle takes the newest camera frame, pairs it with odometry at the frame's stamp, chooses
the actions to predict under (a fresh planner plan, else the last command held, else the
measured twist held), runs the world model's ``encode`` and ``rollout`` and publishes the
prediction, a path and rviz markers stamped with the camera frame's stamp. Model math lives in
core; this module converts, calls and publishes.

``WorldModelRuntime`` holds the parameters, the loaded models, subscriptions, the workers,
live error, the shadow model and reload; the nodes in ``world_model_node.py`` only call its
stages. Settings are in ``world_model_config.py``, loading in ``model_loading.py``, the
diagnostics wording in ``world_model_diagnostics.py``.

Threading: subscription callbacks only validate headers and store the newest input (cheap);
a dedicated worker thread runs the prediction cycles, woken as soon as a frame arrives. So a
slow model never delays odometry or command callbacks (the odometry buffer stays current), and
frames that arrive during inference replace each other (counted as dropped) instead of queueing.
A worker thread rather than a timer in its own callback group: it starts a cycle the moment a
frame lands, with no polling delay. The shadow model has a worker of its own, so the primary
never waits for it. The reload service runs on the node's single executor thread (see
``run_node`` in ``lifetime.py``): a reload holds the callbacks for its load time, while
the worker keeps predicting with the old model.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Bool, Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from world_model_ros.core.data.images import ImageError
from world_model_ros.core.live.input_checks import (
    InputError,
    RejectionCounter,
    WarningThrottle,
    require_frame_id,
)
from world_model_ros.core.live.latency import LatencyMonitor, StageTimer
from world_model_ros.core.live.live_error import LiveErrorTracker
from world_model_ros.core.live.sync import (
    OdomBuffer,
    OdomSample,
    Plan,
    StampMonitor,
    StampOrder,
    SyncError,
    align_plan,
)
from world_model_ros.core.model.contract import Observation
from world_model_ros.msg import LiveError, WorldModelPrediction
from world_model_ros.nodes import conversions as conv
from world_model_ros.nodes.model_loading import (
    LoadedModel,
    ModelLoadError,
    checkpoint_sha,
    load_model,
)
from world_model_ros.nodes.qos import CAMERA_QOS, COMMAND_QOS, ODOM_QOS, OUTPUT_QOS, QOS_OVERRIDES
from world_model_ros.nodes.world_model_config import (
    MODEL_PARAMETERS,
    PARAMETERS,
    RUNTIME_PARAMETERS,
    WorldModelNodeConfig,
    declare_parameters,
    read_config,
)
from world_model_ros.nodes.world_model_diagnostics import (
    DiagnosticsSnapshot,
    diagnostic_statuses,
    live_error_report,
)


@dataclass
class _Frame:
    """The newest camera message waiting for the worker (not decoded yet: decoding is a stage)."""

    msg: Image | CompressedImage
    stamp_s: float


@dataclass
class _Command:
    vw: np.ndarray
    received_s: float  # node clock


@dataclass
class _ShadowJob:
    stamp: object  # builtin_interfaces/Time of the frame
    stamp_s: float
    frame_id: str
    observation: Observation
    actions_h2: np.ndarray
    source: str


class WorldModelRuntime:
    """Everything the world-model node does, for a plain node and a lifecycle node alike.

    Stages: ``configure`` (read parameters, load and warm the models, create interfaces),
    ``activate`` / ``deactivate`` (publish or not), ``cleanup`` (stop workers, destroy
    interfaces, free the models and the device memory).
    """

    def __init__(self, node: Node):
        self.node = node
        declare_parameters(node)
        self.config = read_config(
            node
        )  # re-read at configure (a lifecycle node may change it before)
        self.loaded = False
        self.active = False
        self.primary: LoadedModel | None = None
        self.shadow: LoadedModel | None = None
        node.add_on_set_parameters_callback(self._on_set_parameters)

    # --- stages --------------------------------------------------------------------------------

    def configure(self) -> None:
        node = self.node
        self.config = cfg = read_config(node)
        if cfg.torch_threads > 0:
            torch.set_num_threads(cfg.torch_threads)
        warn = node.get_logger().error
        self.primary = load_model(cfg, log=warn)
        self.shadow = (
            load_model(cfg, cfg.shadow_model, cfg.shadow_checkpoint, log=warn)
            if cfg.shadow_model
            else None
        )
        self.horizon = int(self.primary.model.horizon)
        self.dt_s = float(self.primary.model.dt_s)
        for loaded in (self.primary, self.shadow):
            if loaded is not None:
                for note in getattr(loaded.engine, "notes", []):
                    node.get_logger().info(f"{loaded.model.model_id}: {note}")

        # Shared between the executor thread (callbacks) and the workers; held only briefly.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._shadow_wake = threading.Condition(self._lock)
        self._pending: _Frame | None = None
        self._shadow_job: _ShadowJob | None = None
        self._stopping = False
        self._odom = OdomBuffer(history_s=max(cfg.odom_history_s, 0.5 + self.horizon * self.dt_s))
        self._command: _Command | None = None
        self._plan: Plan | None = None
        self._stamps = {
            name: StampMonitor(cfg.time_reset_threshold_s) for name in ("camera", "odom")
        }
        self._latency = LatencyMonitor(cfg.budget_ms, cfg.latency_window)
        self._shadow_latency = LatencyMonitor(cfg.budget_ms, cfg.latency_window)
        self._live = {"primary": self._tracker(cfg), "shadow": self._tracker(cfg)}
        self._rejected = RejectionCounter()  # bad messages, per (topic, reason)
        self._skipped = RejectionCounter()  # good frames not predicted on, per (topic, reason)
        self._throttle = WarningThrottle(cfg.warn_throttle_s)
        self._counts = {
            "frames_received": 0,
            "frames_processed": 0,
            "frames_dropped": 0,
            "odom_received": 0,
            "cmd_vel_received": 0,
            "plan_received": 0,
            "contact_received": 0,
            "time_resets": 0,
            "odom_resets": 0,
            "internal_errors": 0,
            "reloads": 0,
            "reload_failures": 0,
            "shadow_processed": 0,
            "shadow_dropped": 0,
            "shadow_errors": 0,
        }
        self._source_counts = {"plan": 0, "cmd_vel": 0, "odometry": 0, "none": 0}
        self._last_report = {"deadline_misses": 0, "rejected": 0, "skipped": 0, "processed": 0}
        self._messages = conv.PredictionMessages()  # worker thread only
        self._shadow_messages = conv.PredictionMessages("world_model/shadow")  # shadow thread only
        self._last_frame_monotonic: float | None = None
        self._last_reload = "none"

        # Interfaces (created here so a lifecycle node has none while unconfigured).
        if cfg.use_compressed:
            self._camera_sub = node.create_subscription(
                CompressedImage,
                "camera/image_raw/compressed",
                self._on_camera,
                CAMERA_QOS,
                qos_overriding_options=QOS_OVERRIDES,
            )
        else:
            self._camera_sub = node.create_subscription(
                Image,
                "camera/image_raw",
                self._on_camera,
                CAMERA_QOS,
                qos_overriding_options=QOS_OVERRIDES,
            )
        self._odom_sub = node.create_subscription(
            Odometry, "odom", self._on_odom, ODOM_QOS, qos_overriding_options=QOS_OVERRIDES
        )
        self._cmd_sub = node.create_subscription(
            TwistStamped if cfg.cmd_vel_stamped else Twist,
            "cmd_vel",
            self._on_cmd_vel,
            COMMAND_QOS,
            qos_overriding_options=QOS_OVERRIDES,
        )
        self._plan_sub = node.create_subscription(
            WorldModelPrediction,
            "mpc_planner/plan",
            self._on_plan,
            COMMAND_QOS,
            qos_overriding_options=QOS_OVERRIDES,
        )
        self._contact_sub = node.create_subscription(
            Bool, "ground_truth/contact", self._on_contact, ODOM_QOS
        )
        self._prediction_pub = node.create_publisher(
            WorldModelPrediction, "world_model/prediction", OUTPUT_QOS
        )
        self._path_pub = node.create_publisher(PathMsg, "world_model/predicted_path", OUTPUT_QOS)
        self._marker_pub = node.create_publisher(MarkerArray, "world_model/markers", OUTPUT_QOS)
        self._diagnostics_pub = node.create_publisher(DiagnosticArray, "diagnostics", OUTPUT_QOS)
        self._live_pub = node.create_publisher(LiveError, "world_model/live_error", OUTPUT_QOS)
        self._shadow_pub = self._shadow_live_pub = None
        if self.shadow is not None:
            self._shadow_pub = node.create_publisher(
                WorldModelPrediction, "world_model/shadow/prediction", OUTPUT_QOS
            )
            self._shadow_live_pub = node.create_publisher(
                LiveError, "world_model/shadow/live_error", OUTPUT_QOS
            )
        self._reload_srv = node.create_service(Trigger, "~/reload_model", self._on_reload)
        # Diagnostics on the steady clock: they keep coming while a simulation is paused or reset.
        self._diagnostics_timer = node.create_timer(
            cfg.diagnostics_period_s,
            self._publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )
        self._workers = [
            threading.Thread(target=self._worker_loop, name="world_model_inference", daemon=True)
        ]
        if self.shadow is not None:
            self._workers.append(
                threading.Thread(target=self._shadow_loop, name="world_model_shadow", daemon=True)
            )
        for worker in self._workers:
            worker.start()
        self.loaded = True
        shadow = f"; shadow {self.shadow.description}" if self.shadow else ""
        node.get_logger().info(
            f"model {self.primary.description}: H={self.horizon} x dt={self.dt_s:g} s, budget "
            f"{cfg.budget_ms:g} ms, "
            f"warm-up {self.primary.warmup_ms:.1f} ms{shadow}; camera "
            f"'{self._camera_sub.topic_name}', odometry "
            f"'{self._odom_sub.topic_name}', commands '{self._cmd_sub.topic_name}', plan "
            f"'{self._plan_sub.topic_name}'"
        )

    def activate(self) -> None:
        with self._lock:
            self.active = True
            self._pending = None

    def deactivate(self) -> None:
        with self._lock:
            self.active = False
            self._pending = None
            self._shadow_job = None

    def cleanup(self) -> None:
        """Stop the workers, destroy every interface, free the models (and CUDA memory)."""
        if not self.loaded:
            return
        self.deactivate()
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
            self._shadow_wake.notify_all()
        for worker in self._workers:
            worker.join(timeout=5.0)
        node = self.node
        for sub in (
            self._camera_sub,
            self._odom_sub,
            self._cmd_sub,
            self._plan_sub,
            self._contact_sub,
        ):
            node.destroy_subscription(sub)
        for pub in (
            self._prediction_pub,
            self._path_pub,
            self._marker_pub,
            self._diagnostics_pub,
            self._live_pub,
            self._shadow_pub,
            self._shadow_live_pub,
        ):
            if pub is not None:
                node.destroy_publisher(pub)
        node.destroy_service(self._reload_srv)
        node.destroy_timer(self._diagnostics_timer)
        on_cuda = any(
            m is not None and m.model.device.type == "cuda" for m in (self.primary, self.shadow)
        )
        self.primary = self.shadow = None
        self.loaded = False
        if on_cuda:
            torch.cuda.empty_cache()

    # --- parameters at run time ----------------------------------------------------------------

    def _tracker(self, cfg: WorldModelNodeConfig) -> LiveErrorTracker:
        return LiveErrorTracker(
            cfg.live_error_window, cfg.live_error_sample_period_s, cfg.collision_threshold
        )

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Validate first, then apply all together; static parameters are refused with the
        reason."""
        ours = [p for p in params if p.name in PARAMETERS]
        if not ours:
            return SetParametersResult(successful=True)
        if not self.loaded:  # a lifecycle node before configure: everything is read at configure
            return SetParametersResult(successful=True)
        changes = {}
        for param in ours:
            if param.name not in RUNTIME_PARAMETERS:
                if param.name in MODEL_PARAMETERS:
                    why = (
                        "changes the loaded model: restart the node, or (lifecycle node) "
                        "deactivate, cleanup, "
                        "set it and configure again; to re-read the same checkpoint path call "
                        "~/reload_model"
                    )
                else:
                    why = (
                        "fixes topics or buffers at start: restart the node (lifecycle node: "
                        "cleanup, then configure)"
                    )
                return SetParametersResult(
                    successful=False,
                    reason=f"parameter '{param.name}' cannot change at run time: it {why}",
                )
            changes[param.name] = param.value
        if "horizon" in changes:
            limit = self.primary.max_horizon
            if self.shadow is not None:
                limit = min(limit, self.shadow.max_horizon)
            if not 1 <= int(changes["horizon"]) <= limit:
                return SetParametersResult(
                    successful=False,
                    reason=f"horizon {changes['horizon']} is outside "
                    f"[1, {limit}] (the loaded model's trained horizon)",
                )
        new = dataclasses.replace(self.config, **changes)
        with self._lock:
            self.config = new
            if "horizon" in changes:
                self.horizon = int(new.horizon)
                self._odom.history_s = max(new.odom_history_s, 0.5 + self.horizon * self.dt_s)
            self._latency.budget_ms = self._shadow_latency.budget_ms = new.budget_ms
            self._throttle.period_s = new.warn_throttle_s
            for tracker in self._live.values():
                tracker.set_window(new.live_error_window)
                tracker.sample_period_s = new.live_error_sample_period_s
                tracker.collision_threshold = new.collision_threshold
        if "diagnostics_period_s" in changes:
            self._diagnostics_timer.timer_period_ns = int(new.diagnostics_period_s * 1e9)
        self.node.get_logger().info(
            "parameters changed at run time: " + ", ".join(f"{k}={v}" for k, v in changes.items())
        )
        return SetParametersResult(successful=True)

    # --- reload --------------------------------------------------------------------------------

    def _on_reload(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Load the configured checkpoint(s) again and swap them in; on failure keep the old
        ones."""
        cfg = self.config
        log = self.node.get_logger()
        try:
            with self._lock:
                horizon = self.horizon
            primary = load_model(cfg, horizon=horizon, log=log.error)
            shadow = (
                load_model(
                    cfg, cfg.shadow_model, cfg.shadow_checkpoint, horizon=horizon, log=log.error
                )
                if cfg.shadow_model
                else None
            )
        except Exception as exc:  # noqa: BLE001 - any failure keeps the running model
            with self._lock:
                self._counts["reload_failures"] += 1
                self._last_reload = f"failed: {exc}"
            response.success = False
            response.message = f"reload failed, still running {self.primary.description}: {exc}"
            log.error(response.message)
            return response
        with self._lock:
            self.primary, self.shadow = primary, (shadow if self.shadow is not None else None)
            self.dt_s = float(primary.model.dt_s)
            for tracker in self._live.values():
                tracker.reset()  # old predictions belong to the old weights
            self._counts["reloads"] += 1
        shas = [
            f"{name} {loaded.model.model_id}"
            + (f" sha256 {sha}" if (sha := checkpoint_sha(kind, ckpt)) else "")
            for name, loaded, kind, ckpt in (
                ("primary", primary, cfg.model, cfg.checkpoint),
                ("shadow", shadow, cfg.shadow_model, cfg.shadow_checkpoint),
            )
            if loaded is not None
        ]
        response.success = True
        response.message = "reloaded " + "; ".join(shas)
        with self._lock:
            self._last_reload = response.message
        log.info(response.message)
        return response

    # --- bookkeeping ---------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _warn(self, key: tuple, text: str) -> None:
        allowed, held = self._throttle.allow(key, time.monotonic())
        if allowed:
            self.node.get_logger().warning(
                text + (f" ({held} more since the last warning)" if held else "")
            )

    def _reject(self, topic: str, reason: str, detail: str) -> None:
        """A message that cannot be used: counted per topic and reason, warned about
        (throttled)."""
        with self._lock:
            self._rejected.add(topic, reason)
        self._warn(
            ("rejected", topic, reason), f"rejected message on '{topic}' ({reason}): {detail}"
        )

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
            self._reject(
                topic,
                "stamp_backwards",
                f"stamp {stamp_s:.6f} s is older than the previous message's",
            )
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
            self._shadow_job = None
            self._latency.clear_windows()
            self._shadow_latency.clear_windows()
            for tracker in self._live.values():
                tracker.reset()
            self._counts["time_resets"] += 1
        self._warn(
            ("time_reset",),
            f"time went backwards ({why}): cleared odometry, command, plan and "
            f"latency history (simulation reset?)",
        )

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
            self._last_frame_monotonic = time.monotonic()
            if not self.active:
                return  # a configured but inactive lifecycle node: no predictions
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
        reset = None
        with self._lock:
            last = self._odom.latest
            if last is not None:
                jump_m = float(np.hypot(*(sample.pose_xyyaw[:2] - last.pose_xyyaw[:2])))
                if sample.frame_id != last.frame_id:
                    reset = f"odometry frame changed from '{last.frame_id}' to '{sample.frame_id}'"
                elif jump_m > self.config.odom_jump_m and sample.stamp_s - last.stamp_s < 1.0:
                    reset = (
                        f"pose jumped {jump_m:.2f} m in {sample.stamp_s - last.stamp_s:.3f} s "
                        f"(odom_jump_m={self.config.odom_jump_m:g})"
                    )
            if reset is not None:
                self._odom.clear()
                for tracker in self._live.values():
                    tracker.reset()
                self._counts["odom_resets"] += 1
            self._odom.add(sample)
            self._counts["odom_received"] += 1
        if reset is not None:
            self._warn(
                ("odom_reset",),
                f"odometry reset on '{topic}': {reset}; cleared odometry history "
                f"and pending live-error predictions",
            )

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

    def _on_contact(self, msg: Bool) -> None:
        """Contact ground truth (no header: stamped with the node clock on receipt)."""
        now_s = self._now_s()
        with self._lock:
            for tracker in self._live.values():
                tracker.add_contact(now_s, bool(msg.data))
            self._counts["contact_received"] += 1

    # --- the prediction cycle (worker thread) --------------------------------------------------

    def _set_worker_priority(self) -> None:
        """SCHED_FIFO for the calling (inference) thread when configured: other processes on a busy
        robot computer then cannot delay a cycle that has started. Refused loudly, never
        silently."""
        priority = self.config.worker_priority
        if priority <= 0:
            return
        try:
            os.sched_setscheduler(
                0, os.SCHED_FIFO, os.sched_param(priority)
            )  # 0: this thread (Linux)
        except (AttributeError, OSError) as exc:
            self.node.get_logger().warning(
                f"worker_priority {priority}: cannot use SCHED_FIFO ({exc}); running at "
                f"normal priority (grant CAP_SYS_NICE or an rtprio limit)"
            )
            return
        self.node.get_logger().info(f"inference thread runs SCHED_FIFO priority {priority}")

    def _take(self, wake: threading.Condition, slot: str):
        """Wait (holding ``wake``) until the one-deep ``slot`` holds a job, empty it and return
        the job; None when the runtime is stopping. Newer jobs overwrite older ones in the
        slot: a late prediction is worth less than the next frame's."""
        wake.wait_for(lambda: getattr(self, slot) is not None or self._stopping)
        if self._stopping:
            return None
        job = getattr(self, slot)
        setattr(self, slot, None)
        return job

    @staticmethod
    def _predict(
        engine, observation: Observation, actions_h2: np.ndarray, timer: StageTimer
    ) -> dict:
        """Encode one observation and roll the model out under ``actions_h2``, timing each
        stage."""
        with timer.stage("preprocess"):
            actions_1h2 = engine.set_actions(actions_h2)
        with timer.stage("encode"):
            latent = engine.encode(observation)
        with timer.stage("rollout"):
            return engine.rollout(latent, actions_1h2)

    def _worker_loop(self) -> None:
        self._set_worker_priority()
        while True:
            with self._wake:
                frame = self._take(self._wake, "_pending")
                if frame is None:
                    return
                primary, horizon = self.primary, self.horizon
            try:
                self._cycle(frame, primary, horizon)
            except torch.cuda.OutOfMemoryError as exc:
                self._on_out_of_memory(primary, exc)
            except (
                Exception
            ) as exc:  # a bug must not kill the node's only worker; it is counted and logged
                with self._lock:
                    self._counts["internal_errors"] += 1
                self.node.get_logger().error(
                    f"prediction cycle failed: {type(exc).__name__}: {exc}",
                    throttle_duration_sec=5.0,
                )

    def _cycle(self, frame: _Frame, primary: LoadedModel, horizon: int) -> None:
        cfg = self.config
        topic = self._camera_sub.topic_name
        timer = StageTimer()
        now_s = self._now_s()
        engine = primary.engine
        dt_s = float(primary.model.dt_s)

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
                self._skip(
                    "stale",
                    f"frame is {age_s:.3f} s old (max_input_age_s={cfg.max_input_age_s:g})",
                )
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
                detail = (
                    f"no odometry received on '{self._odom_sub.topic_name}'"
                    if error.reason == "no_odometry"
                    else str(error).split(": ", 1)[-1]
                )
                self._skip(error.reason, detail)
                return

        with timer.stage("preprocess"):
            actions_h2, source = self._select_actions(
                frame.stamp_s, now_s, odom, command, plan, horizon, dt_s
            )
            observation = Observation(frame.stamp_s, rgb_hw3, odom.pose_xyyaw, odom.twist_vw)
        rollout_np = self._predict(engine, observation, actions_h2, timer)
        with timer.stage("publish"):
            prediction, latency_s = self._publish_prediction(
                frame.msg.header.stamp,
                frame.stamp_s,
                odom,
                primary.model.model_id,
                dt_s,
                rollout_np,
                actions_h2,
                source,
            )
        with self._lock:
            self._counts["frames_processed"] += 1
            self._source_counts[source] += 1
            missed = self._latency.record(1e3 * latency_s, timer.ms)
            self._live["primary"].add_prediction(
                frame.stamp_s,
                dt_s,
                odom.frame_id,
                rollout_np["poses_bh3"][0],
                rollout_np["collision_prob_bh"][0],
            )
            if self.shadow is not None and self.active:
                if self._shadow_job is not None:
                    self._counts["shadow_dropped"] += 1
                self._shadow_job = _ShadowJob(
                    frame.msg.header.stamp,
                    frame.stamp_s,
                    odom.frame_id,
                    observation,
                    actions_h2,
                    source,
                )
                self._shadow_wake.notify()
            self._score_live_errors()
        if missed:
            self._warn(
                ("deadline",),
                f"deadline missed: latency {1e3 * latency_s:.1f} ms > budget_ms "
                f"{cfg.budget_ms:g} (stages: "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in timer.ms.items())
                + ")",
            )

    def _on_out_of_memory(self, primary: LoadedModel, exc: BaseException) -> None:
        """CUDA ran out of memory mid-run: move to the CPU when configured, else say what to do."""
        log = self.node.get_logger()
        with self._lock:
            self._counts["internal_errors"] += 1
        if self.config.device_fallback != "cpu":
            log.error(
                f"CUDA out of memory during inference on {primary.model.device} ({exc}); frames "
                "are failing. "
                f"Free GPU memory or set device_fallback: cpu",
                throttle_duration_sec=5.0,
            )
            return
        log.error(
            f"CUDA out of memory during inference ({exc}); reloading on the CPU (device_fallback: "
            "cpu)"
        )
        torch.cuda.empty_cache()
        cpu_config = dataclasses.replace(self.config, device="cpu")
        with self._lock:
            horizon = self.horizon
        try:
            loaded = load_model(cpu_config, horizon=horizon, log=log.error)
        except ModelLoadError as load_exc:
            log.error(f"CPU fallback failed: {load_exc}")
            return
        loaded.fallback = (
            f"CUDA out of memory on {primary.model.device} at run time; fell back to the CPU "
            f"(device_fallback: cpu)"
        )
        with self._lock:
            self.primary = loaded

    def _publish_prediction(
        self,
        stamp,
        stamp_s: float,
        odom: OdomSample,
        model_id: str,
        dt_s: float,
        rollout_np: dict,
        actions_h2: np.ndarray,
        source: str,
        shadow: bool = False,
    ):
        """Fill the thread's preallocated messages in place and publish them; returns (prediction,
        latency s)."""
        cfg = self.config
        messages = self._shadow_messages if shadow else self._messages
        prediction, path, markers = messages.fill(
            stamp,
            odom.frame_id,
            model_id,
            dt_s,
            rollout_np,
            actions_h2,
            source,
            odom.pose_xyyaw,
            cfg.marker_sigma,
            cfg.marker_lifetime_s,
        )
        latency_s = self._now_s() - stamp_s
        prediction.latency = conv.s_to_duration(latency_s)
        if shadow:
            self._shadow_pub.publish(prediction)
        elif self.active:
            self._prediction_pub.publish(prediction)
            self._path_pub.publish(path)
            self._marker_pub.publish(markers)
        return prediction, latency_s

    def _shadow_loop(self) -> None:
        """The shadow model on the primary's inputs, at its own pace (the newest job only)."""
        while True:
            with self._shadow_wake:
                job = self._take(self._shadow_wake, "_shadow_job")
                if job is None:
                    return
                shadow = self.shadow
            if shadow is None:
                continue
            try:
                timer = StageTimer()
                engine = shadow.engine
                dt_s = float(shadow.model.dt_s)
                rollout_np = self._predict(engine, job.observation, job.actions_h2, timer)
                odom = OdomSample(
                    job.stamp_s, job.observation.pose_xyyaw, job.observation.twist_vw, job.frame_id
                )
                with timer.stage("publish"):
                    _, latency_s = self._publish_prediction(
                        job.stamp,
                        job.stamp_s,
                        odom,
                        shadow.model.model_id,
                        dt_s,
                        rollout_np,
                        job.actions_h2,
                        job.source,
                        shadow=True,
                    )
                with self._lock:
                    self._counts["shadow_processed"] += 1
                    self._shadow_latency.record(1e3 * latency_s, timer.ms)
                    self._live["shadow"].add_prediction(
                        job.stamp_s,
                        dt_s,
                        job.frame_id,
                        rollout_np["poses_bh3"][0],
                        rollout_np["collision_prob_bh"][0],
                    )
            except Exception as exc:  # noqa: BLE001 - the shadow must never take the primary down
                with self._lock:
                    self._counts["shadow_errors"] += 1
                self.node.get_logger().error(
                    f"shadow cycle failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0
                )

    def _score_live_errors(self) -> None:
        """Score pending predictions against the odometry received so far (caller holds the
        lock)."""
        for tracker in self._live.values():
            tracker.score(self._odom, self.config.sync_slop_s)

    def _select_actions(
        self,
        stamp_s: float,
        now_s: float,
        odom: OdomSample,
        command: _Command | None,
        plan: Plan | None,
        horizon: int,
        dt_s: float,
    ) -> tuple[np.ndarray, str]:
        """[H, 2] actions and their source: a fresh plan, else the fresh command held, else the
        measured twist held."""
        cfg = self.config
        if plan is not None and abs(stamp_s - plan.stamp_s) <= cfg.plan_timeout_s:
            return align_plan(plan, stamp_s, horizon, dt_s), "plan"
        # 0 <= age: a command received "in the future" belongs to a timeline the clock has left.
        if command is not None and 0.0 <= now_s - command.received_s <= cfg.cmd_timeout_s:
            return np.repeat(command.vw[None, :], horizon, axis=0), "cmd_vel"
        return np.repeat(odom.twist_vw[None, :], horizon, axis=0), "odometry"

    # --- diagnostics and live error --------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        cfg = self.config
        with self._lock:
            self._score_live_errors()
            primary, shadow, horizon = self.primary, self.shadow, self.horizon
            snapshot = DiagnosticsSnapshot(
                summary=self._latency.summary(),
                shadow_summary=self._shadow_latency.summary(),
                counts=dict(self._counts),
                sources=dict(self._source_counts),
                deadline_misses=self._latency.deadline_misses,
                cycles=self._latency.cycles,
                rejected=dict(self._rejected.counts),
                skipped=dict(self._skipped.counts),
                rejected_by_reason=self._rejected.by_reason(),
                skipped_by_reason=self._skipped.by_reason(),
                primary=primary,
                shadow=shadow,
                horizon=horizon,
                last_frame_monotonic=self._last_frame_monotonic,
                last_reload=self._last_reload,
            )
            stamp = self.node.get_clock().now().to_msg()
            live_msgs = {
                "primary": live_error_report(
                    "primary", self._live["primary"], primary, horizon, stamp
                )
            }
            if shadow is not None:
                live_msgs["shadow"] = live_error_report(
                    "shadow", self._live["shadow"], shadow, horizon, stamp
                )
        statuses, self._last_report = diagnostic_statuses(
            self.node.get_name(),
            cfg,
            snapshot,
            live_msgs,
            dt_s=self.dt_s,
            active=self.active,
            camera_topic=self._camera_sub.topic_name,
            last_report=self._last_report,
        )
        self._diagnostics_pub.publish(DiagnosticArray(header=Header(stamp=stamp), status=statuses))
        self._live_pub.publish(live_msgs["primary"][0])
        if "shadow" in live_msgs and self._shadow_live_pub is not None:
            self._shadow_live_pub.publish(live_msgs["shadow"][0])
