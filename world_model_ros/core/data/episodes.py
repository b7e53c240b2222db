"""Aligned training/evaluation sequences: what the dataset loader produces from bags.

One ``Episode`` is a run of samples at a fixed ``dt_s`` with no gap inside it; gaps and
episode boundaries in a bag start a new Episode. Arrays are indexed by step t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Obstacle:
    """Ground-truth obstacle footprint in the odometry frame (simulator bags only).

    kind "box": half extents (hx, hy) rotated by yaw about (x, y); kind "cylinder": radius hx.
    """

    kind: str
    x: float
    y: float
    yaw: float
    hx: float
    hy: float


@dataclass
class ArenaMap:
    """Ground truth of one simulated layout: walls at |x|, |y| = half_size_m and obstacles."""

    half_size_m: float
    obstacles: list[Obstacle]
    robot_radius_m: float
    layout_seed: int | None = None


@dataclass
class Episode:
    """Aligned samples at a fixed dt.

    images_thw3: uint8 RGB at the camera's size; poses_t3: (x, y, yaw) odometry frame;
    twists_t2: measured body-frame (v, w); commands_t2: the command in force during step t
    (from t to t+1); contacts_t: True where the robot touches an obstacle or wall, when known
    (simulator ground truth), else None.
    """

    dt_s: float
    stamps_s: np.ndarray
    images_thw3: np.ndarray
    poses_t3: np.ndarray
    twists_t2: np.ndarray
    commands_t2: np.ndarray
    contacts_t: np.ndarray | None = None
    arena: ArenaMap | None = None
    source: str = ""
    # the encoder's LaserScan input per step (core/data/scan_input.py), when attached
    scan_tk: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.stamps_s)
