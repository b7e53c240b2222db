"""A tiny escape from MPPI's local minimum in front of a wide obstacle.

With a 2 s horizon and no map, an obstacle squarely between robot and goal is a trap: every
sampled way round gets no closer to the goal within the horizon, so the cheapest plan is to
stand still in front of it. When the robot has got no closer by ``progress_m`` for
``no_progress_s``, :class:`Detour` hands the planner a temporary sub-goal ``distance_m`` away,
``angle_rad`` to one side of the goal's bearing, for ``duration_s``; then the real goal again.
The first side is the one the last plan was already leaning to; repeated detours alternate.
The collision critics still apply while detouring, so the detour itself avoids obstacles.

With an occupancy map a LiDAR has fed (``route.needs_scan``), the sub-goal is instead
the point ``distance_m`` along the shortest path to the goal through what the map does not
hold blocked (``route.py``), re-planned every cycle until the path is direct or
``route.max_s`` is up: a fixed angle to one side often points at the next obstacle (a robot
started between two posts). The side rule remains for a model without a map, and when the map
shows no way round or nothing in the way (the path is direct).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import setting, validate_settings
from .occupancy_map import OccupancyMap
from .route import RouteConfig, way_point


@dataclass(frozen=True)
class DetourConfig:
    enabled: bool = setting(
        True, "escape local minima (an obstacle squarely in the way) with a side sub-goal"
    )
    no_progress_s: float = setting(
        3.0, "seconds without getting closer by progress_m before a detour", low=0.001
    )
    progress_m: float = setting(0.1, "progress (m) that counts", low=0.001)
    angle_rad: float = setting(
        1.2,
        "sub-goal direction relative to the goal's bearing (rad, either side)",
        low=0.0,
        high=math.pi,
    )
    distance_m: float = setting(0.8, "sub-goal distance from the robot (m)", low=0.001)
    duration_s: float = setting(2.5, "how long one detour lasts (s)", low=0.001)
    route: RouteConfig = setting(default_factory=RouteConfig)

    def __post_init__(self) -> None:
        validate_settings(self)


class Detour:
    """Tracks progress to one goal and says which goal to plan towards now."""

    def __init__(self, config: DetourConfig = DetourConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._best_distance = math.inf
        self._best_time_s = 0.0
        self._until_s = -math.inf
        self._subgoal: np.ndarray | None = None
        self._last_side = 0.0
        self._routed = False
        self.detours = 0
        self.routed = 0  # of which aimed along a path on the occupancy map

    @property
    def active(self) -> bool:
        return self._subgoal is not None

    def goal_for(
        self,
        time_s: float,
        pose_xyyaw: np.ndarray,
        goal_xyyaw: np.ndarray,
        plan_end_xy: np.ndarray | None = None,
        occupancy: OccupancyMap | None = None,
    ) -> np.ndarray:
        """The goal to plan towards at ``time_s``: ``goal_xyyaw`` or a detour sub-goal (along
        a path on ``occupancy`` when there is one)."""
        c = self.config
        pose = np.asarray(pose_xyyaw, dtype=np.float64)
        goal = np.asarray(goal_xyyaw, dtype=np.float64)
        distance = float(np.hypot(*(goal[:2] - pose[:2])))
        if distance < self._best_distance - c.progress_m:
            self._best_distance, self._best_time_s = distance, time_s
        if self._subgoal is not None:
            if self._routed and time_s < self._until_s:
                # along the path, re-planned from here: until it is direct or max_s is up
                ahead = self._along_path(occupancy, pose, goal)
                if ahead is not None:
                    self._subgoal = ahead
                    return ahead
            elif time_s < self._until_s:
                return self._subgoal
            self._subgoal = None
            self._best_distance, self._best_time_s = (
                distance,
                time_s,
            )  # give the real goal a fresh chance
        if (
            not c.enabled
            or time_s - self._best_time_s < c.no_progress_s
            or distance < 2 * c.progress_m
        ):
            return goal
        self.detours += 1
        routed = self._along_path(occupancy, pose, goal)
        self._routed = routed is not None
        if routed is not None:
            self.routed += 1
            self._subgoal, self._until_s = routed, time_s + c.route.max_s
            return routed
        self._until_s = time_s + c.duration_s
        bearing = math.atan2(goal[1] - pose[1], goal[0] - pose[0])
        if self._last_side:
            side = -self._last_side
        elif plan_end_xy is not None:
            to_goal = goal[:2] - pose[:2]
            to_end = np.asarray(plan_end_xy, dtype=np.float64)[:2] - pose[:2]
            side = 1.0 if to_goal[0] * to_end[1] - to_goal[1] * to_end[0] >= 0 else -1.0
        else:
            side = 1.0
        self._last_side = side
        heading = bearing + side * c.angle_rad
        self._subgoal = np.array(
            [
                pose[0] + c.distance_m * math.cos(heading),
                pose[1] + c.distance_m * math.sin(heading),
                heading,
            ]
        )
        return self._subgoal

    def _along_path(
        self, occupancy: OccupancyMap | None, pose: np.ndarray, goal: np.ndarray
    ) -> np.ndarray | None:
        """The sub-goal along the shortest path on ``occupancy`` (route.py); None without one."""
        if occupancy is None:
            return None
        return way_point(occupancy, pose, goal, self.config.distance_m, self.config.route)
