"""A planar LiDAR's evidence for the costmap: what one LaserScan says about the floor around
the robot, in the map's configuration space.

Why the planner takes the scan itself and not only the model's: the occupancy head learned
from a robot's own bags guesses from one camera frame, and on a robot it was not shipped for
its guesses are blurred (blocked blobs well beyond the obstacles); a robot started between two
posts then sees no way out. A 2D LiDAR measures the same floor directly, all round. Where a
fresh scan has spoken, the map follows it (nav2's obstacle layer: a return marks, the beam in
front of it clears); elsewhere (out of its range, behind what it hit) the head's guesses stand.
The price: an obstacle lower than the scan plane is cleared over, and only the camera sees it.
So the scan overrules only the head's blobs near what it hit (``explained_within_m``: a blur of
that); a blob with no return near it stands (``overrule_head: false`` keeps the higher of the
two words everywhere, blobs and all).

Configuration space, like the head's cells: a cell is marked when a robot centred there would
touch a return (within ``body_radius_m``), so the rollouts' centres are checked as they are.
The marking is a rasterise-and-dilate over the window the scan reaches (one small convolution)
and the clearing a lookup of each cell's beam, a few milliseconds per scan on one CPU core; a
distance from every cell to every return would cost ten times that.

A beam without a return (+inf: beyond range, or a dropout) clears nothing, as nav2 does by
default (``inf_is_valid: false``): a dropout must not erase an obstacle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..config import ConfigError, setting, validate_settings


@dataclass(frozen=True)
class ScanLayerConfig:
    """How a LaserScan enters the costmap (``occupancy.scan`` in config/mpc_planner.yaml)."""

    enabled: bool = setting(
        True,
        "fuse a planar LiDAR's scans (when the robot has one) into the costmap: returns mark, "
        "beams clear",
    )
    max_range_m: float = setting(
        3.0, "use returns and clear cells out to this distance from the sensor (m)", low=0.1
    )
    margin_m: float = setting(
        0.0,
        "mark out to the body radius plus this (m): a margin for the corners a scan sees edge-on",
        low=0.0,
        high=1.0,
    )
    overrule_head: bool = setting(
        True,
        "rollouts read the LiDAR's evidence in place of the occupancy head's where a scan has "
        "spoken (false: the higher of the two, so an obstacle below the scan plane still counts, "
        "and so do the head's blurred guesses)",
    )
    explained_within_m: float = setting(
        0.5,
        "the scan overrules the head's blocked guesses within this distance (m) of a cell it "
        "marked (blurred blobs around what it hit); farther, where no return explains them, "
        "the higher of the two stands (an obstacle below the scan plane); 0 = overrule all",
        low=0.0,
        high=3.0,
    )
    hit_log_odds: float = setting(
        2.0, "log-odds added per scan to a cell a robot there would touch a return from", low=0.0
    )
    miss_log_odds: float = setting(
        0.7, "log-odds taken per scan from a cell a beam crossed", low=0.0
    )

    def __post_init__(self) -> None:
        validate_settings(self)
        if not (self.hit_log_odds > 0 and self.miss_log_odds > 0):
            raise ConfigError(
                f"occupancy.scan: hit_log_odds and miss_log_odds must be > 0 (got "
                f"{self.hit_log_odds}, {self.miss_log_odds})"
            )


@dataclass(frozen=True)
class LaserFrame:
    """One scan where it was taken: beam angles (rad, sensor frame, evenly spaced, either
    way round), ranges (m, +inf where no return) and the sensor's (x, y, yaw) in the odometry
    frame."""

    angles_n: np.ndarray
    ranges_n: np.ndarray
    sensor_pose_3: np.ndarray

    def __post_init__(self) -> None:
        if np.shape(self.angles_n) != np.shape(self.ranges_n) or np.ndim(self.angles_n) != 1:
            raise ValueError(
                f"a scan needs as many angles as ranges (got {np.shape(self.angles_n)} and "
                f"{np.shape(self.ranges_n)})"
            )
        if not np.isfinite(np.asarray(self.sensor_pose_3, dtype=np.float64)).all():
            raise ValueError(f"the sensor pose {self.sensor_pose_3} is not finite")


def scan_window(
    frame: LaserFrame, centres_xy2: torch.Tensor, body_radius_m: float, config: ScanLayerConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """(marked, cleared) bool [X, Y] for a window of cells whose centres (odometry frame) are
    ``centres_xy2`` [X, Y, 2] on a regular grid: marked within ``body_radius_m`` +
    ``margin_m`` of a return closer than ``max_range_m`` (a robot centred there would touch
    it), cleared where a beam passed the centre short of its return (and it is not marked)."""
    device = centres_xy2.device
    nx, ny = centres_xy2.shape[:2]
    sensor = np.asarray(frame.sensor_pose_3, dtype=np.float64)
    order = np.argsort(frame.angles_n)  # a LaserScan may turn either way (a negative increment)
    angles = np.asarray(frame.angles_n, dtype=np.float64)[order]
    ranges = np.asarray(frame.ranges_n, dtype=np.float64)[order]
    hit = np.isfinite(ranges) & (ranges > 0) & (ranges <= config.max_range_m)
    marked = torch.zeros(nx, ny, dtype=torch.bool, device=device)
    if nx < 2 or ny < 2 or len(angles) == 0:
        return marked, marked.clone()
    corner = centres_xy2[0, 0].detach().cpu().numpy().astype(np.float64)
    cell = float((centres_xy2[1, 0, 0] - centres_xy2[0, 0, 0]).item())
    if hit.any():
        bearing = sensor[2] + angles[hit]
        points = sensor[:2] + ranges[hit, None] * np.stack([np.cos(bearing), np.sin(bearing)], 1)
        index = np.round((points - corner) / cell).astype(np.int64)
        inside = ((index >= 0) & (index < [nx, ny])).all(axis=1)
        hits = torch.zeros(1, 1, nx, ny, device=device)
        hits[0, 0, index[inside, 0], index[inside, 1]] = 1.0
        radius = body_radius_m + config.margin_m
        reach = int(math.ceil(radius / cell))
        offsets = torch.arange(-reach, reach + 1, device=device, dtype=torch.float32) * cell
        disk = (torch.hypot(offsets[:, None], offsets[None, :]) <= radius).float()
        marked = F.conv2d(hits, disk[None, None], padding=reach)[0, 0] > 0.5
    # each cell's beam: the nearest angle (beams are evenly spaced in a LaserScan)
    offset = centres_xy2.detach().cpu().numpy().astype(np.float64) - sensor[:2]
    distance = np.hypot(offset[..., 0], offset[..., 1])
    increment = float(np.median(np.diff(angles))) if len(angles) > 1 else 2 * math.pi
    relative = np.mod(
        np.arctan2(offset[..., 1], offset[..., 0]) - sensor[2] - angles[0], 2 * np.pi
    )
    beam = np.round(relative / increment).astype(np.int64)
    if increment * len(angles) >= 2 * math.pi - 1e-6:
        beam %= len(angles)  # a full circle: past the last beam is the first
    in_fan = beam < len(angles)
    clear_to = np.where(np.isfinite(ranges), np.minimum(ranges, config.max_range_m), 0.0)
    cleared = in_fan & (distance < clear_to[np.minimum(beam, len(angles) - 1)])
    return marked, torch.from_numpy(cleared).to(device) & ~marked
