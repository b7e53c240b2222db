"""A route round the remembered obstacles, so MPPI steers for a point it can reach.

Why: MPPI looks 2 s ahead and is pulled straight at the goal. With a box between the robot
and the goal, every way round gets no closer within the horizon, so the robot stands in front
of the box (the demo's "stuck" failures), or it cuts round the corner as tightly as the
collision critics let it (the flank grazes). nav2 answers this with a global planner over a
costmap and a local controller that follows the plan; this is the same split, with the contact
memory (core/contact_memory.py) as the costmap: the surfaces the model was sure of, in the
odometry frame. Space the model never judged counts as free, as in nav2's
``allow_unknown``: the route is optimistic, and MPPI's critics and the memory correct it as
the camera sees more.

Each cycle: if no remembered surface lies within ``inflation_m`` of the straight line to the
goal, the goal is the target (the open-floor behaviour is untouched). Otherwise a grid of
``cell_m`` covering robot, goal and surfaces gets a cost per metre: 1 in the open, rising
towards ``inflation_m`` from a surface and ``blocked_cost`` within ``clearance_m`` of one
(finite: a robot already that close gets out the cheapest way, and one walled in by wrong
guesses crosses the thinnest wall rather than having no route). Dijkstra from the goal
(scipy's csgraph: a C implementation; a grid this size is a few thousand nodes) gives the
cheapest way from the robot's cell. The target handed to MPPI is the furthest point of that
way, up to ``lookahead_m`` along it, that the robot sees in a straight line clear of the
blocked cells: far enough that the horizon never reaches it (the goal critic keeps its pull)
and near enough that the straight line to it does not cut the corner.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra


@dataclass(frozen=True)
class RouteConfig:
    enabled: bool = True
    cell_m: float = 0.1  # grid resolution
    clearance_m: float = 0.22  # centre this close to a remembered surface: blocked (body 0.17 + 0.05)
    inflation_m: float = 0.45  # the cost of nearing a surface starts here
    inflation_cost: float = 4.0  # extra cost per metre at clearance_m (linear to 0 at inflation_m)
    blocked_cost: float = 50.0  # cost per metre through a blocked cell
    lookahead_m: float = 1.5  # the target is at most this far along the route...
    min_lookahead_m: float = 0.6  # ...and at least this far, in sight or not (a nearer one gives MPPI no pull)
    margin_m: float = 1.0  # the grid extends this far beyond robot, goal and surfaces
    switch_ratio: float = 1.3  # keep following the last route unless a new one is this many times cheaper

    def __post_init__(self) -> None:
        if not (self.cell_m > 0 and 0 <= self.clearance_m < self.inflation_m and 0 < self.min_lookahead_m <= self.lookahead_m
                and self.margin_m >= 0 and self.inflation_cost >= 0 and self.blocked_cost >= 1
                and self.switch_ratio >= 1):
            raise ValueError(f"route: need cell_m > 0, 0 <= clearance_m < inflation_m, 0 < min_lookahead_m <= lookahead_m, "
                             f"margin_m >= 0, inflation_cost >= 0, blocked_cost >= 1, "
                             f"switch_ratio >= 1 (got {self})")


@dataclass(frozen=True)
class RoutePlan:
    target_xyyaw: np.ndarray  # where MPPI should steer now: the goal, or a point of the route
    path_m2: np.ndarray  # the route from the robot to the goal, [K, 2] (just the two ends when direct)
    direct: bool  # no remembered surface near the straight line: the goal itself is the target


# The eight neighbours of a grid cell and their step lengths (in cells).
_STEPS = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)])
_STEP_LENGTHS = np.hypot(_STEPS[:, 0], _STEPS[:, 1])


def segment_distance(points_m2: np.ndarray, a_2: np.ndarray, b_2: np.ndarray) -> np.ndarray:
    """Distance of each point to the segment from ``a_2`` to ``b_2``."""
    ab = b_2 - a_2
    t = np.clip(((points_m2 - a_2) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points_m2 - (a_2 + t[:, None] * ab), axis=1)


class Route:
    """Plans the route each cycle from the current surfaces, keeping to the last one while it
    is not much dearer than the best (``switch_ratio``).

    Why the hysteresis: the surfaces fill in as the robot drives, so the cheapest way round a
    box often swaps sides as the side being driven along is seen to be longer. Swapping every
    time turned the robot back and forth in front of the box until it gave up; like the bug
    algorithms, it keeps to the side it chose until that side is clearly worse.
    """

    def __init__(self, config: RouteConfig = RouteConfig()):
        self.config = config
        self._previous_m2: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the route being followed (a new goal)."""
        self._previous_m2 = None

    def plan(self, pose_xyyaw: np.ndarray, goal_xyyaw: np.ndarray, surfaces_m2: np.ndarray) -> RoutePlan:
        c = self.config
        robot = np.asarray(pose_xyyaw, dtype=np.float64)[:2]
        goal = np.asarray(goal_xyyaw, dtype=np.float64)
        surfaces = np.asarray(surfaces_m2, dtype=np.float64).reshape(-1, 2)
        direct = RoutePlan(goal, np.stack([robot, goal[:2]]), True)
        if not c.enabled or len(surfaces) == 0 or segment_distance(surfaces, robot, goal[:2]).min() >= c.inflation_m:
            self._previous_m2 = None
            return direct
        origin = np.minimum(np.minimum(robot, goal[:2]), surfaces.min(axis=0)) - c.margin_m
        far = np.maximum(np.maximum(robot, goal[:2]), surfaces.max(axis=0)) + c.margin_m
        shape = tuple(int(n) for n in np.ceil((far - origin) / c.cell_m).astype(int) + 1)
        cells = lambda xy: np.clip(np.round((xy - origin) / c.cell_m).astype(int), 0, np.array(shape) - 1)
        occupied = np.zeros(shape, dtype=bool)
        occupied[tuple(cells(surfaces).T)] = True
        clearance = ndimage.distance_transform_edt(~occupied) * c.cell_m
        ramp = np.clip((c.inflation_m - clearance) / (c.inflation_m - c.clearance_m), 0.0, 1.0)
        cost = np.where(clearance < c.clearance_m, c.blocked_cost, 1.0 + c.inflation_cost * ramp)
        start, end = cells(robot), cells(goal[:2])
        cell_path = _cheapest_path(cost, start, end)
        if len(cell_path) < 2:  # robot and goal in one cell
            return direct
        path = origin + cell_path * c.cell_m
        path[0], path[-1] = robot, goal[:2]
        kept = self._continued(robot, goal[:2])
        if kept is not None:
            price = lambda polyline: _path_cost(polyline, cost, origin, c.cell_m)
            if price(kept) <= c.switch_ratio * price(path):
                path = kept
        self._previous_m2 = path
        blocked = clearance < c.clearance_m
        target_index = _lookahead_index(path, blocked, origin, c)
        if target_index == len(path) - 1:
            return RoutePlan(goal, path, False)
        heading = path[min(target_index + 1, len(path) - 1)] - path[target_index - 1]
        target = np.array([*path[target_index], math.atan2(heading[1], heading[0])])
        return RoutePlan(target, path, False)


    def _continued(self, robot_2: np.ndarray, goal_2: np.ndarray) -> np.ndarray | None:
        """The last route from its point nearest the robot on (the robot prepended), or None
        when there is none to the same goal or the robot has left it (more than lookahead_m)."""
        previous = self._previous_m2
        if previous is None or not np.allclose(previous[-1], goal_2):
            return None
        gaps = np.linalg.norm(previous - robot_2, axis=1)
        nearest = int(np.argmin(gaps))
        if gaps[nearest] > self.config.lookahead_m:
            return None
        return np.concatenate([robot_2[None], previous[nearest + 1:]]) if nearest + 1 < len(previous) else None


def _path_cost(path_m2: np.ndarray, cost_xy: np.ndarray, origin_2: np.ndarray, cell_m: float) -> float:
    """The grid's cost along a polyline: cost per metre of the cell under each half-cell step."""
    total = 0.0
    for a, b in zip(path_m2[:-1], path_m2[1:]):
        length = float(np.linalg.norm(b - a))
        n = max(1, int(math.ceil(length / (0.5 * cell_m))))
        middles = a + (np.arange(n)[:, None] + 0.5) / n * (b - a)
        cells = np.clip(np.round((middles - origin_2) / cell_m).astype(int), 0, np.array(cost_xy.shape) - 1)
        total += length / n * float(cost_xy[cells[:, 0], cells[:, 1]].sum())
    return total


def _cheapest_path(cost_xy: np.ndarray, start_2: np.ndarray, end_2: np.ndarray) -> np.ndarray:
    """Grid cells [K, 2] of the cheapest 8-connected way from ``start_2`` to ``end_2``."""
    nx, ny = cost_xy.shape
    index = np.arange(nx * ny).reshape(nx, ny)
    rows, cols, weights = [], [], []
    for (dx, dy), length in zip(_STEPS, _STEP_LENGTHS):
        a = index[max(0, -dx):nx - max(0, dx), max(0, -dy):ny - max(0, dy)]
        b = index[max(0, dx):nx - max(0, -dx), max(0, dy):ny - max(0, -dy)]
        rows.append(a.ravel())
        cols.append(b.ravel())
        weights.append(0.5 * length * (cost_xy.ravel()[a.ravel()] + cost_xy.ravel()[b.ravel()]))
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(nx * ny, nx * ny)).tocsr()
    goal_index = int(index[tuple(end_2)])
    _, predecessors = dijkstra(graph, indices=goal_index, return_predecessors=True)
    node, chain = int(index[tuple(start_2)]), []
    while node >= 0:
        chain.append(node)
        if node == goal_index:
            break
        node = int(predecessors[node])
    return np.stack(np.unravel_index(np.array(chain), (nx, ny)), axis=1).astype(np.float64)


def _lookahead_index(path_m2: np.ndarray, blocked_xy: np.ndarray, origin_2: np.ndarray,
                     config: RouteConfig) -> int:
    """The furthest path index within ``lookahead_m`` along the path whose straight line from the
    robot (``path_m2[0]``) crosses no blocked cell the robot is not already in, and at least
    ``min_lookahead_m`` along it."""
    along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path_m2, axis=0), axis=1))])
    within = np.flatnonzero(along <= config.lookahead_m)
    robot = path_m2[0]
    best = max(1, int(np.searchsorted(along, config.min_lookahead_m)))
    best = min(best, len(path_m2) - 1)
    for i in within[1:]:
        if i <= best:
            continue
        n = int(math.ceil(np.linalg.norm(path_m2[i] - robot) / (0.5 * config.cell_m))) + 2
        line = robot + np.linspace(0.0, 1.0, n)[:, None] * (path_m2[i] - robot)
        line_cells = np.clip(np.round((line - origin_2) / config.cell_m).astype(int), 0,
                             np.array(blocked_xy.shape) - 1)
        hits = blocked_xy[line_cells[:, 0], line_cells[:, 1]]
        free = np.flatnonzero(~hits)
        if len(free) and hits[free[0]:].any():  # leaving a blocked region the robot is in is fine, entering one is not
            break
        best = i
    return int(best)
