"""Seeded arena layouts: walls, obstacles (boxes and cylinders), their colours, and free space.

A layout is a pure function of its seed, so the training and test sets can use disjoint seeds
and any recording names the exact arena it was made in. Everything here is plain NumPy on the
ground-truth :class:`~world_model_ros.core.data.episodes.ArenaMap`, so evaluation code can ask "how
far is this pose from an obstacle?" without MuJoCo.

Frame: the arena is centred on the world origin with walls at |x|, |y| = half_size_m; the
simulator's odometry frame IS this frame (see simulator.py), so maps and poses compare directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.data.bag_format import arena_from_json, arena_to_json  # noqa: F401 (the JSON form lives with the bag format)
from ..core.data.episodes import ArenaMap, Obstacle

# Saturated colours that stand out against the grey floor and the pale walls (RGBA 0..1).
OBSTACLE_PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.85, 0.15, 0.15),
    (0.15, 0.55, 0.85),
    (0.95, 0.75, 0.10),
    (0.20, 0.70, 0.25),
    (0.60, 0.25, 0.75),
    (0.95, 0.45, 0.10),
    (0.10, 0.75, 0.70),
    (0.90, 0.35, 0.60),
)


@dataclass(frozen=True)
class LayoutConfig:
    """How layouts are drawn. Sizes in metres."""

    half_size_m: float = 2.5
    wall_height_m: float = 0.5
    wall_thickness_m: float = 0.1
    obstacles_min: int = 3
    obstacles_max: int = 7
    box_half_extent_m: tuple[float, float] = (0.1, 0.35)
    cylinder_radius_m: tuple[float, float] = (0.1, 0.3)
    obstacle_height_m: tuple[float, float] = (0.25, 0.6)
    # Free corridor kept between obstacles (and between obstacles and walls) so the robot can
    # drive around them: a little more than the robot's diameter.
    min_gap_m: float = 0.45

    def validate(self) -> None:
        if self.half_size_m <= 0.5:
            raise ValueError(f"arena half_size_m must be > 0.5 m; got {self.half_size_m}")
        if not 0 <= self.obstacles_min <= self.obstacles_max:
            raise ValueError(
                f"need 0 <= obstacles_min <= obstacles_max; got {self.obstacles_min}, "
                f"{self.obstacles_max}"
            )


@dataclass
class Layout:
    """One drawn arena: the ground-truth map plus what only rendering needs (colours, heights)."""

    arena: ArenaMap
    colours_rgb: list[tuple[float, float, float]] = field(default_factory=list)
    heights_m: list[float] = field(default_factory=list)
    wall_height_m: float = 0.5
    wall_thickness_m: float = 0.1


def generate_layout(seed: int, config: LayoutConfig, robot_radius_m: float) -> Layout:
    """Draw obstacles from ``seed``: number, kind, size, colour, position, yaw.

    Obstacles are placed by rejection so that each keeps ``min_gap_m`` from the others and from
    the walls; if the arena is too crowded for the drawn count, fewer are placed (deterministic).
    """
    config.validate()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    count = int(rng.integers(config.obstacles_min, config.obstacles_max + 1))
    obstacles: list[Obstacle] = []
    colours: list[tuple[float, float, float]] = []
    heights: list[float] = []
    palette_order = rng.permutation(len(OBSTACLE_PALETTE))
    for index in range(count):
        for _attempt in range(100):
            if rng.random() < 0.5:
                hx, hy = (float(v) for v in rng.uniform(*config.box_half_extent_m, size=2))
                candidate = Obstacle(
                    "box", 0.0, 0.0, float(rng.uniform(-math.pi, math.pi)), hx, hy
                )
            else:
                r = float(rng.uniform(*config.cylinder_radius_m))
                candidate = Obstacle("cylinder", 0.0, 0.0, 0.0, r, r)
            reach = bounding_radius(candidate)
            limit = config.half_size_m - reach - config.min_gap_m
            if limit <= 0:
                continue
            candidate.x, candidate.y = (float(v) for v in rng.uniform(-limit, limit, size=2))
            if all(
                math.hypot(candidate.x - o.x, candidate.y - o.y)
                > reach + bounding_radius(o) + config.min_gap_m
                for o in obstacles
            ):
                obstacles.append(candidate)
                base = np.array(OBSTACLE_PALETTE[palette_order[index % len(OBSTACLE_PALETTE)]])
                colours.append(
                    tuple(float(c) for c in np.clip(base + rng.uniform(-0.08, 0.08, 3), 0, 1))
                )
                heights.append(float(rng.uniform(*config.obstacle_height_m)))
                break
    arena = ArenaMap(
        half_size_m=config.half_size_m,
        obstacles=obstacles,
        robot_radius_m=robot_radius_m,
        layout_seed=int(seed),
    )
    return Layout(arena, colours, heights, config.wall_height_m, config.wall_thickness_m)


def bounding_radius(obstacle: Obstacle) -> float:
    """Radius of the circle around the obstacle's footprint (m)."""
    return math.hypot(obstacle.hx, obstacle.hy) if obstacle.kind == "box" else obstacle.hx


def signed_distance(arena: ArenaMap, xy_n2: np.ndarray) -> np.ndarray:
    """Distance (m) from each point to the nearest wall face or obstacle footprint; < 0 inside.

    xy_n2: [N, 2] points in the arena/odom frame. Walls are the inner faces at |x|, |y| =
    half_size_m. A robot centred at p touches something when ``signed_distance(p) <
    arena.robot_radius_m``: the ground truth for interpenetration and clearance metrics.
    """
    xy = np.atleast_2d(np.asarray(xy_n2, dtype=np.float64))
    best = arena.half_size_m - np.abs(xy).max(axis=1)
    for o in arena.obstacles:
        d = xy - np.array([o.x, o.y])
        if o.kind == "cylinder":
            dist = np.hypot(d[:, 0], d[:, 1]) - o.hx
        else:
            c, s = math.cos(o.yaw), math.sin(o.yaw)
            local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=1)
            q = np.abs(local) - np.array([o.hx, o.hy])
            outside = np.hypot(np.maximum(q[:, 0], 0), np.maximum(q[:, 1], 0))
            dist = outside + np.minimum(np.maximum(q[:, 0], q[:, 1]), 0)
        best = np.minimum(best, dist)
    return best
