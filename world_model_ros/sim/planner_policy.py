"""A recording policy that drives the way the demo does: MPPI on a world model, to random goals.

Why: a model trained only on the exploration policy's data (sim/explore.py) is asked, in
closed loop, about the planner's own habits: fast arcs round box corners, creeping up to a goal
beside a wall, turning on the spot in front of a box. Those states are rare in blind random
driving, and the demo's remaining collisions happen in them. Recording with the planner in the
loop and training on both (DAgger's data-aggregation step) puts the model's mistakes where
they cost. The policy is the demo's planner (core/planning/mppi.py) with its settings; it looks at
the simulator's camera and odometry itself, so the recorder's interface is the exploration
policy's: ``reset()`` and ``command(dt_s, touching)``.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.model.contract import Observation, WorldModel
from ..core.planning.mppi import GoalTolerance, MppiConfig, MppiPlanner, goal_reached
from .simulator import DiffDriveSim


class PlannerPolicy:
    """Drives to a random free goal at least ``goal_min_distance_m`` away; a new goal when it is
    reached or when the robot got no ``progress_m`` closer for ``give_up_s``."""

    def __init__(
        self,
        sim: DiffDriveSim,
        model: WorldModel,
        mppi: MppiConfig,
        rng: np.random.Generator,
        goal_min_distance_m: float = 1.5,
        give_up_s: float = 10.0,
        progress_m: float = 0.1,
        tolerance: GoalTolerance = GoalTolerance(xy_m=0.2, yaw_rad=math.pi),
    ):
        self.sim = sim
        self.model = model
        self.planner = MppiPlanner(model, mppi)
        self.rng = rng
        self.goal_min_distance_m = goal_min_distance_m
        self.give_up_s = give_up_s
        self.progress_m = progress_m
        self.tolerance = tolerance

    def reset(self) -> None:
        """A new episode: forget the plan and the remembered contacts, pick a goal."""
        self._command = np.zeros(2)
        self._new_goal()

    def _new_goal(self) -> None:
        self.planner.reset()
        self._cycles = 0
        try:
            self._goal = np.asarray(
                self.sim.sample_goal(self.rng, min_distance_m=self.goal_min_distance_m)
            )
        except RuntimeError:  # a cramped layout: any free pose will do
            self._goal = np.asarray(self.sim.sample_free_pose(self.rng))
        self._best_distance, self._since_progress_s = math.inf, 0.0

    def command(self, dt_s: float, touching: bool) -> np.ndarray:
        """The planner's command for the simulator's current camera frame and odometry."""
        pose, twist = self.sim.odometry()
        if goal_reached(pose, self._goal, self.tolerance):
            self._new_goal()
        distance = float(np.hypot(*(self._goal[:2] - pose[:2])))
        if distance < self._best_distance - self.progress_m:
            self._best_distance, self._since_progress_s = distance, 0.0
        else:
            self._since_progress_s += dt_s
            if self._since_progress_s > self.give_up_s:
                self._new_goal()
        image = self.sim.render() if getattr(self.model, "uses_camera", False) else None
        latent = self.model.encode(
            Observation(self.sim.time_s, image, pose.astype(np.float32), twist.astype(np.float32))
        )
        if self._cycles:
            self.planner.shift(1)
        self._cycles += 1
        self._command = self.planner.plan(latent, self._goal, self._command).command_2
        return self._command
