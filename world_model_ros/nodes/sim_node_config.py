"""sim_node's settings: one dataclass whose fields are the node's ROS parameters (with their
descriptions, ranges and whether they may change at run time; ``core/config.py``, declared by
``nodes/parameters.py``). No rclpy here."""

from __future__ import annotations

from dataclasses import dataclass

from world_model_ros.core.config import setting, validate_settings
from world_model_ros.core.live.input_checks import InputBounds


@dataclass(frozen=True)
class SimNodeConfig:
    """Every setting of sim_node; each field is a declared ROS parameter of the same name."""

    layout_seed: int = setting(
        0,
        "seed of the arena layout (obstacles); the start pose follows from it",
        low=0,
        high=2**31 - 1,
        dynamic=False,
    )
    robot: str = setting(
        "",
        "robot file (config/robots/<name>.yaml or a path); '' = the default robot (the camera "
        "parameters below apply only to it)",
        dynamic=False,
    )
    camera_width: int = setting(
        256,
        "camera image width in pixels (square by default: the model's input is square)",
        low=8,
        high=4096,
        dynamic=False,
    )
    camera_height: int = setting(
        256, "camera image height in pixels", low=8, high=4096, dynamic=False
    )
    camera_fovy_deg: float = setting(
        70.0,
        "vertical field of view in degrees (recordings use 70)",
        low=10.0,
        high=170.0,
        dynamic=False,
    )
    camera_rate_hz: float = setting(
        30.0, "camera/image_raw and camera/camera_info rate, simulated time", low=0.1, high=1000.0
    )
    odom_rate_hz: float = setting(
        50.0, "odom, tf and clock rate, simulated time", low=0.1, high=1000.0
    )
    real_time_factor: float = setting(
        1.0, "simulated seconds per wall second; 0 = as fast as possible", low=0.0, high=1000.0
    )
    cmd_vel_stamped: bool = setting(
        False, "cmd_vel is geometry_msgs/TwistStamped (true) or Twist (false)", dynamic=False
    )
    cmd_timeout_s: float = setting(
        0.5,
        "stop when no cmd_vel arrived for this long (simulated seconds)",
        low=0.01,
        high=3600.0,
    )
    odom_noise: float = setting(
        0.0,
        "relative std of odometry increments; > 0 also publishes ground_truth/odom",
        low=0.0,
        high=1.0,
        dynamic=False,
    )
    publish_tf: bool = setting(
        True, "publish tf odom -> base_link (needs tf2_msgs)", dynamic=False
    )
    publish_clock: bool = setting(True, "publish simulated time on /clock", dynamic=False)
    odom_frame: str = setting("odom", "frame of odom poses (REP-105)", dynamic=False)
    base_frame: str = setting("base_link", "the robot's body frame (REP-105)", dynamic=False)
    camera_frame: str = setting(
        "camera_optical_frame",
        "frame_id of camera images (optical: z forward, x right, y down)",
        dynamic=False,
    )
    diagnostics_period_s: float = setting(
        1.0,
        "seconds between diagnostics messages (steady clock): commands received and rejected "
        "per reason, real-time resyncs",
        low=0.05,
        high=60.0,
    )
    input_bounds: InputBounds = setting(default_factory=InputBounds)

    def __post_init__(self) -> None:
        validate_settings(self)
