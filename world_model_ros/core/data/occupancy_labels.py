"""Costmap supervision for the occupancy head from a robot's own experience (no arena map).

The occupancy head (core/model/occupancy_head.py) says, per cell around the robot, whether a
robot *centred* there would touch something: the configuration-space (C-space) obstacle. In
simulator bags the arena map gives that exactly. A real robot's bags do not have a map, but
they do say where the robot's body has been and where it was stopped:

* **free**: every pose the robot's centre passed through without a contact is free in C-space
  (its footprint fitted there), and so is every cell whose footprint-sized disc lies inside the
  area the footprint swept (the union of the body's discs along the path);
* **occupied**: where a contact label says the base was blocked while pushing forward or back,
  the obstacle's surface lies just beyond the footprint in the push direction; every cell within
  the robot's radius of that surface is occupied in C-space;
* **LaserScan** (when the bag has one): beams free the cells they pass and occupy the cell they
  end in (a workspace occupancy grid, as costmap_2d's obstacle layer builds it), which becomes
  C-space by the same two rules (occupied: within the robot's radius of an occupied cell; free:
  the whole disc is known free). A beam proves the floor free at its own height only: where the
  body was felt blocked, the beams that passed over (a box lower than the scan plane) do not
  outvote the push.

Each bag gets one grid in its odometry frame (a bag's episodes share the frame); every frame
then reads its head cells' labels from its bag's grid: 1 occupied, 0 free, -1 unknown (left
out of the loss). Pure NumPy + OpenCV morphology; no rclpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .episodes import Episode

UNKNOWN, FREE, OCCUPIED = -1, 0, 1


@dataclass(frozen=True)
class OccupancyLabelConfig:
    resolution_m: float = 0.05
    margin_m: float = 3.0  # the grid reaches this far beyond the poses (head cells reach 2.4 m)
    probe_m: float = 0.03  # an obstacle's surface is this far beyond the footprint when blocked
    probe_arc_rad: float = 0.35  # ... marked over this half-angle around the push direction
    min_push_mps: float = 0.04  # a contact marks an obstacle only under a command this fast
    laser_max_range_m: float = 4.0  # beams longer than this free only up to here
    laser_every: int = 5  # use one scan in this many (neighbouring scans say the same)

    def __post_init__(self) -> None:
        if not (self.resolution_m > 0 and self.margin_m >= 0 and self.laser_every >= 1):
            raise ValueError(f"invalid occupancy label configuration: {self}")


@dataclass
class Scan:
    """One LaserScan in the odometry frame: the sensor pose (x, y, yaw) and its beams."""

    pose_3: np.ndarray
    angles_n: np.ndarray  # in the sensor frame
    ranges_n: np.ndarray  # m; inf / nan = no return
    stamp_s: float = float("nan")


@dataclass
class LabelGrid:
    """C-space labels of one bag, odometry frame: ``labels_yx`` int8 (UNKNOWN/FREE/OCCUPIED),
    cell (i, j) centred at origin + (j + 0.5, i + 0.5) * resolution."""

    origin_2: np.ndarray
    resolution_m: float
    labels_yx: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    def lookup(self, xy_n2: np.ndarray) -> np.ndarray:
        """Labels [N] of points (odometry frame); UNKNOWN outside the grid."""
        ij = np.floor((np.asarray(xy_n2) - self.origin_2) / self.resolution_m).astype(np.int64)
        h, w = self.labels_yx.shape
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
        out = np.full(len(ij), UNKNOWN, np.int8)
        out[inside] = self.labels_yx[ij[inside, 1], ij[inside, 0]]
        return out


def push_direction(episode: Episode, min_push_mps: float) -> np.ndarray:
    """+1 / -1 where a contact step had the base pushing forward / back, 0 elsewhere."""
    contacts = np.asarray(episode.contacts_t if episode.contacts_t is not None else [], bool)
    out = np.zeros(len(episode), np.int8)
    if len(contacts) == 0:
        return out
    command = np.asarray(episode.commands_t2, dtype=np.float64)[:, 0]
    previous = np.concatenate([[0.0], command[:-1]])
    pushing = np.abs(previous) >= min_push_mps
    out[contacts & pushing] = np.sign(previous[contacts & pushing]).astype(np.int8)
    return out


def _disc(radius_cells: float) -> np.ndarray:
    r = max(0, int(math.ceil(radius_cells)))
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return ((x * x + y * y) <= radius_cells * radius_cells + 1e-9).astype(np.uint8)


class _Evidence:
    """Workspace evidence counts on one bag's grid."""

    def __init__(self, lo_2: np.ndarray, hi_2: np.ndarray, resolution_m: float):
        self.res = resolution_m
        self.origin = np.floor(lo_2 / resolution_m) * resolution_m
        size = np.ceil((hi_2 - self.origin) / resolution_m).astype(int) + 1
        self.shape = (int(size[1]), int(size[0]))  # (rows = y, cols = x)
        self.free = np.zeros(self.shape, np.int32)
        self.occupied = np.zeros(self.shape, np.int32)
        self.felt = np.zeros(self.shape, np.int32)  # surfaces the body was blocked by
        self.body = np.zeros(self.shape, np.uint8)  # cells a footprint centre passed, free
        self.visited = np.zeros(self.shape, np.uint8)

    def index(self, xy_n2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ij = np.floor((xy_n2 - self.origin) / self.res).astype(np.int64)
        keep = (
            (ij[:, 0] >= 0)
            & (ij[:, 0] < self.shape[1])
            & (ij[:, 1] >= 0)
            & (ij[:, 1] < self.shape[0])
        )
        return ij[keep, 1], ij[keep, 0]

    def add(self, target: np.ndarray, xy_n2: np.ndarray) -> None:
        rows, cols = self.index(xy_n2)
        flat = np.bincount(rows * self.shape[1] + cols, minlength=target.size)
        target += flat.reshape(self.shape).astype(target.dtype)


def build_label_grid(
    episodes: list[Episode],
    robot_radius_m: float,
    scans: list[Scan] | None = None,
    config: OccupancyLabelConfig = OccupancyLabelConfig(),
) -> LabelGrid:
    """C-space labels for the episodes of one bag (one odometry frame); see the module
    docstring. ``robot_radius_m``: the footprint's circumscribed radius."""
    poses = np.concatenate([np.asarray(e.poses_t3, dtype=np.float64) for e in episodes])
    reach = config.margin_m + (config.laser_max_range_m if scans else 0.0)
    ev = _Evidence(poses[:, :2].min(0) - reach, poses[:, :2].max(0) + reach, config.resolution_m)
    res = config.resolution_m
    for e in episodes:
        contacts = (
            np.zeros(len(e), bool) if e.contacts_t is None else np.asarray(e.contacts_t, bool)
        )
        xy = np.asarray(e.poses_t3, dtype=np.float64)[:, :2]
        rows, cols = ev.index(xy[~contacts])
        ev.body[rows, cols] = 1
        rows, cols = ev.index(xy)
        ev.visited[rows, cols] = 1
        push = push_direction(e, config.min_push_mps)
        for t in np.flatnonzero(push):
            x, y, yaw = e.poses_t3[t]
            heading = yaw + (0.0 if push[t] > 0 else math.pi)
            arc = heading + np.linspace(-config.probe_arc_rad, config.probe_arc_rad, 7)
            distance = robot_radius_m + config.probe_m
            points = np.stack([x + distance * np.cos(arc), y + distance * np.sin(arc)], axis=1)
            ev.add(ev.felt, points)
    for scan in (scans or [])[:: config.laser_every]:
        _add_scan(ev, scan, config)
    # Workspace: the footprint's discs along the path are free (the body was there).
    radius_cells = robot_radius_m / res
    swept = cv2.dilate(ev.visited, _disc(radius_cells))
    seen = (ev.occupied > 0) & (ev.occupied >= ev.free)
    workspace_occupied = (seen | (ev.felt > 0)) & (swept == 0)
    workspace_free = ((ev.free > 0) & ~workspace_occupied) | (swept > 0)
    # C-space: occupied within the radius of a workspace obstacle; free where the whole disc
    # is known free, and wherever a centre was (without contact).
    disc = _disc(radius_cells)
    c_occupied = cv2.dilate(workspace_occupied.astype(np.uint8), disc) > 0
    c_free = (cv2.erode(workspace_free.astype(np.uint8), disc, borderValue=0) > 0) | (ev.body > 0)
    labels = np.full(ev.shape, UNKNOWN, np.int8)
    labels[c_free & ~c_occupied] = FREE
    labels[c_occupied & ~(ev.body > 0)] = OCCUPIED
    counts = {
        "free_cells": int((labels == FREE).sum()),
        "occupied_cells": int((labels == OCCUPIED).sum()),
        "blocked_pushes": int(
            sum(int(np.count_nonzero(push_direction(e, config.min_push_mps))) for e in episodes)
        ),
        "scans": 0 if not scans else len(scans[:: config.laser_every]),
    }
    return LabelGrid(ev.origin.copy(), res, labels, counts)


def _add_scan(ev: _Evidence, scan: Scan, config: OccupancyLabelConfig) -> None:
    ranges = np.asarray(scan.ranges_n, dtype=np.float64)
    angles = np.asarray(scan.angles_n, dtype=np.float64) + float(scan.pose_3[2])
    hit = np.isfinite(ranges) & (ranges <= config.laser_max_range_m)
    reach = np.where(hit, ranges - ev.res, config.laser_max_range_m)
    reach = np.where(np.isfinite(reach), reach, config.laser_max_range_m)
    step = ev.res / 2
    samples = np.arange(0.0, config.laser_max_range_m, step)
    along = samples[None, :] <= reach[:, None]
    x = scan.pose_3[0] + np.cos(angles)[:, None] * samples[None, :]
    y = scan.pose_3[1] + np.sin(angles)[:, None] * samples[None, :]
    ev.add(ev.free, np.stack([x[along], y[along]], axis=1))
    ends = np.stack(
        [
            scan.pose_3[0] + np.cos(angles[hit]) * ranges[hit],
            scan.pose_3[1] + np.sin(angles[hit]) * ranges[hit],
        ],
        axis=1,
    )
    ev.add(ev.occupied, ends)
