"""A way round on the occupancy map, for the detour: the shortest path through cells the map
does not hold blocked.

MPPI sees 2 s ahead. When the goal lies behind obstacles, a side sub-goal at a fixed angle
(``detour.py``) often lies behind them too: a robot started between two posts turns from one
to the other and gives up. The planner's occupancy map (``occupancy_map.py``) already holds
what the robot has seen; a shortest path on it to the goal (or, when the goal cannot be
reached on what is known, to the reachable cell nearest the goal) says which way round is
open. The detour then aims at the point ``distance_m`` along that path: nav2's split between a
global planner on the costmap and a local controller, reduced to what a local minimum needs.

Cells never seen cost what the prior says (unknown counts as free, as nav2's ``allow_unknown``):
the robot explores rather than stands. The map's cells are configuration space (a robot centred
there touches something), so the path needs no footprint inflation beyond the map's own margin.

The path is planned on the map's *measured* occupancy (the LiDAR's word over the occupancy
head's guesses, ``OccupancyMap.measured_probability_xy``), and by default only once a LiDAR has
fed it (``needs_scan``): on the head's guesses alone a path led the small robot astray.

Why scipy's Dijkstra: the graph is a grid of about 6400 cells, built only while a detour is
on (every cycle then, about 5 ms on one CPU core); ``scipy.sparse.csgraph`` is a well-kept,
compiled shortest-path solver, and a priority queue of our own would be slower and longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from torch.nn import functional as F

from ..config import setting, validate_settings
from .occupancy_map import OccupancyMap

# 8-connected grid moves (di, dj)
_MOVES = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]


@dataclass(frozen=True)
class RouteConfig:
    """How the way round is searched (``detour.route`` in config/mpc_planner.yaml)."""

    enabled: bool = setting(
        True,
        "aim a detour along the shortest path on the occupancy map (when the model fills one) "
        "instead of at a fixed angle",
    )
    cell_m: float = setting(
        0.1, "path grid cell (m): the map's cells pooled to this size", low=0.01, high=1.0
    )
    blocked: float = setting(
        0.5, "occupancy probability from which a cell cannot be crossed", low=0.01, high=1.0
    )
    occupancy_weight: float = setting(
        4.0, "extra cost per metre per unit of occupancy probability", low=0.0
    )
    free_radius_m: float = setting(
        0.15,
        "cells this close to the robot are crossable whatever the map says (it stands there)",
        low=0.0,
    )
    needs_scan: bool = setting(
        True,
        "route only on a map a LiDAR has fed: the occupancy head's guesses alone are too blurred "
        "to route on (they led the small robot astray)",
    )
    max_s: float = setting(
        10.0, "longest a detour follows one path (s), re-planned every cycle", low=0.001
    )

    def __post_init__(self) -> None:
        validate_settings(self)


def route_grid(occupancy: OccupancyMap, cell_m: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The map's measured occupancy [X, Y] (the scan's word over the head's guesses, with the
    map's inflation) pooled (max) to cells of about ``cell_m``, the odometry position of cell
    (0, 0)'s corner, and the pooled cell size."""
    assert occupancy.origin_2 is not None  # only asked for a map that holds evidence
    step = max(1, int(round(cell_m / occupancy.config.resolution_m)))
    # with the map's own margin, as the rollouts read it
    probability = occupancy.inflated_measured_probability_xy()[None, None]
    pooled = F.max_pool2d(probability, kernel_size=step, stride=step, ceil_mode=True)[0, 0]
    return (
        pooled.cpu().numpy().astype(np.float64),
        occupancy.origin_2.cpu().numpy().astype(np.float64),
        step * occupancy.config.resolution_m,
    )


def shortest_path(
    probability_xy: np.ndarray,
    start_ij: tuple[int, int],
    goal_ij: tuple[int, int],
    config: RouteConfig,
    free_cells: int = 0,
) -> list[tuple[int, int]]:
    """Cells from ``start_ij`` to ``goal_ij`` (or to the reachable cell nearest it) on the
    grid, cheapest first by length x (1 + weight x occupancy); [] when nothing is reachable.
    Cells within ``free_cells`` of the start are crossable whatever their occupancy."""
    nx, ny = probability_xy.shape
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    passable = probability_xy < config.blocked
    near = np.hypot(ii - start_ij[0], jj - start_ij[1]) <= free_cells
    passable |= near
    cost = 1.0 + config.occupancy_weight * np.where(near, 0.0, probability_xy)
    index = np.arange(nx * ny).reshape(nx, ny)
    rows, cols, weights = [], [], []
    for di, dj in _MOVES:
        a = (slice(max(0, -di), nx - max(0, di)), slice(max(0, -dj), ny - max(0, dj)))
        b = (slice(max(0, di), nx - max(0, -di)), slice(max(0, dj), ny - max(0, -dj)))
        both = passable[a] & passable[b]
        rows.append(index[a][both])
        cols.append(index[b][both])
        weights.append(math.hypot(di, dj) * 0.5 * (cost[a][both] + cost[b][both]))
    graph = csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(nx * ny, nx * ny),
    )
    start = int(index[start_ij])
    distance, previous = dijkstra(graph, indices=start, return_predecessors=True)
    reachable = np.isfinite(distance).reshape(nx, ny)
    if not reachable.any():
        return []
    to_goal = np.hypot(ii - goal_ij[0], jj - goal_ij[1])
    to_goal[~reachable] = np.inf
    target = int(np.argmin(to_goal))
    path = [target]
    while path[-1] != start:
        path.append(int(previous[path[-1]]))
        if path[-1] < 0:
            return []
    return [(p // ny, p % ny) for p in reversed(path)]


def in_sight(
    probability_xy: np.ndarray,
    start_ij: np.ndarray,
    end_ij: np.ndarray,
    config: RouteConfig,
    free_cells: float = 0.0,
) -> bool:
    """Whether the straight line between two grid positions (in cells) crosses no blocked
    cell further than ``free_cells`` from the start: then nothing is in the way on the map."""
    steps = max(2, int(np.ceil(2 * np.linalg.norm(end_ij - start_ij))) + 1)
    line = start_ij + np.linspace(0.0, 1.0, steps)[:, None] * (end_ij - start_ij)
    cells = np.clip(np.floor(line).astype(int), 0, np.array(probability_xy.shape) - 1)
    blocked = probability_xy[cells[:, 0], cells[:, 1]] >= config.blocked
    beyond = np.linalg.norm(line - start_ij, axis=1) > free_cells
    return not bool((blocked & beyond).any())


def way_point(
    occupancy: OccupancyMap,
    pose_xyyaw: np.ndarray,
    goal_xyyaw: np.ndarray,
    distance_m: float,
    config: RouteConfig = RouteConfig(),
) -> np.ndarray | None:
    """The point ``distance_m`` along the shortest path from the robot to the goal on the map,
    as (x, y, heading along the path); None without a map, without a path that leaves the
    robot's cell, or when the path is direct (nothing in the way on the map: a detour along
    it would be the straight line MPPI already tries)."""
    if not config.enabled or occupancy.empty or not occupancy.config.enabled:
        return None
    if config.needs_scan and not occupancy.has_scans:
        return None
    grid, origin, cell = route_grid(occupancy, config.cell_m)
    nx, ny = grid.shape

    def cell_of(xy: np.ndarray) -> tuple[int, int]:
        i, j = np.floor((np.asarray(xy[:2], dtype=np.float64) - origin) / cell).astype(int)
        return int(np.clip(i, 0, nx - 1)), int(np.clip(j, 0, ny - 1))

    start = cell_of(pose_xyyaw)
    free_cells = config.free_radius_m / cell
    path = shortest_path(grid, start, cell_of(goal_xyyaw), config, int(free_cells + 0.5))
    if len(path) < 2:
        return None
    points = origin + (np.array(path, dtype=np.float64) + 0.5) * cell
    points[0] = np.asarray(pose_xyyaw, dtype=np.float64)[:2]
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    if in_sight(
        grid, (points[0] - origin) / cell, (points[-1] - origin) / cell, config, free_cells
    ):
        return None
    at = min(distance_m, float(lengths[-1]))
    k = int(np.searchsorted(lengths, at, side="right")) - 1
    k = min(k, len(points) - 2)
    share = (at - lengths[k]) / max(lengths[k + 1] - lengths[k], 1e-9)
    point = points[k] + share * (points[k + 1] - points[k])
    direction = points[k + 1] - points[k]
    return np.array([point[0], point[1], math.atan2(direction[1], direction[0])])
