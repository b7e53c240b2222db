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

import threading
import time

import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from world_model_ros.core.live.camera_check import CameraCheck
from world_model_ros.core.live.input_checks import (
    RejectionCounter,
    WarningThrottle,
)
from world_model_ros.core.live.latency import LatencyMonitor
from world_model_ros.core.live.live_error import LiveErrorTracker
from world_model_ros.core.live.scan_log import ScanLog
from world_model_ros.core.live.sync import (
    OdomBuffer,
    Plan,
    StampMonitor,
)
from world_model_ros.msg import LiveError, WorldModelPrediction, WorldModelState
from world_model_ros.nodes import conversions as conv
from world_model_ros.nodes.model_loading import (
    LoadedModel,
    load_model,
)
from world_model_ros.nodes.parameters import ParameterHandler
from world_model_ros.nodes.qos import (
    COMMAND_QOS,
    ODOM_QOS,
    OUTPUT_QOS,
    QOS_OVERRIDES,
    create_camera_subscription,
)
from world_model_ros.nodes.topic_types import command_type_watch
from world_model_ros.nodes.world_model_config import STATIC_REASON, WorldModelNodeConfig
from world_model_ros.nodes.world_model_cycle import (
    Frame,
    HeldCommand,
    TwinPredictionCycle,
)
from world_model_ros.nodes.world_model_domain import TwinDomainCheck
from world_model_ros.nodes.world_model_inputs import TwinInputs
from world_model_ros.nodes.world_model_outputs import TwinOutputs
from world_model_ros.nodes.world_model_services import TwinServices
from world_model_ros.nodes.world_model_shadow import ShadowJob, TwinShadowCycle


class WorldModelRuntime(
    TwinInputs, TwinPredictionCycle, TwinShadowCycle, TwinOutputs, TwinServices, TwinDomainCheck
):
    """Everything the world-model node does, for a plain node and a lifecycle node alike.

    Stages: ``configure`` (read parameters, load and warm the models, create interfaces),
    ``activate`` / ``deactivate`` (publish or not), ``cleanup`` (stop workers, destroy
    interfaces, free the models and the device memory).
    """

    def __init__(self, node: Node):
        self.node = node
        self.params = ParameterHandler(
            node,
            WorldModelNodeConfig,
            check=self._check_params,
            on_change=self._apply_params,
            static_reason=STATIC_REASON,
        )
        self.params.allow_static = True  # until configured: everything is read at configure
        self.config = self.params.config
        self.loaded = False
        self.active = False
        self.primary: LoadedModel | None = None
        self.shadow: LoadedModel | None = None

    # --- stages --------------------------------------------------------------------------------

    def configure(self) -> None:
        node = self.node
        self.config = cfg = self.params.config
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
        self._pending: Frame | None = None
        self._shadow_job: ShadowJob | None = None
        self._stopping = False
        self._odom = OdomBuffer(history_s=max(cfg.odom_history_s, 0.5 + self.horizon * self.dt_s))
        self._command: HeldCommand | None = None
        self._plan: Plan | None = None
        self._stamps = {
            name: StampMonitor(cfg.time_reset_threshold_s, cfg.time_reset_confirm_messages)
            for name in ("camera", "odom", "scan")
        }
        self._latency = LatencyMonitor(cfg.budget_ms, cfg.latency_window)
        self._shadow_latency = LatencyMonitor(cfg.budget_ms, cfg.latency_window)
        self._live = {
            "primary": self._tracker(cfg, keep_completed=True),  # for the domain check
            "shadow": self._tracker(cfg),
        }
        self._rejected = RejectionCounter()  # bad messages, per (topic, reason)
        self._skipped = RejectionCounter()  # good frames not predicted on, per (topic, reason)
        self._throttle = WarningThrottle(cfg.warn_throttle_s)
        self._counts = {
            "frames_received": 0,
            "frames_processed": 0,
            "frames_dropped": 0,
            "odom_received": 0,
            "cmd_vel_received": 0,
            "scan_received": 0,
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
            "invalid_outputs": 0,  # predictions / states withheld by the last check
        }
        self._last_invalid_output = ""
        self._source_counts = {"plan": 0, "cmd_vel": 0, "odometry": 0, "none": 0}
        self._last_report = {"deadline_misses": 0, "rejected": 0, "skipped": 0, "processed": 0}
        self._messages = conv.PredictionMessages()  # worker thread only
        self._shadow_messages = conv.PredictionMessages("world_model/shadow")  # shadow thread only
        self._last_frame_monotonic: float | None = None
        self._last_reload = "none"

        # Interfaces (created here so a lifecycle node has none while unconfigured).
        self._camera_sub = create_camera_subscription(
            node,
            CompressedImage if cfg.use_compressed else Image,
            "camera/image_raw/compressed" if cfg.use_compressed else "camera/image_raw",
            self._on_camera,
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
        self._cmd_watch = command_type_watch(node, self._cmd_sub, cfg.cmd_vel_stamped)
        self._plan_sub = node.create_subscription(
            WorldModelPrediction,
            "mpc_planner/plan",
            self._on_plan,
            COMMAND_QOS,
            qos_overriding_options=QOS_OVERRIDES,
        )
        # A planar LiDAR, for a model whose encoder takes it (``scan_sectors``; best effort:
        # drivers publish either way)
        self._scan_sub = node.create_subscription(
            LaserScan, "scan", self._on_scan, ODOM_QOS, qos_overriding_options=QOS_OVERRIDES
        )
        # the newest few: the one at or before each frame is used (core/live/scan_log.py)
        self._scans = ScanLog()
        self._contact_sub = node.create_subscription(
            Bool, "ground_truth/contact", self._on_contact, ODOM_QOS
        )
        # The trained camera vs the live one: warned once per model (core/live/camera_check.py)
        self._camera_check = CameraCheck()
        node.create_subscription(
            CameraInfo,
            "camera/camera_info",
            lambda m: self._camera_check.on_camera_info(m.width, m.height, m.k[0], m.k[4]),
            ODOM_QOS,
        )
        self._prediction_pub = node.create_publisher(
            WorldModelPrediction, "world_model/prediction", OUTPUT_QOS
        )
        self._path_pub = node.create_publisher(PathMsg, "world_model/predicted_path", OUTPUT_QOS)
        self._marker_pub = node.create_publisher(MarkerArray, "world_model/markers", OUTPUT_QOS)
        self._diagnostics_pub = node.create_publisher(DiagnosticArray, "diagnostics", OUTPUT_QOS)
        self._live_pub = node.create_publisher(LiveError, "world_model/live_error", OUTPUT_QOS)
        self._state_pub = (
            node.create_publisher(WorldModelState, "world_model/state", OUTPUT_QOS)
            if cfg.publish_state
            else None
        )
        self._shadow_pub = self._shadow_live_pub = None
        if self.shadow is not None:
            self._shadow_pub = node.create_publisher(
                WorldModelPrediction, "world_model/shadow/prediction", OUTPUT_QOS
            )
            self._shadow_live_pub = node.create_publisher(
                LiveError, "world_model/shadow/live_error", OUTPUT_QOS
            )
        self._domain_configure()
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
        self.params.allow_static = False
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
        self._camera_sub.destroy()
        for sub in (
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
            self._state_pub,
            self._domain_pub,
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
        self.params.allow_static = True
        if on_cuda:
            torch.cuda.empty_cache()

    # --- parameters at run time ----------------------------------------------------------------

    def _tracker(
        self, cfg: WorldModelNodeConfig, keep_completed: bool = False
    ) -> LiveErrorTracker:
        return LiveErrorTracker(
            cfg.live_error_window,
            cfg.live_error_sample_period_s,
            cfg.collision_threshold,
            keep_completed=keep_completed,
        )

    def _check_params(self, new: WorldModelNodeConfig) -> str | None:
        """What a change needs beyond its field's own checks: a horizon the model can roll."""
        if not self.loaded or new.horizon == self.config.horizon:
            return None
        limit = self.primary.max_horizon
        if self.shadow is not None:
            limit = min(limit, self.shadow.max_horizon)
        if not 1 <= new.horizon <= limit:
            return (
                f"horizon {new.horizon} is outside [1, {limit}] (the loaded model's trained "
                "horizon)"
            )
        return None

    def _apply_params(self, new: WorldModelNodeConfig, changed: set[str]) -> None:
        """Dynamic settings take effect at once (the worker reads them each cycle)."""
        if not self.loaded:
            self.config = new
            return
        with self._lock:
            self.config = new
            self.horizon = int(new.horizon)
            self._odom.history_s = max(new.odom_history_s, 0.5 + self.horizon * self.dt_s)
            self._latency.budget_ms = self._shadow_latency.budget_ms = new.budget_ms
            self._throttle.period_s = new.warn_throttle_s
            for tracker in self._live.values():
                tracker.set_window(new.live_error_window)
                tracker.sample_period_s = new.live_error_sample_period_s
                tracker.collision_threshold = new.collision_threshold
            self._domain.reconfigure(new.domain)
        if "diagnostics_period_s" in changed:
            self._diagnostics_timer.timer_period_ns = int(new.diagnostics_period_s * 1e9)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _warn(self, key: tuple, text: str) -> None:
        allowed, held = self._throttle.allow(key, time.monotonic())
        if allowed:
            self.node.get_logger().warning(
                text + (f" ({held} more since the last warning)" if held else "")
            )
