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
from ..core.planning.controller_config import ControllerConfig
from ..core.planning.goal import GoalState
from ..core.planning.goal_controller import GoalController
from .simulator import DiffDriveSim


class PlannerPolicy:
    """Drives to a random free goal at least ``goal_min_distance_m`` away; a new goal when it is
    reached or when the robot got no ``progress_m`` closer for ``give_up_s``. The planning is
    the demo's (``GoalController`` with ``config``: position-only goals within 0.2 m)."""

    def __init__(
        self,
        sim: DiffDriveSim,
        model: WorldModel,
        config: ControllerConfig,
        rng: np.random.Generator,
        goal_min_distance_m: float = 1.5,
        give_up_s: float = 10.0,
        progress_m: float = 0.1,
    ):
        self.sim = sim
        self.model = model
        self.controller = GoalController(model, config)
        self.rng = rng
        self.goal_min_distance_m = goal_min_distance_m
        self.give_up_s = give_up_s
        self.progress_m = progress_m

    def reset(self) -> None:
        """A new episode: forget the plan and the remembered contacts, pick a goal."""
        self.controller.reset()
        self._new_goal()

    def _new_goal(self) -> None:
        try:
            goal = self.sim.sample_goal(self.rng, min_distance_m=self.goal_min_distance_m)
        except RuntimeError:  # a cramped layout: any free pose will do
            goal = self.sim.sample_free_pose(self.rng)
        self.controller.set_goal(np.asarray(goal), self.sim.time_s)
        self._best_distance, self._since_progress_s = math.inf, 0.0

    def command(self, dt_s: float, touching: bool) -> np.ndarray:
        """The planner's command for the simulator's current camera frame and odometry."""
        pose, twist = self.sim.odometry()
        goal = self.controller.goal
        distance = math.inf if goal is None else float(np.hypot(*(goal[:2] - pose[:2])))
        if distance < self._best_distance - self.progress_m:
            self._best_distance, self._since_progress_s = distance, 0.0
        else:
            self._since_progress_s += dt_s
            if self._since_progress_s > self.give_up_s:
                self._new_goal()
        image = self.sim.render() if self.model.uses_camera else None
        observation = Observation(
            self.sim.time_s, image, pose.astype(np.float32), twist.astype(np.float32)
        )
        output = self.controller.step(observation, self.sim.time_s)
        if output.status.state in (GoalState.REACHED, GoalState.FAILED):
            self._new_goal()
            output = self.controller.step(None, self.sim.time_s)
        return np.zeros(2) if output.command_2 is None else output.command_2
