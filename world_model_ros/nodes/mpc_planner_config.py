"""The planner node's settings: one dataclass, its fields the node's ROS parameters.

The node's own settings (model, topics, loop rate) sit beside the controller's
(``core/planning/goal_controller.py``: goal logic, safety timing, MPPI, critics, costmap,
memory, detour), whose fields keep their own names (``num_samples``, ``costs.goal_weight``).
``world-model-ros demo`` reads the same YAML through :func:`load_planner_yaml`, so a key the
node would refuse is refused there too. No rclpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from world_model_ros.core.config import (
    ConfigError,
    from_mapping,
    read_ros_parameters,
    setting,
    validate_settings,
)
from world_model_ros.core.live.input_checks import InputBounds
from world_model_ros.core.model.registry import MODEL_KINDS
from world_model_ros.core.planning.controller_config import ControllerConfig

NODE_NAME = "mpc_planner_node"
STATE_SOURCES = ("twin", "local")


@dataclass(frozen=True)
class PlannerNodeConfig:
    """Every setting of mpc_planner_node (docs/planner.md has the table)."""

    model: str = setting(
        "latent",
        "predictor to plan with: latent (the learned model of `checkpoint`) or kinematic",
        choices=MODEL_KINDS,
        dynamic=False,
    )
    checkpoint: str = setting(
        "",
        "latent model checkpoint folder ('' = the one shipped with the package)",
        dynamic=False,
    )
    device: str = setting("auto", "torch device: auto | cpu | cuda | cuda:N", dynamic=False)
    dt: float = setting(
        0.1,
        "kinematic model step (s); a learned model's comes from its checkpoint",
        low=0.01,
        high=1.0,
        dynamic=False,
    )
    state_source: str = setting(
        "twin",
        "plan from the world-model node's published state (twin: one encoder for the robot) or "
        "encode camera + odometry here (local)",
        choices=STATE_SOURCES,
        dynamic=False,
    )
    use_camera: str = setting(
        "auto",
        "local state source: wait for camera frames (auto: when the model uses the camera)",
        choices=("auto", "true", "false"),
        dynamic=False,
    )
    control_rate_hz: float = setting(
        10.0, "rate of the control cycle and of cmd_vel (Hz)", low=0.5, high=100.0
    )
    sync_slop_s: float = setting(
        0.05,
        "local state source: max gap between a frame and the nearest odometry (s)",
        low=0.0,
        high=1.0,
    )
    cmd_vel_stamped: bool = setting(
        False, "publish geometry_msgs/TwistStamped instead of Twist", dynamic=False
    )
    base_frame: str = setting("base_link", "frame_id of TwistStamped commands")
    odom_frame: str = setting(
        "odom", "frame goals must be in until the states name their own frame"
    )
    torch_threads: int = setting(
        1,
        "torch intra-op threads (0: torch's default); 1 is fastest on a shared small CPU",
        low=0,
        high=256,
        dynamic=False,
    )
    allow_unverified_weights: bool = setting(
        False,
        "load a checkpoint whose config.json has no weights_sha256 (weights cannot be checked)",
        dynamic=False,
    )
    diagnostics_period_s: float = setting(
        1.0,
        "seconds between diagnostics messages (steady clock): rejected inputs per reason, "
        "overruns, why the robot holds",
        low=0.05,
        high=60.0,
    )
    time_reset_confirm_messages: int = setting(
        5,
        "consecutive odometry messages on a new timeline that confirm a time reset (at once "
        "when the node clock is on the new timeline); a lone one is rejected (stamp_outlier)",
        low=1,
        high=1000,
        dynamic=False,
    )
    use_scan: bool = setting(
        True,
        "fuse LaserScans on 'scan' (a planar LiDAR, when the robot has one) into the costmap "
        "(occupancy.scan.*), placed at the state planned from",
        dynamic=False,
    )
    scan_forward_m: float = setting(
        0.0, "the LiDAR's position ahead of base_link (m)", low=-5.0, high=5.0
    )
    input_bounds: InputBounds = setting(default_factory=InputBounds)
    controller: ControllerConfig = setting(default_factory=ControllerConfig, flatten=True)

    def __post_init__(self) -> None:
        validate_settings(self)


def load_planner_yaml(path: str | Path) -> PlannerNodeConfig:
    """The planner node's settings from a ROS 2 parameter file (its ``mpc_planner_node``
    section, or the only section); unknown keys and wrong types are errors naming them."""
    values = read_ros_parameters(path, NODE_NAME)
    try:
        return from_mapping(PlannerNodeConfig, values, str(path))
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a dataclass's own cross-field check
        raise ConfigError(f"{path}: {exc}") from None
