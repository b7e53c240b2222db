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
from .scan_input import episode_scan_inputs, scan_beams, scan_points, sensor_pose

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
            stamp_s = (stamp_ns if stamp_ns > 0 else receive_ns) * 1e-9
            pose = _pose_at(episodes, stamp_s)
            if pose is None:
                continue
            angles, ranges = scan_beams(
                msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max, msg.ranges
            )
            scans.append(Scan(sensor_pose(pose, forward_m), angles, ranges, stamp_s))
    scans.sort(key=lambda scan: scan.stamp_s)
    return scans


def scans_by_bag(episodes: list[Episode], topic: str, forward_m: float) -> dict[str, list[Scan]]:
    """Each bag's scans on ``topic`` (bags without it left out), placed at its episodes'
    poses."""
    groups: dict[str, list[Episode]] = {}
    for episode in episodes:
        groups.setdefault(episode.source, []).append(episode)
    found = {bag: read_scans(bag, topic, group, forward_m) for bag, group in groups.items()}
    return {bag: scans for bag, scans in found.items() if scans}


def attach_bag_scans(
    episodes: list[Episode], topic: str, forward_m: float, sectors: int, range_m: float
) -> int:
    """:func:`attach_scan_inputs` from the episodes' own bags' scans on ``topic`` ('' = none:
    "no scan" throughout); how many episodes had scans."""
    scans = scans_by_bag(episodes, topic, forward_m) if topic else {}
    return attach_scan_inputs(episodes, scans, sectors, range_m)


def attach_scan_inputs(
    episodes: list[Episode], scans: dict[str, list[Scan]], sectors: int, range_m: float
) -> int:
    """Set each episode's ``scan_tk`` (the encoder's LaserScan input, core/data/scan_input.py)
    from its bag's scans; episodes of bags without scans get "no scan" at every step. Returns
    how many episodes had scans."""
    with_scans = 0
    for episode in episodes:
        own = scans.get(episode.source, [])
        if own:
            with_scans += 1
        episode.scan_tk = episode_scan_inputs(
            episode.stamps_s,
            episode.poses_t3,
            [scan.stamp_s for scan in own],
            [scan_points(scan.pose_3, scan.angles_n, scan.ranges_n) for scan in own],
            sectors,
            range_m,
        )
    return with_scans
