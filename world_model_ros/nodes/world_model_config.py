"""The world-model node's settings: one dataclass whose fields are the node's ROS parameters,
with their descriptions, ranges and whether they may change at run time (``core/config.py``;
declared by ``nodes/parameters.py``). Kept apart from the runtime so the parameter surface
users see (``ros2 param describe``) is in one place. No rclpy here."""

from __future__ import annotations

from dataclasses import dataclass

from world_model_ros.core.config import ConfigError, setting, validate_settings
from world_model_ros.core.live.domain import DomainCheckConfig
from world_model_ros.core.live.input_checks import InputBounds
from world_model_ros.core.model.fast_path import PRECISIONS
from world_model_ros.core.model.registry import MODEL_KINDS

NODE_NAME = "world_model_node"
BACKENDS = ("auto", "torch", "onnxruntime")
STATIC_REASON = (
    "it fixes the model, topics or buffers: restart the node (lifecycle node: deactivate, "
    "cleanup, set it and configure again; ~/reload_model re-reads the same checkpoint path)"
)


@dataclass(frozen=True)
class WorldModelNodeConfig:
    """Every setting of the node; each field is a declared ROS parameter of the same name."""

    model: str = setting(
        "latent",
        "predictor: latent (the learned model of `checkpoint`) or kinematic (the baseline). A "
        "model that fails to load is an error, never swapped",
        choices=MODEL_KINDS,
        dynamic=False,
    )
    checkpoint: str = setting(
        "",
        "latent model only: checkpoint folder ('' = the checkpoint shipped with the package)",
        dynamic=False,
    )
    allow_unverified_weights: bool = setting(
        False,
        "load a checkpoint whose config.json has no weights_sha256 (weights cannot be checked)",
        dynamic=False,
    )
    device: str = setting(
        "auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:N", dynamic=False
    )
    device_fallback: str = setting(
        "",
        "'' (an unavailable or out-of-memory GPU is an error) or 'cpu' (load on the CPU "
        "instead, with an error in the log and on diagnostics)",
        choices=("", "cpu"),
        dynamic=False,
    )
    backend: str = setting(
        "auto",
        "inference backend: auto (onnxruntime for a learned model on the CPU, where it was "
        "measured faster; torch otherwise), torch, or onnxruntime (learned model, CPU only)",
        choices=BACKENDS,
        dynamic=False,
    )
    precision: str = setting(
        "fp32",
        "CUDA autocast precision (ignored, with a log line, on the CPU)",
        choices=PRECISIONS,
        dynamic=False,
    )
    cuda_graphs: bool = setting(
        False, "CUDA only: torch.compile(mode='reduce-overhead') (CUDA graphs)", dynamic=False
    )
    compile: bool = setting(False, "CUDA only: torch.compile of the network", dynamic=False)
    torch_threads: int = setting(
        1,
        "torch / onnxruntime intra-op threads (0 = torch's default); 1 is fastest on a small "
        "shared CPU",
        low=0,
        high=256,
        dynamic=False,
    )
    worker_priority: int = setting(
        0,
        "0 = normal scheduling; 1-99 = SCHED_FIFO priority of the inference thread (Linux, "
        "needs CAP_SYS_NICE or an rtprio limit; refused with a warning otherwise)",
        low=0,
        high=99,
        dynamic=False,
    )
    warmup_iterations: int = setting(
        3,
        "dummy encode + rollout passes before the node reports ready",
        low=0,
        high=1000,
        dynamic=False,
    )
    shadow_model: str = setting(
        "",
        "second predictor run on the same inputs, driving nothing ('' = off)",
        choices=("", *MODEL_KINDS),
        dynamic=False,
    )
    shadow_checkpoint: str = setting(
        "", "checkpoint of the shadow model (latent; '' = the shipped one)", dynamic=False
    )
    publish_state: bool = setting(
        True,
        "publish world_model/state (WorldModelState: pose, twist, latent) for every frame "
        "encoded: what mpc_planner_node plans from",
        dynamic=False,
    )
    horizon: int = setting(
        20,
        "predicted steps H (at run time: at most the model's trained horizon)",
        low=1,
        high=1000,
    )
    dt: float = setting(
        0.1,
        "seconds per predicted step (kinematic; a learned model's dt comes from its checkpoint)",
        low=0.001,
        high=10.0,
        dynamic=False,
    )
    budget_ms: float = setting(
        200.0,
        "deadline per cycle: publish time - camera stamp above this counts as a deadline miss",
        low=1.0,
        high=60000.0,
    )
    use_compressed: bool = setting(
        False,
        "subscribe camera/image_raw/compressed (JPEG/PNG) instead of camera/image_raw",
        dynamic=False,
    )
    cmd_vel_stamped: bool = setting(
        False, "cmd_vel is geometry_msgs/TwistStamped (true) or Twist (false)", dynamic=False
    )
    cmd_timeout_s: float = setting(
        0.5,
        "a command older than this (node clock, since receipt) is stale and no longer held",
        low=0.0,
        high=3600.0,
    )
    plan_timeout_s: float = setting(
        0.5,
        "a plan is used while |camera stamp - plan stamp| is at most this",
        low=0.0,
        high=3600.0,
    )
    sync_slop_s: float = setting(
        0.05,
        "without odometry on both sides of a frame stamp, use the nearest within this",
        low=0.0,
        high=10.0,
    )
    odom_history_s: float = setting(
        2.0, "seconds of odometry kept for interpolation", low=0.1, high=600.0, dynamic=False
    )
    max_input_age_s: float = setting(
        0.5,
        "frames older than this (node clock - stamp) are skipped and counted",
        low=0.001,
        high=3600.0,
    )
    time_reset_threshold_s: float = setting(
        1.0,
        "a stamp this far behind the last one (or ahead of it and of the node clock) is from "
        "another timeline: rejected as stamp_outlier until the new timeline is confirmed, then "
        "a time reset (history cleared); less far behind is rejected as out of order",
        low=0.0,
        high=3600.0,
        dynamic=False,
    )
    time_reset_confirm_messages: int = setting(
        5,
        "consecutive messages on a new timeline that confirm a time reset (immediately when "
        "the node clock is on the new timeline and not the old: /clock jumped back)",
        low=1,
        high=1000,
        dynamic=False,
    )
    odom_jump_m: float = setting(
        1.0,
        "odometry moving more than this between consecutive samples (< 1 s apart), or a new "
        "odometry frame_id, is an odometry reset: history cleared",
        low=0.01,
        high=1e6,
    )
    camera_timeout_s: float = setting(
        1.0,
        "diagnostics warn when no camera frame arrived for this long (0 = never)",
        low=0.0,
        high=3600.0,
    )
    max_image_pixels: int = setting(
        4096 * 4096,
        "images with more pixels than this are rejected",
        low=1,
        high=1 << 30,
        dynamic=False,
    )
    diagnostics_period_s: float = setting(
        1.0,
        "seconds between diagnostics and live-error messages (steady clock)",
        low=0.05,
        high=60.0,
    )
    warn_throttle_s: float = setting(
        5.0,
        "at most one warning per topic and reason every this many seconds",
        low=0.0,
        high=3600.0,
    )
    latency_window: int = setting(
        300,
        "cycles in the rolling latency / stage-timing window",
        low=1,
        high=100000,
        dynamic=False,
    )
    live_error_window: int = setting(
        100, "predictions in the rolling live-error window", low=1, high=100000
    )
    live_error_sample_period_s: float = setting(
        0.2,
        "keep one prediction for live-error scoring per this many seconds",
        low=0.0,
        high=60.0,
    )
    collision_threshold: float = setting(
        0.5,
        "collision_probability at or above this counts as a predicted collision",
        low=0.0,
        high=1.0,
    )
    marker_sigma: float = setting(
        2.0, "uncertainty disc radius in position standard deviations", low=0.0, high=10.0
    )
    marker_lifetime_s: float = setting(
        1.0, "rviz markers expire after this many seconds", low=0.0, high=3600.0
    )
    input_bounds: InputBounds = setting(default_factory=InputBounds)
    domain: DomainCheckConfig = setting(default_factory=DomainCheckConfig)

    def __post_init__(self) -> None:
        validate_settings(self)


__all__ = ["BACKENDS", "NODE_NAME", "STATIC_REASON", "ConfigError", "WorldModelNodeConfig"]
