"""The control cycle, written once: from the newest state to a command and a status.

``GoalController`` owns the goal, the MPPI planner, the detour, the goal tolerance, the
staleness rules and the timeout. Each control period the caller hands it the newest input
(the twin's published state, an observation to encode, or nothing new) and the time, and gets
back the command to send and the goal's status. The ROS planner node, the lockstep demo and
the on-policy recorder all drive this one class, so its stop conditions are unit-tested
without DDS and a change to them reaches every caller. Its settings are
:class:`~.controller_config.ControllerConfig`.

Inputs are judged before they are planned from: a stamp that did not advance (a duplicated or
frozen publisher), one older than ``max_input_age_s``, or a non-finite state is not usable and
makes no plan; the reason is remembered for the status. Every command passes the
:class:`~.safety.SafetyGate` (docs/planner.md, "Safety contract").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from ..live.sync import StampMonitor, StampOrder
from ..model.contract import Observation, WorldModel
from ..model.kinematic import KinematicConfig, KinematicPredictor
from .controller_config import ControllerConfig
from .detour import Detour
from .goal import (
    ControllerStatus,
    ControlOutput,
    GoalState,
    PlanningInput,
    goal_reached,
)
from .mppi import MppiPlanner, MppiResult
from .safety import SafetyGate, plan_not_finite
from .scan_layer import LaserFrame


class GoalController:
    """Goal, planner, detour, tolerance, staleness and timeout; see the module docstring."""

    def __init__(self, model: WorldModel, config: ControllerConfig | None = None):
        self.model = model
        self.config = config = config or ControllerConfig()
        self.planner = MppiPlanner(model, config.mppi)
        self._fallback_planner: MppiPlanner | None = None
        self.detour = Detour(config.detour)
        self.gate = SafetyGate(config.limits, config.stale_timeout_s)
        self.counts = dict.fromkeys(
            (
                "cycles",
                "plans",
                "duplicates",
                "stamps_backwards",
                "stamp_outliers",
                "stale",
                "unusable",
                "planning_errors",
                "invalid_plans",
                "time_resets",
            ),
            0,
        )
        self._goal: np.ndarray | None = None
        self._goal_set_s = 0.0
        self._out_of_domain = ""  # the twin's reason, '' while in domain
        # The node's last check on a plan (its input bounds); a refused plan holds the robot.
        self.plan_check: Callable[[MppiResult], str | None] | None = None
        self._stamps = StampMonitor(config.max_input_age_s)  # the twin's rule (live/sync.py)
        self._latest: PlanningInput | None = None
        self._problem = ""  # why the newest input could not be used
        self._plan: tuple[float, np.ndarray] | None = None  # (made at, commands [H, 2])
        self._plan_end_xy: np.ndarray | None = None
        self._planned_stamp_s: float | None = None
        self._sent_2 = np.zeros(2)
        self._zero_until_s = -math.inf
        self._status = ControllerStatus(GoalState.IDLE, predictor=model.model_id)

    def warm_up(self, observation: Observation) -> float:
        """Plan once from ``observation`` towards a point 1 m ahead, then forget it all, so the
        first real cycle pays no one-off cost (the rollout graph's export, allocations);
        returns the seconds it took."""
        started = time.perf_counter()
        latent = self.model.encode(observation)
        ahead = latent.pose_3.detach().cpu().numpy().astype(np.float64) + [1.0, 0.0, 0.0]
        self.planner.plan(latent, ahead)
        self.reset()
        return time.perf_counter() - started

    def reset(self) -> None:
        """Forget the goal, the plans, what was remembered and the input timeline (a new
        episode, or the robot was moved by hand)."""
        self._goal = None
        self._planners_reset()
        self.detour.reset()
        self._stamps.clear()
        self._latest = None
        self._problem = ""
        self._sent_2 = np.zeros(2)
        self._zero_until_s = -math.inf
        self._status = ControllerStatus(GoalState.IDLE, predictor=self.model.model_id)

    # -- goals ---------------------------------------------------------------------------------

    @property
    def goal(self) -> np.ndarray | None:
        return None if self._goal is None else self._goal.copy()

    @property
    def status(self) -> ControllerStatus:
        return self._status

    def set_goal(self, goal_xyyaw, now_s: float) -> ControllerStatus:
        """Drive to ``goal_xyyaw`` (x m, y m, yaw rad; odometry frame) from now on."""
        goal = np.asarray(goal_xyyaw, dtype=np.float64).reshape(3)
        if not np.isfinite(goal).all():
            return self.cancel(f"goal {goal.tolist()} is not finite", now_s)
        if self._goal is None:
            self._planners_reset()
        self.detour.reset()
        self._goal, self._goal_set_s = goal, now_s
        self._status = ControllerStatus(
            GoalState.ACTIVE,
            goal_xyyaw=self._goal_xyyaw(),
            predictor=self.current_planner().model.model_id,
        )
        return self._status

    def cancel(self, reason: str, now_s: float) -> ControllerStatus:
        """Give the goal up (``reason`` says why); zero is sent for ``stop_zero_s``."""
        return self._finish(GoalState.FAILED, reason, now_s).status

    def input_rejected(self, reason: str, now_s: float) -> None:
        """A message arrived that cannot be used (bad image, odometry out of sync, a state of
        another checkpoint): remembered so that the status says why the robot holds."""
        self.counts["unusable"] += 1
        self._problem = reason

    def set_domain(self, in_domain: bool, reason: str = "") -> None:
        """The twin's verdict on its learned model (``fallback`` decides what follows)."""
        self._out_of_domain = "" if in_domain else (reason or "out of domain")

    def reconfigure(self, config: ControllerConfig) -> None:
        """New settings, applied from the next cycle (dynamic parameters)."""
        self.planner.reconfigure(config.mppi)
        if self._fallback_planner is not None:
            self._fallback_planner.reconfigure(config.mppi)
        if config.detour != self.config.detour:
            self.detour = Detour(config.detour)
        self.gate.limits = config.limits
        self.gate.stale_timeout_s = config.stale_timeout_s
        self._stamps.reset_threshold_s = config.max_input_age_s
        self.config = config

    # -- the cycle -----------------------------------------------------------------------------

    def step(
        self,
        newest: Observation | PlanningInput | None,
        now_s: float,
        scan: LaserFrame | None = None,
    ) -> ControlOutput:
        """One control period: ``newest`` is the input that arrived since the last call (None
        when nothing did); returns what to send and the status. ``scan``: a LaserScan taken
        with it, for the costmap."""
        self.counts["cycles"] += 1
        if isinstance(newest, Observation):
            newest = self._encode(newest)
        if newest is not None and scan is not None:
            newest = replace(newest, scan=scan)
        fresh = self._accept(newest, now_s)
        if fresh is not None:
            self._latest = fresh
        if self._goal is None:
            sending = now_s <= self._zero_until_s
            return ControlOutput(np.zeros(2) if sending else None, self._status)
        timeout = self.config.goal_timeout_s
        if timeout > 0 and now_s - self._goal_set_s > timeout:
            return self._finish(
                GoalState.FAILED, f"goal not reached within goal_timeout_s={timeout:g}", now_s
            )
        if fresh is not None and goal_reached(
            fresh.latent.pose_3.detach().cpu().numpy(), self._goal, self.config.tolerance
        ):
            return self._finish(GoalState.REACHED, "", now_s)
        result = None
        if fresh is not None:
            result = self._plan_from(fresh, now_s)
        command, why = self.gate.filter(self._command_at(now_s), now_s)
        self._sent_2 = command
        if why:
            self.counts["stale"] += 1
            self._status = self._holding(self._problem or why, now_s)
        else:
            self._status = self._active(result)
        return ControlOutput(command, self._status, result, fresh if result else None)

    def current_planner(self) -> MppiPlanner:
        """The planner of the model in charge now: the learned one, or the kinematic fallback
        while the twin reports the learned model out of domain (``fallback: kinematic``)."""
        if self._out_of_domain and self.config.fallback == "kinematic":
            if self._fallback_planner is None:
                kinematic = KinematicPredictor(
                    KinematicConfig(dt_s=self.model.dt_s, horizon=self.config.mppi.horizon),
                    self.model.device,
                )
                self._fallback_planner = MppiPlanner(kinematic, self.config.mppi)
            return self._fallback_planner
        return self.planner

    def _planners_reset(self) -> None:
        for planner in (self.planner, self._fallback_planner):
            if planner is not None:
                planner.reset()
        self._plan = None
        self._plan_end_xy = None
        self._planned_stamp_s = None
        self.gate.forget()

    def _encode(self, observation: Observation) -> PlanningInput | None:
        try:
            latent = self.model.encode(observation)
        except Exception as exc:  # noqa: BLE001 - a model failure holds the robot, it never crashes
            self._problem = f"model failed to encode: {type(exc).__name__}: {exc}"
            self.counts["unusable"] += 1
            return None
        return PlanningInput(observation.stamp_s, latent)

    def _accept(self, newest: PlanningInput | None, now_s: float) -> PlanningInput | None:
        """``newest`` when it may be planned from, else None with the reason remembered."""
        if newest is None:
            return None
        stamp = float(newest.stamp_s)
        latent = newest.latent
        parts = [latent.pose_3, latent.twist_2]
        if latent.features is not None:
            parts.append(latent.features)
        if not math.isfinite(stamp) or not all(bool(torch.isfinite(p).all()) for p in parts):
            self._unusable("the state holds NaN or inf")
            return None
        age_s = now_s - stamp
        if abs(age_s) > self.config.max_input_age_s:
            when = "old" if age_s > 0 else "in the future"
            self._unusable(
                f"input stamped {abs(age_s):.2f} s {when} "
                f"(max_input_age_s={self.config.max_input_age_s:g})"
            )
            return None
        newest_s = self._stamps.last_s
        order = self._stamps.check(stamp, now_s)
        if order is StampOrder.OUTLIER:  # a lone stamp off the timeline: history kept
            self.counts["stamp_outliers"] += 1
            timeline = "none" if newest_s is None else f"{newest_s:.3f} s"
            self._problem = (
                f"input stamp {stamp:.3f} s is off the current timeline (newest {timeline}, "
                f"clock {now_s:.3f} s)"
            )
            return None
        if order in (StampOrder.DUPLICATE, StampOrder.BACKWARDS):
            key = "duplicates" if order is StampOrder.DUPLICATE else "stamps_backwards"
            self.counts[key] += 1
            self._problem = (
                f"input stamp {stamp:.3f} s did not advance (duplicated or frozen stamps)"
            )
            return None
        if order is StampOrder.RESET:
            self.counts["time_resets"] += 1  # time went back and the clock with it: restart
            self._planners_reset()
            self.detour.reset()
        self._problem = ""
        return newest

    def _unusable(self, reason: str) -> None:
        self.counts["unusable"] += 1
        self._problem = reason

    def _goal_xyyaw(self) -> tuple[float, float, float] | None:
        goal = self._goal
        return None if goal is None else (float(goal[0]), float(goal[1]), float(goal[2]))

    def _plan_from(self, fresh: PlanningInput, now_s: float) -> MppiResult | None:
        planner = self.current_planner()
        if self.config.fallback == "stop" and self._out_of_domain:
            self._problem = f"learned model out of domain ({self._out_of_domain}); fallback: stop"
            self.gate.forget()
            return None
        pose = fresh.latent.pose_3.detach().cpu().numpy().astype(np.float64)
        try:
            if self._planned_stamp_s is not None:
                steps = round((fresh.stamp_s - self._planned_stamp_s) / planner.dt_s)
                planner.shift(max(0, steps))
            assert self._goal is not None  # planning only happens towards a goal
            if fresh.scan is not None:
                planner.observe_scan(fresh.scan, fresh.latent.pose_3)
            target = self.detour.goal_for(
                fresh.stamp_s, pose, self._goal, self._plan_end_xy, planner.occupancy_map
            )
            result = planner.plan(fresh.latent, target, self._sent_2)
            refused = plan_not_finite(result) or (
                self.plan_check(result) if self.plan_check else None
            )
            if refused:
                self.counts["invalid_plans"] += 1
                raise ValueError(f"plan refused: {refused}")
        except Exception as exc:  # noqa: BLE001 - any model or planning failure holds the robot
            self.counts["planning_errors"] += 1
            self._problem = f"planning error: {type(exc).__name__}: {exc}"
            self.gate.forget()
            self._plan = None
            return None
        self.counts["plans"] += 1
        self._planned_stamp_s = fresh.stamp_s
        self._plan = (now_s, result.commands_h2.detach().cpu().numpy().astype(np.float64))
        self._plan_end_xy = result.plan_rollout.poses_bh3[0, -1, :2].detach().cpu().numpy()
        # A plan is as fresh as the input it was made from: counted from the input's stamp,
        # zero follows within stale_timeout_s + one control period of that input.
        self.gate.plan_made(min(now_s, fresh.stamp_s))
        return result

    def _command_at(self, now_s: float) -> np.ndarray | None:
        """The newest plan's command in force at ``now_s`` (zero-order hold on its steps)."""
        if self._plan is None:
            return None
        made_s, commands_h2 = self._plan
        index = int(max(0.0, now_s - made_s) / self.current_planner().dt_s + 1e-6)
        return commands_h2[min(index, len(commands_h2) - 1)]

    def _finish(self, state: GoalState, reason: str, now_s: float) -> ControlOutput:
        goal = None if self._goal is None else tuple(self._goal)
        self._goal = None
        self._planners_reset()
        self._sent_2 = np.zeros(2)
        self._zero_until_s = now_s + self.config.stop_zero_s
        self._status = ControllerStatus(
            state, reason, goal_xyyaw=goal, predictor=self.current_planner().model.model_id
        )
        return ControlOutput(np.zeros(2), self._status)

    def _distance(self) -> float:
        if self._latest is None or self._goal is None:
            return math.nan
        pose = self._latest.latent.pose_3.detach().cpu().numpy()
        return float(np.hypot(*(self._goal[:2] - pose[:2])))

    def _holding(self, reason: str, now_s: float) -> ControllerStatus:
        return ControllerStatus(
            GoalState.HOLDING,
            reason,
            goal_xyyaw=self._goal_xyyaw(),
            distance_m=self._distance(),
            predictor=self.current_planner().model.model_id,
        )

    def _active(self, result: MppiResult | None) -> ControllerStatus:
        previous = self._status
        notes = []
        if self._out_of_domain:
            notes.append(
                f"learned model out of domain ({self._out_of_domain}); "
                f"fallback: {self.config.fallback}"
            )
        if self.detour.active:
            notes.append("detouring")
        return ControllerStatus(
            GoalState.ACTIVE,
            "; ".join(notes),
            goal_xyyaw=self._goal_xyyaw(),
            distance_m=self._distance(),
            predictor=self.current_planner().model.model_id,
            critic_costs=result.plan_cost_terms if result else previous.critic_costs,
            planning_ms=result.planning_s * 1e3 if result else previous.planning_ms,
        )
