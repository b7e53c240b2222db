"""sensor_msgs/LaserScan from a bag, placed in the odometry frame (occupancy supervision).

A scan is placed at the robot's pose at its stamp, interpolated from the loaded episodes of
the same bag (so it shares their odometry frame); scans outside every episode are dropped.
The sensor sits ``forward_m`` ahead of base_link, facing forward (the robot file's ``lidar``;
a bag's tf_static is not read). Read with ``rosbags``; no rclpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..geometry import wrap_angle_np
from .episodes import Episode
from .occupancy_labels import Scan

SCAN_TYPE = "sensor_msgs/msg/LaserScan"


def _pose_at(episodes: list[Episode], t_s: float) -> np.ndarray | None:
    for e in episodes:
        stamps = e.stamps_s
        if len(stamps) and stamps[0] <= t_s <= stamps[-1]:
            k = int(np.clip(np.searchsorted(stamps, t_s) - 1, 0, len(stamps) - 2))
            span = max(stamps[k + 1] - stamps[k], 1e-9)
            a = (t_s - stamps[k]) / span
            p, q = e.poses_t3[k], e.poses_t3[k + 1]
            yaw = p[2] + a * wrap_angle_np(q[2] - p[2])
            return np.array([p[0] + a * (q[0] - p[0]), p[1] + a * (q[1] - p[1]), yaw])
    return None


def read_scans(
    bag: str | Path, topic: str, episodes: list[Episode], forward_m: float = 0.0
) -> list[Scan]:
    """The bag's scans on ``topic`` placed at the episodes' poses ([] without the topic)."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST))
    scans: list[Scan] = []
    with AnyReader([Path(bag)], default_typestore=store) as reader:
        wanted = [
            c
            for c in reader.connections
            if c.topic.lstrip("/") == topic.lstrip("/") and c.msgtype == SCAN_TYPE
        ]
        if not wanted:  # rosbags reads every connection when given none
            return scans
        for connection, receive_ns, raw in reader.messages(connections=wanted):
            msg: Any = reader.deserialize(raw, connection.msgtype)  # sensor_msgs/LaserScan
            stamp_ns = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            pose = _pose_at(episodes, (stamp_ns if stamp_ns > 0 else receive_ns) * 1e-9)
            if pose is None:
                continue
            ranges = np.asarray(msg.ranges, dtype=np.float64)
            valid = (ranges >= msg.range_min) & (ranges <= msg.range_max)
            angles = msg.angle_min + msg.angle_increment * np.arange(len(ranges))
            sensor = pose + np.array(
                [forward_m * np.cos(pose[2]), forward_m * np.sin(pose[2]), 0.0]
            )
            scans.append(Scan(sensor, angles, np.where(valid, ranges, np.inf)))
    return scans
