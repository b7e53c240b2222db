"""Model-predictive path integral (MPPI) control on any predictor of the model contract.

Each planning cycle (TD-MPC's ``_plan``, nav2's MPPI controller):

1. warm start: the previous plan shifted by the steps executed since, its last command held;
2. sample N command sequences around it (temporally correlated Gaussian noise), clamp them to
   the velocity and acceleration limits, starting from the command now in force;
3. roll all N out through ``model.rollout`` in one batched call (and, for a learned model
   without an occupancy head, once more from the frame of a second ago carried forward to
   now: :mod:`past_view`);
4. score them with the critics of :mod:`critics` and average them with softmax weights
   ``exp(-(cost - min cost) / temperature)``; repeat 2-4 ``iterations`` times;
5. roll the averaged plan out once more: those are the states published with the plan.

A convex combination of sequences that all satisfy the (box and rate) limits satisfies them
too, so the plan respects the limits without a final projection. Tensors are
``[N samples, H steps, 2]`` with commands (v m/s, w rad/s); there is no Python loop over
samples (there is one over the H steps to apply the acceleration limit).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..config import ConfigError, setting, validate_settings
from ..geometry import wrap_angle_np
from ..model.contract import CarriesLatent, LatentState, Rollout, SeesOccupancy, WorldModel
from .contact_memory import ContactMemory, ContactMemoryConfig
from .critics import CostConfig, CriticSet, motion_uncertainty
from .occupancy_map import OccupancyMap, OccupancyMapConfig
from .past_view import PastViewConfig, PastViews
from .sampling import apply_limits, ar1_filter
from .scan_layer import LaserFrame


@dataclass(frozen=True)
class MppiConfig:
    """Sampling, limits and cost of the planner; see docs/planner.md for the table."""

    num_samples: int = setting(
        512, "sampled command sequences per iteration", low=2, high=1_000_000
    )
    horizon: int = setting(20, "planning steps of the model's dt", low=1, high=1000, dynamic=False)
    iterations: int = setting(1, "sample-score-average rounds per control cycle", low=1, high=100)
    temperature: float = setting(
        0.1, "softmax temperature in cost units (lower: greedier)", low=1e-9
    )
    noise_std_v: float = setting(0.2, "sampling std of the forward speed (m/s)", low=0.0)
    noise_std_w: float = setting(0.8, "sampling std of the yaw rate (rad/s)", low=0.0)
    noise_correlation: float = setting(
        0.6, "AR(1) correlation of the sampling noise between steps", low=0.0, high=0.999
    )
    v_min: float = setting(
        -0.1, "minimum forward speed (m/s, <= 0; negative allows reversing)", high=0.0
    )
    v_max: float = setting(0.5, "maximum forward speed (m/s)", low=1e-6)
    w_max: float = setting(1.5, "maximum |yaw rate| (rad/s)", low=1e-6)
    a_max: float = setting(1.0, "maximum |linear acceleration| (m/s^2)", low=1e-6)
    alpha_max: float = setting(3.0, "maximum |angular acceleration| (rad/s^2)", low=1e-6)
    num_visualised: int = setting(
        32, "sampled rollouts drawn on mpc_planner/markers", low=0, high=100_000
    )
    turn_in_place_rad: float = setting(
        1.6,
        "goal (or detour sub-goal) at least this far off the heading (rad): turn on the spot "
        "towards it first (pi: off)",
        low=1e-6,
        high=math.pi,
    )
    seed: int = setting(
        -1,
        "random seed of the sampler (-1: nondeterministic)",
        low=-1,
        high=2**31 - 1,
        dynamic=False,
    )
    costs: CostConfig = setting(default_factory=CostConfig)
    memory: ContactMemoryConfig = setting(default_factory=ContactMemoryConfig)
    past_view: PastViewConfig = setting(default_factory=PastViewConfig)
    occupancy: OccupancyMapConfig = setting(default_factory=OccupancyMapConfig)

    def __post_init__(self) -> None:
        validate_settings(self)
        if self.v_min > 0.0:
            raise ConfigError(f"invalid MppiConfig: need v_min <= 0 (got {self.v_min})")


@dataclass
class MppiResult:
    """One planning cycle's outcome (tensors on the model's device, detached).

    commands_h2: the plan (v, w) per step, execute commands_h2[0] now. plan_rollout: the
    model's prediction under the plan (B = 1). samples_kh3: poses of up to num_visualised
    sampled rollouts, lowest cost first; best_h3: the lowest-cost sample's poses.
    """

    commands_h2: torch.Tensor
    plan_rollout: Rollout
    samples_kh3: torch.Tensor
    best_h3: torch.Tensor
    best_cost: float
    plan_cost_terms: dict[str, float]
    effective_samples: float  # 1 / sum(w^2): how many samples the average really used
    planning_s: float  # wall time of this cycle (sampling, rollouts, scoring, the plan's rollout)
    plan_rollout_s: float  # of which the final rollout under the plan (what a prediction costs)

    @property
    def command_2(self) -> np.ndarray:
        return self.commands_h2[0].detach().cpu().numpy().astype(np.float64)


class PlanningError(RuntimeError):
    """The model returned something unusable (wrong shape, NaN); the caller must stop the robot."""


class MppiPlanner:
    """MPPI over a :class:`WorldModel`; keeps the warm-start plan between cycles."""

    def __init__(self, model: WorldModel, config: MppiConfig | None = None):
        self.model = model
        self.device = torch.device(model.device)
        self.dt_s = float(model.dt_s)
        self._generator = torch.Generator(device=self.device)
        config = config or MppiConfig()
        if config.seed >= 0:
            self._generator.manual_seed(config.seed)
        else:
            self._generator.seed()
        self.config = config
        self._build(config)
        self._mean_h2 = torch.zeros(config.horizon, 2, device=self.device)
        self._last_command_2 = torch.zeros(2, device=self.device)
        self.memory = ContactMemory(config.memory, self.device)
        # Filled only by a model that says what is occupied (SeesOccupancy).
        self.occupancy_map = OccupancyMap(config.occupancy, self.device)
        self.past_views = self._past_views(config)
        self._steps_since_plan = 0

    def _build(self, config: MppiConfig) -> None:
        """The tensors that follow from the sampling and limit settings."""
        self._noise_filter_hh = ar1_filter(config.horizon, config.noise_correlation).to(
            self.device
        )
        self._noise_std_2 = torch.tensor(
            [config.noise_std_v, config.noise_std_w], device=self.device
        )
        self._low_2 = torch.tensor([config.v_min, -config.w_max], device=self.device)
        self._high_2 = torch.tensor([config.v_max, config.w_max], device=self.device)
        self._rate_2 = (
            torch.tensor([config.a_max, config.alpha_max], device=self.device) * self.dt_s
        )
        self.critics = CriticSet(config.costs)

    def _past_views(self, config: MppiConfig) -> PastViews:
        # Only a model that can carry its latent forward has a past view (the kinematic one
        # sees nothing).
        view = config.past_view if isinstance(self.model, CarriesLatent) else PastViewConfig(0.0)
        return PastViews(view, self.dt_s, config.horizon)

    def reconfigure(self, config: MppiConfig) -> None:
        """Take new settings at the next cycle (``ros2 param set``). The warm start and what
        is remembered survive unless their own settings changed; the horizon and the seed are
        fixed at construction (static parameters)."""
        if config.horizon != self.config.horizon or config.seed != self.config.seed:
            raise ConfigError("horizon and seed cannot change on a running planner")
        self._build(config)
        if config.memory != self.config.memory:
            self.memory = ContactMemory(config.memory, self.device)
        if config.occupancy != self.config.occupancy:
            self.occupancy_map = OccupancyMap(config.occupancy, self.device)
        if config.past_view != self.config.past_view:
            self.past_views = self._past_views(config)
        self.config = config
        # The warm start may now break the new limits: bring it inside them.
        self._mean_h2 = self.apply_limits(self._mean_h2.unsqueeze(0), self._last_command_2)[0]

    # -- warm start ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the previous plan and the remembered contacts (new goal after a stop, an
        odometry reset, or the robot was moved)."""
        self._mean_h2 = torch.zeros(self.config.horizon, 2, device=self.device)
        self._last_command_2 = torch.zeros(2, device=self.device)
        self.memory.clear()
        self.occupancy_map.clear()
        self.past_views.clear()
        self._steps_since_plan = 0

    @property
    def plan_h2(self) -> torch.Tensor:
        """The current warm-start plan (a copy)."""
        return self._mean_h2.clone()

    def shift(self, steps: int = 1) -> None:
        """Advance the warm start by ``steps`` executed steps, holding the last command; the
        remembered contacts and the occupancy map age by as much."""
        self.memory.age(max(0, int(steps)) * self.dt_s)
        self.occupancy_map.age(max(0, int(steps)) * self.dt_s)
        self._steps_since_plan += max(0, int(steps))
        steps = max(0, min(int(steps), self.config.horizon))
        if steps == 0:
            return
        if steps < self.config.horizon:
            self._mean_h2 = torch.cat(
                [self._mean_h2[steps:], self._mean_h2[-1:].expand(steps, 2)], dim=0
            )
        else:
            self._mean_h2 = self._mean_h2[-1:].expand(self.config.horizon, 2).clone()

    # -- limits ----------------------------------------------------------------------------

    def apply_limits(
        self, actions_nh2: torch.Tensor, previous_command_2: torch.Tensor
    ) -> torch.Tensor:
        """Sequences clamped to the velocity box and the acceleration limits
        (:func:`sampling.apply_limits`)."""
        return apply_limits(
            actions_nh2, previous_command_2, self._low_2, self._high_2, self._rate_2
        )

    # -- planning --------------------------------------------------------------------------

    def sample(self, mean_h2: torch.Tensor, previous_command_2: torch.Tensor) -> torch.Tensor:
        """N limited sequences around ``mean_h2``; sample 0 is the mean itself and sample 1
        brakes to a stop as fast as allowed (always-available safe options)."""
        n, h = self.config.num_samples, self.config.horizon
        white = torch.randn(n, h, 2, generator=self._generator, device=self.device)
        noise = torch.einsum("ts,nsc->ntc", self._noise_filter_hh, white) * self._noise_std_2
        raw = mean_h2.unsqueeze(0) + noise
        raw[0] = mean_h2
        raw[1] = 0.0
        return self.apply_limits(raw, previous_command_2)

    def _rollout(self, latent: LatentState, actions_nh2: torch.Tensor) -> Rollout:
        rollout = self.model.rollout(latent, actions_nh2)
        n, h = actions_nh2.shape[:2]
        if tuple(rollout.poses_bh3.shape) != (n, h, 3) or tuple(
            rollout.collision_prob_bh.shape
        ) != (n, h):
            raise PlanningError(
                f"model '{self.model.model_id}' returned poses {tuple(rollout.poses_bh3.shape)} "
                "and "
                f"collision_prob {tuple(rollout.collision_prob_bh.shape)} for actions {(n, h, 2)}"
            )
        return rollout

    def _with_past_view(
        self, rollout: Rollout, past: LatentState | None, actions_nh2: torch.Tensor
    ) -> Rollout:
        """Per step, the larger of this frame's collision probability and the one of
        ``delay_s`` ago (core/planning/past_view.py) over the steps that view reaches."""
        if past is None:
            return rollout
        reach = actions_nh2.shape[1] - self.past_views.delay_steps
        seen = self._rollout(past, actions_nh2[:, :reach]).collision_prob_bh
        probability = rollout.collision_prob_bh.clone()
        probability[:, :reach] = torch.maximum(probability[:, :reach], seen)
        return replace(rollout, collision_prob_bh=probability)

    def _with_remembered(self, rollout: Rollout, latent: LatentState) -> Rollout:
        """The rollout as the critics see it: per step, the largest of the model's collision
        probability, the remembered contacts' (core/planning/contact_memory.py) and the occupancy
        map's
        (core/planning/occupancy_map.py)."""
        probability = rollout.collision_prob_bh
        for source in (self.memory, self.occupancy_map):
            remembered = source.collision_prob(rollout.poses_bh3, latent.pose_3[:2])
            if remembered is not None:
                probability = torch.maximum(probability, remembered)
        if probability is rollout.collision_prob_bh:
            return rollout
        return replace(rollout, collision_prob_bh=probability)

    def _observe_floor(self, latent: LatentState) -> bool:
        """Add what this frame's occupancy head says to the map; False for a model without one."""
        if not self.config.occupancy.enabled or not isinstance(self.model, SeesOccupancy):
            return False
        observed = self.model.occupancy(latent)
        if observed is None:
            return False
        self.occupancy_map.update(latent.pose_3, *observed)
        return True

    def observe_scan(self, frame: LaserFrame, pose_3: torch.Tensor) -> bool:
        """Add a LaserScan taken with the robot at ``pose_3`` to the occupancy map (any model:
        the scan needs no head; core/planning/scan_layer.py); False when it changed nothing."""
        robot_xy = pose_3.detach().cpu().numpy()[:2]
        body = self.config.memory.body_radius_m
        return self.occupancy_map.update_scan(frame, robot_xy, body) > 0

    def _turn_towards(self, pose_3: torch.Tensor, goal_3: torch.Tensor) -> torch.Tensor | None:
        """A warm start that turns on the spot to face the goal, when it lies more than
        ``turn_in_place_rad`` off the heading; else None.

        Why: a goal behind the robot (a detour sub-goal to one side of a box it faces, a goal
        it drove past) cannot be faced within the 2 s horizon; turning left and turning right
        cost about the same, and their weighted average is standing still. Committing to the
        shorter way round, as nav2's rotation shim does before handing over to its controller,
        breaks the tie; the samples still vary around it and the collision critics still judge
        it.
        """
        cfg = self.config
        offset = goal_3[:2] - pose_3[:2]
        if (
            cfg.turn_in_place_rad >= math.pi
            or float(offset.norm()) <= cfg.costs.heading_near_distance_m
        ):
            return None
        error = float(
            wrap_angle_np(math.atan2(float(offset[1]), float(offset[0])) - float(pose_3[2]))
        )
        if abs(error) < cfg.turn_in_place_rad:
            return None
        steps = min(cfg.horizon, math.ceil(abs(error) / (cfg.w_max * self.dt_s)))
        turn = torch.zeros(cfg.horizon, 2, device=self.device)
        turn[:steps, 1] = math.copysign(cfg.w_max, error)
        return turn

    @torch.inference_mode()
    def plan(
        self,
        latent: LatentState,
        goal_xyyaw: np.ndarray | torch.Tensor,
        previous_command_2: np.ndarray | torch.Tensor | None = None,
    ) -> MppiResult:
        """One MPPI cycle from ``latent`` towards ``goal_xyyaw`` (odometry frame).

        ``previous_command_2``: the command in force now (what the robot was last told);
        default the first command of the last plan. Call :meth:`shift` before, with the steps
        executed since the last cycle (the demo does one per cycle). Raises PlanningError.
        """
        started = time.perf_counter()
        cfg = self.config
        goal_3 = torch.as_tensor(goal_xyyaw, dtype=torch.float32, device=self.device).reshape(3)
        previous = (
            self._last_command_2
            if previous_command_2 is None
            else torch.as_tensor(
                previous_command_2, dtype=torch.float32, device=self.device
            ).reshape(2)
        )
        self.memory.observe_motion(
            float(previous[0]), float(latent.twist_2[0]), latent.pose_3, self.dt_s
        )
        self.past_views.record(latent, previous, self._steps_since_plan)
        self._steps_since_plan = 0
        mapped = self._observe_floor(latent)
        # The map remembers what left the picture; the past view is for models without one.
        past = None if mapped else self.past_views.view(self.model, latent)
        turn = self._turn_towards(latent.pose_3, goal_3)
        mean = self._mean_h2 if turn is None else turn
        for _ in range(cfg.iterations):
            actions = self.sample(mean, previous)
            rollout = self._rollout(latent, actions)
            seen = self._with_past_view(motion_uncertainty(rollout, self.model), past, actions)
            cost, _ = self.critics.score(
                self._with_remembered(seen, latent), actions, goal_3, previous
            )
            if not torch.isfinite(cost).all():
                bad = int((~torch.isfinite(cost)).sum())
                raise PlanningError(
                    f"{bad} of {cost.numel()} sampled costs are NaN/inf "
                    f"(model '{self.model.model_id}' predicted non-finite states?)"
                )
            weights = torch.softmax(-(cost - cost.min()) / cfg.temperature, dim=0)
            mean = torch.einsum("n,nhc->hc", weights, actions)
        mean = self.apply_limits(mean.unsqueeze(0), previous)[0]  # exact already; guards rounding
        rollout_started = time.perf_counter()
        plan_rollout = self._rollout(latent, mean.unsqueeze(0))
        plan_rollout_s = time.perf_counter() - rollout_started
        plan_seen = self._with_past_view(
            motion_uncertainty(plan_rollout, self.model), past, mean.unsqueeze(0)
        )
        _, plan_terms = self.critics.score(
            self._with_remembered(plan_seen, latent), mean.unsqueeze(0), goal_3, previous
        )
        if (
            not mapped
        ):  # the map holds what the model sees; the memory keeps felt contacts (stalls)
            self.memory.update(rollout.poses_bh3, rollout.collision_prob_bh, latent.pose_3)
        order = torch.argsort(cost)
        self._mean_h2 = mean.clone()
        self._last_command_2 = mean[0].clone()
        return MppiResult(
            commands_h2=mean,
            plan_rollout=plan_rollout,
            samples_kh3=rollout.poses_bh3[order[: cfg.num_visualised]],
            best_h3=rollout.poses_bh3[order[0]],
            best_cost=float(cost[order[0]]),
            plan_cost_terms={name: float(term[0]) for name, term in plan_terms.items()},
            effective_samples=float(1.0 / weights.square().sum()),
            planning_s=time.perf_counter() - started,
            plan_rollout_s=plan_rollout_s,
        )
