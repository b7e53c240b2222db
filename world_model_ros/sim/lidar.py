"""A planar 2D LiDAR for the simulated robot: MuJoCo ray casting against walls and obstacles.

Why in the simulator: a real robot with a LiDAR can supervise the learned occupancy head with
what the laser saw (core/data/occupancy_labels.py); the simulated one writes the same
sensor_msgs/LaserScan into its bags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from .robot import ROBOT_GEOM_GROUP


@dataclass(frozen=True)
class LidarConfig:
    """A planar 2D LiDAR on the robot (sensor_msgs/LaserScan): beams evenly spread over
    ``fov_deg`` centred on the robot's heading, counter-clockwise (REP-103), at ``height_m``
    above the floor and ``forward_m`` ahead of base_link. Ranges outside [range_min_m,
    range_max_m] read as +inf (no return), as drivers report them."""

    beams: int = 360
    fov_deg: float = 360.0
    range_min_m: float = 0.1
    range_max_m: float = 6.0
    height_m: float = 0.2
    forward_m: float = 0.0
    rate_hz: float = 10.0

    def validate(self) -> None:
        if not 3 <= self.beams <= 4096:
            raise ValueError(f"lidar beams {self.beams} outside 3..4096")
        if not 1.0 <= self.fov_deg <= 360.0:
            raise ValueError(f"lidar fov_deg {self.fov_deg} outside 1..360")
        if not 0.0 <= self.range_min_m < self.range_max_m:
            raise ValueError(
                f"lidar needs 0 <= range_min_m < range_max_m; got {self.range_min_m}, "
                f"{self.range_max_m}"
            )
        if not self.height_m > 0 or not self.rate_hz > 0:
            raise ValueError(
                f"lidar height_m and rate_hz must be > 0; got {self.height_m}, {self.rate_hz}"
            )

    def angles_rad(self) -> np.ndarray:
        """Beam angles in base_link (rad): angle_min + i * angle_increment."""
        return -math.radians(self.fov_deg) / 2 + self.angle_increment_rad() * np.arange(self.beams)

    def angle_increment_rad(self) -> float:
        """A full circle does not repeat its first beam; a sector includes both edges."""
        fov = math.radians(self.fov_deg)
        return fov / self.beams if self.fov_deg >= 360.0 else fov / (self.beams - 1)


def cast_scan(
    model: mujoco.MjModel, data: mujoco.MjData, pose_3: np.ndarray, lidar: LidarConfig
) -> np.ndarray:
    """Ranges [beams] (m, +inf without a return in range) from the robot at ``pose_3``."""
    x, y, yaw = (float(v) for v in pose_3)

    origin = np.array(
        [
            x + lidar.forward_m * math.cos(yaw),
            y + lidar.forward_m * math.sin(yaw),
            lidar.height_m,
        ]
    )
    angles = yaw + lidar.angles_rad()
    directions = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1)
    geom_id = np.full(len(angles), -1, dtype=np.int32)
    distance = np.zeros(len(angles), dtype=np.float64)
    groups = np.ones(6, dtype=np.uint8)
    groups[ROBOT_GEOM_GROUP] = 0
    mujoco.mj_multiRay(
        model,
        data,
        origin,
        directions.reshape(-1),
        groups,
        1,
        -1,
        geom_id,
        distance,
        None,
        len(angles),
        lidar.range_max_m,
    )
    ranges = np.where(geom_id >= 0, distance, np.inf)
    return np.where((ranges >= lidar.range_min_m) & (ranges <= lidar.range_max_m), ranges, np.inf)
