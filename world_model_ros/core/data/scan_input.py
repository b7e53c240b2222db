"""A 2D LaserScan as an encoder input: the nearest return in each of N sectors around the robot.

Why: a camera looks one way and, mounted high, not at the floor just ahead; a base pushing
into something below or behind its view cannot see it coming. A planar LiDAR sees all round.
The encoder (core/model/latent_model.py, ``scan_sectors``) takes, for each frame, the scan
nearest before it with its returns moved into base_link *at the frame's time* (the odometry
says how far the base went between the two), as N sector minima scaled to [0, 1] by
``range_m``, plus one channel that says whether there was a scan at all. The same function
serves the bag loader (``episode_scan_inputs``), the running twin and the in-process demo,
so the three cannot drift apart.

Sector k covers bearings [-pi + k w, -pi + (k + 1) w), w = 2 pi / N, counter-clockwise from
behind (REP-103: x forward, y left): the sectors of a window seen in a mirror are the same
list reversed (core/training/mirror.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..geometry import wrap_angle_np

# A scan older than this at a frame's stamp is not the robot's surroundings any more
SCAN_MAX_AGE_S = 0.3


def no_scan(sectors: int) -> np.ndarray:
    """The input when no scan is known: every sector at full range, the flag 0."""
    out = np.ones(sectors + 1, np.float32)
    out[-1] = 0.0
    return out


def scan_beams(
    angle_min: float, angle_increment: float, range_min: float, range_max: float, ranges
) -> tuple[np.ndarray, np.ndarray]:
    """A LaserScan's beams: (angles rad, ranges m), +inf where there is no return, that is
    outside [range_min, range_max] (NaN included), as drivers mean it."""
    values = np.asarray(ranges, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = (values >= range_min) & (values <= range_max)
    angles = angle_min + angle_increment * np.arange(len(values))
    return angles, np.where(valid, values, np.inf)


def scan_points(
    sensor_pose_3: np.ndarray, angles_n: np.ndarray, ranges_n: np.ndarray
) -> np.ndarray:
    """[M, 2] returns in the odometry frame (beams without a return dropped)."""
    ranges = np.asarray(ranges_n, np.float64)
    keep = np.isfinite(ranges) & (ranges > 0)
    bearing = sensor_pose_3[2] + np.asarray(angles_n, np.float64)[keep]
    return np.asarray(sensor_pose_3[:2], np.float64) + ranges[keep, None] * np.stack(
        [np.cos(bearing), np.sin(bearing)], axis=-1
    )


def sensor_pose(robot_pose_3: np.ndarray, forward_m: float) -> np.ndarray:
    """The pose of a LiDAR ``forward_m`` ahead of base_link, facing forward."""
    yaw = float(robot_pose_3[2])
    return np.array(
        [
            robot_pose_3[0] + forward_m * np.cos(yaw),
            robot_pose_3[1] + forward_m * np.sin(yaw),
            yaw,
        ]
    )


def sector_input(
    points_odom_m2: np.ndarray, robot_pose_3: np.ndarray, sectors: int, range_m: float
) -> np.ndarray:
    """[sectors + 1] float32: per sector the nearest return from base_link at ``robot_pose_3``
    over ``range_m`` (1 = nothing nearer), then the flag 1."""
    out = np.ones(sectors + 1, np.float32)
    if len(points_odom_m2):
        d = np.asarray(points_odom_m2, np.float64) - np.asarray(robot_pose_3[:2], np.float64)
        distance = np.hypot(d[:, 0], d[:, 1])
        bearing = wrap_angle_np(np.arctan2(d[:, 1], d[:, 0]) - robot_pose_3[2])
        index = np.floor((bearing + np.pi) / (2 * np.pi / sectors)).astype(np.int64) % sectors
        nearest = np.full(sectors, range_m)
        np.minimum.at(nearest, index, np.minimum(distance, range_m))
        out[:sectors] = nearest / range_m
    return out


def episode_scan_inputs(
    stamps_s: np.ndarray,
    poses_t3: np.ndarray,
    scan_stamps_s: Sequence[float],
    scan_points_odom: Sequence[np.ndarray],
    sectors: int,
    range_m: float,
) -> np.ndarray:
    """[T, sectors + 1]: for each step, the newest scan at or before its stamp (within
    SCAN_MAX_AGE_S; else ``no_scan``) seen from the step's pose. ``scan_points_odom``: each
    scan's returns in the episode's odometry frame (``scan_points``), in stamp order."""
    out = np.tile(no_scan(sectors), (len(stamps_s), 1))
    order = np.asarray(scan_stamps_s, np.float64)
    stamps = np.asarray(stamps_s, np.float64)
    newest = np.searchsorted(order, stamps + 1e-6, side="right") - 1
    for t in np.flatnonzero(newest >= 0):
        k = newest[t]
        if stamps[t] - order[k] <= SCAN_MAX_AGE_S:
            out[t] = sector_input(scan_points_odom[k], poses_t3[t], sectors, range_m)
    return out
