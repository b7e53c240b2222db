"""The world-model node's settings: one dataclass whose fields are the node's ROS parameters,
their descriptions and ranges, which of them may change at run time, and the declare / read /
validate steps. Kept apart from the runtime so the parameter surface users see
(``ros2 param describe``) is in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rclpy.node import Node

from world_model_ros.core.model.fast_path import PRECISIONS
from world_model_ros.core.model.registry import MODEL_KINDS
from world_model_ros.nodes.parameters import describe

NODE_NAME = "world_model_node"
BACKENDS = ("auto", "torch", "onnxruntime")


@dataclass(frozen=True)
class WorldModelNodeConfig:
    """Every setting of the node; each field is a declared ROS parameter of the same name."""

    model: str = "latent"  # the shipped learned checkpoint; "kinematic" is the explicit baseline
    checkpoint: str = ""
    device: str = "auto"
    device_fallback: str = ""
    backend: str = "auto"
    precision: str = "fp32"
    cuda_graphs: bool = False
    compile: bool = False
    torch_threads: int = 1
    worker_priority: int = 0
    warmup_iterations: int = 3
    shadow_model: str = ""
    shadow_checkpoint: str = ""
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
    odom_jump_m: float = 1.0
    camera_timeout_s: float = 1.0
    max_image_pixels: int = 4096 * 4096
    diagnostics_period_s: float = 1.0
    warn_throttle_s: float = 5.0
    latency_window: int = 300
    live_error_window: int = 100
    live_error_sample_period_s: float = 0.2
    collision_threshold: float = 0.5
    marker_sigma: float = 2.0
    marker_lifetime_s: float = 1.0


# name -> (description, (min, max) or None). Defaults come from WorldModelNodeConfig.
PARAMETERS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "model": (
        f"predictor: one of {', '.join(MODEL_KINDS)}. A model that fails to load is an error, "
        "never swapped",
        None,
    ),
    "checkpoint": (
        "latent model only: checkpoint folder ('' = the checkpoint shipped with the package)",
        None,
    ),
    "device": ("torch device: 'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'", None),
    "device_fallback": (
        "'' (never fall back: an unavailable or out-of-memory GPU is an error) or 'cpu' (load on "
        "the CPU instead, with an error in the log and on diagnostics)",
        None,
    ),
    "backend": (
        "inference backend: 'auto' (onnxruntime for a learned model on the CPU, where it was "
        "measured "
        "faster; torch otherwise), 'torch', or 'onnxruntime' (learned model on the CPU only)",
        None,
    ),
    "precision": (
        "CUDA autocast precision: fp32 | fp16 | bf16 (ignored, with a log line, on the CPU)",
        None,
    ),
    "cuda_graphs": (
        "CUDA only: torch.compile(mode='reduce-overhead') of the network (CUDA graphs)",
        None,
    ),
    "compile": ("CUDA only: torch.compile of the network", None),
    "torch_threads": (
        "torch intra-op threads (0 = torch's default); 1 is fastest on a small shared CPU",
        (0, 256),
    ),
    "worker_priority": (
        "0 = normal scheduling; 1-99 = SCHED_FIFO real-time priority of the inference thread "
        "(Linux, needs CAP_SYS_NICE or an rtprio limit; refused with a warning otherwise)",
        (0, 99),
    ),
    "warmup_iterations": (
        "dummy encode + rollout passes before the node reports ready",
        (0, 1000),
    ),
    "shadow_model": (
        "second predictor run on the same inputs, driving nothing ('' = off; "
        f"{', '.join(MODEL_KINDS)})",
        None,
    ),
    "shadow_checkpoint": ("checkpoint of the shadow model (latent; '' = the shipped one)", None),
    "horizon": ("predicted steps H (at run time: at most the model's trained horizon)", (1, 1000)),
    "dt": (
        "seconds per predicted step (kinematic model; a learned model's dt comes from its "
        "checkpoint)",
        (0.001, 10.0),
    ),
    "budget_ms": (
        "deadline per cycle: publish time - camera stamp above this counts as a deadline miss",
        (1.0, 60000.0),
    ),
    "use_compressed": (
        "subscribe camera/image_raw/compressed (JPEG/PNG) instead of camera/image_raw",
        None,
    ),
    "cmd_vel_stamped": ("cmd_vel is geometry_msgs/TwistStamped (true) or Twist (false)", None),
    "cmd_timeout_s": (
        "a command older than this (node clock, since receipt) is stale and no longer held",
        (0.0, 3600.0),
    ),
    "plan_timeout_s": (
        "a plan is used while |camera stamp - plan stamp| is at most this",
        (0.0, 3600.0),
    ),
    "sync_slop_s": (
        "without odometry on both sides of a frame stamp, use the nearest within this",
        (0.0, 10.0),
    ),
    "odom_history_s": ("seconds of odometry kept for interpolation", (0.1, 600.0)),
    "max_input_age_s": (
        "frames older than this (node clock - stamp) are skipped and counted",
        (0.001, 3600.0),
    ),
    "time_reset_threshold_s": (
        "a stamp this far behind the last one is a time reset (history cleared); "
        "less far behind is rejected as out of order",
        (0.0, 3600.0),
    ),
    "odom_jump_m": (
        "odometry moving more than this between consecutive samples (< 1 s apart), or a new "
        "odometry frame_id, is an odometry reset: history cleared",
        (0.01, 1e6),
    ),
    "camera_timeout_s": (
        "diagnostics warn when no camera frame arrived for this long (0 = never)",
        (0.0, 3600.0),
    ),
    "max_image_pixels": ("images with more pixels than this are rejected", (1, 1 << 30)),
    "diagnostics_period_s": (
        "seconds between diagnostics and live-error messages (steady clock)",
        (0.05, 60.0),
    ),
    "warn_throttle_s": (
        "at most one warning per topic and reason every this many seconds",
        (0.0, 3600.0),
    ),
    "latency_window": ("cycles in the rolling latency / stage-timing window", (1, 100000)),
    "live_error_window": ("predictions in the rolling live-error window", (1, 100000)),
    "live_error_sample_period_s": (
        "keep one prediction for live-error scoring per this many seconds",
        (0.0, 60.0),
    ),
    "collision_threshold": (
        "collision_probability at or above this counts as a predicted collision",
        (0.0, 1.0),
    ),
    "marker_sigma": ("uncertainty disc radius in position standard deviations", (0.0, 10.0)),
    "marker_lifetime_s": ("rviz markers expire after this many seconds", (0.0, 3600.0)),
}

# Take effect at once through `ros2 param set`; every other parameter needs a reload or restart.
RUNTIME_PARAMETERS = frozenset(
    {
        "horizon",
        "budget_ms",
        "cmd_timeout_s",
        "plan_timeout_s",
        "sync_slop_s",
        "max_input_age_s",
        "odom_jump_m",
        "camera_timeout_s",
        "diagnostics_period_s",
        "warn_throttle_s",
        "live_error_window",
        "live_error_sample_period_s",
        "collision_threshold",
        "marker_sigma",
        "marker_lifetime_s",
    }
)
MODEL_PARAMETERS = frozenset(
    {
        "model",
        "checkpoint",
        "device",
        "device_fallback",
        "backend",
        "precision",
        "cuda_graphs",
        "compile",
        "torch_threads",
        "worker_priority",
        "warmup_iterations",
        "shadow_model",
        "shadow_checkpoint",
        "dt",
    }
)


class ConfigError(RuntimeError):
    """A parameter value the node cannot run with (wrong type, out of range)."""


def declare_parameters(node: Node) -> None:
    """Declare every parameter once, with description and range."""
    defaults = WorldModelNodeConfig()
    for field in dataclasses.fields(WorldModelNodeConfig):
        description, bounds = PARAMETERS[field.name]
        default = getattr(defaults, field.name)
        suffix = "" if field.name in RUNTIME_PARAMETERS else " [needs reload/restart]"
        descriptor = describe(description + suffix, bounds, default)
        try:
            node.declare_parameter(field.name, default, descriptor)
        except (
            Exception
        ) as exc:  # rclpy: InvalidParameterTypeException / InvalidParameterValueException
            expected = type(default).__name__
            raise ConfigError(
                f"parameter '{field.name}' is invalid ({expected} expected"
                f"{f' in [{bounds[0]}, {bounds[1]}]' if bounds else ''}): {exc}"
            ) from exc


def validate_config(config: WorldModelNodeConfig) -> WorldModelNodeConfig:
    if config.model not in MODEL_KINDS:
        raise ConfigError(
            f"parameter 'model' is '{config.model}'; choose one of {', '.join(MODEL_KINDS)}"
        )
    if config.shadow_model not in ("", *MODEL_KINDS):
        raise ConfigError(
            f"parameter 'shadow_model' is '{config.shadow_model}'; choose '' (off) or one of "
            f"{', '.join(MODEL_KINDS)}"
        )
    if config.device_fallback not in ("", "cpu"):
        raise ConfigError(
            f"parameter 'device_fallback' is '{config.device_fallback}'; choose '' or 'cpu'"
        )
    if config.backend not in BACKENDS:
        raise ConfigError(
            f"parameter 'backend' is '{config.backend}'; choose one of {', '.join(BACKENDS)}"
        )
    if config.precision not in PRECISIONS:
        raise ConfigError(
            f"parameter 'precision' is '{config.precision}'; choose one of {', '.join(PRECISIONS)}"
        )
    return config


def read_config(node: Node) -> WorldModelNodeConfig:
    values = {
        field.name: node.get_parameter(field.name).value
        for field in dataclasses.fields(WorldModelNodeConfig)
    }
    return validate_config(WorldModelNodeConfig(**values))


def declare_config(node: Node) -> WorldModelNodeConfig:
    """Declare every parameter and build the config from their values."""
    declare_parameters(node)
    return read_config(node)
