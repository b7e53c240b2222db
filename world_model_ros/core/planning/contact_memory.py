"""Short-term memory of where the world model predicted contact, for the MPPI planner.

Why: the model sees only what is in front of the camera *now*. Once the robot turns to slip
past a box, the box leaves the picture and the model predicts free space beside the robot,
so the planner grazes the corner it was avoiding a second ago (side and rear contacts were
most of the demo's collisions). The planner still has no map: this remembers the model's
own predictions, the way nav2's obstacle layer remembers a sensor's returns.

Every planning cycle, each sampled rollout whose predicted collision probability crosses
``probability`` contributes the *surface* it runs into: its centre at that first step, moved
on by ``body_radius_m`` in the direction it was moving. Points are kept on a ``cell_m`` grid
in the odometry frame, refreshed when seen again, forgotten after ``lifetime_s`` (odometry
drifts; obstacles move) and cleared when the camera looks at them again and the model now
predicts free passage there. Rollouts are charged for bringing the robot's body near a
remembered surface: a collision probability of 1 when the centre comes within
``body_radius_m + inner_m`` of it, falling linearly to 0 at ``body_radius_m + radius_m``. The
planner takes, per step, the larger of the model's and the memory's probability, so the same
collision critics apply to both.

Why surfaces and not the centre positions themselves (``body_radius_m = 0``, which this
memory remembered first): a centre position at contact says where the robot may not be *when
coming from that side*. Rounding the box afterwards, the robot's centre passes the corner at
a body radius from the corner itself, about 24 cm from the centre positions remembered in
front of it, and those cost nothing there. Most of the flank grazes left on the tuning
layouts were that: the corner had been remembered, from the front. A rollout the model is
sure touches something without moving gives no side to put the surface on and is left out
(points guessed all round walled a robot standing near a wall in).

Contacts are also *felt*: when the robot is told to move but its measured speed stays below a
quarter of the command for ``stall_after_s``, something it cannot see (a box corner against
its flank, a wall behind) holds it, and a surface ``stall_distance_m`` beyond its body in the
commanded direction is remembered. Felt contacts are never cleared by the model's view (the
model is what missed them); they age like the others. Without this the demo's robot pushed
forward against a box beside it for ten seconds while the model predicted free driving.

Cost: the charge is one raster read per rollout point (core/planning/proximity_grid.py), not a
[B*H, M] distance matrix; see that module for how exact it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import ConfigError, setting, validate_settings
from ..geometry import wrap_angle
from .proximity_grid import ProximityGrid


@dataclass(frozen=True)
class ContactMemoryConfig:
    """What is remembered, for how long, and how it is charged (docs/planner.md)."""

    enabled: bool = setting(
        True,
        "remember where the model predicted contact and keep rollouts away once out of view",
    )
    probability: float = setting(
        0.8,
        "a sampled rollout's first step with P(collision) above this is remembered",
        low=0.0,
        high=1.0,
    )
    inner_m: float = setting(
        0.05,
        "rollouts whose body comes within this (m) of a remembered surface count as colliding",
        low=0.0,
    )
    radius_m: float = setting(
        0.15,
        "a remembered surface further than this (m) from the body costs nothing "
        "(linear in between)",
        low=0.0,
    )
    cell_m: float = setting(0.05, "grid (m) on which remembered contacts are merged", low=0.001)
    lifetime_s: float = setting(
        20.0, "forget a contact not predicted again for this long (s)", low=0.0
    )
    max_points: int = setting(
        256, "remember at most this many contact positions (newest kept)", low=1, high=100000
    )
    view_half_angle_rad: float = setting(
        0.6,
        "the camera's half horizontal field of view (rad); remembered contacts in it are "
        "re-checked (0: never)",
        low=0.0,
        high=math.pi,
    )
    clear_below: float = setting(
        0.05,
        "a remembered contact in view that a rollout now passes below this probability is "
        "forgotten",
        low=0.0,
        high=1.0,
    )
    stall_after_s: float = setting(
        0.5,
        "told to move but measured speed under a quarter of it this long (s): a felt contact "
        "(0: off)",
        low=0.0,
    )
    stall_min_speed_mps: float = setting(
        0.1, "commands slower than this (m/s) never count as stalled", low=0.0
    )
    stall_distance_m: float = setting(
        0.1,
        "a felt surface is remembered this far (m) beyond the body in the commanded direction",
        low=0.0,
    )
    body_radius_m: float = setting(
        0.17,
        "robot radius (m): a surface hit is remembered this far beyond the centre (0: the centre)",
        low=0.0,
        high=1.0,
    )

    def __post_init__(self) -> None:
        validate_settings(self)
        problems = []
        if not 0.0 < self.probability < 1.0:
            problems.append(f"probability must be in (0, 1) (got {self.probability})")
        if not 0.0 <= self.body_radius_m < 1.0:
            problems.append(f"body_radius_m must be in [0, 1) m (got {self.body_radius_m})")
        if not 0.0 <= self.inner_m < self.radius_m:
            problems.append(f"need 0 <= inner_m < radius_m (got {self.inner_m}, {self.radius_m})")
        if not 0.0 <= self.view_half_angle_rad <= math.pi:
            problems.append(
                f"view_half_angle_rad must be in [0, pi] (got {self.view_half_angle_rad})"
            )
        if not 0.0 <= self.clear_below < self.probability:
            problems.append(
                f"need 0 <= clear_below < probability (got {self.clear_below}, {self.probability})"
            )
        if self.stall_after_s < 0 or self.stall_min_speed_mps <= 0 or self.stall_distance_m <= 0:
            problems.append(
                f"need stall_after_s >= 0, stall_min_speed_mps > 0, stall_distance_m > 0 (got "
                f"{self.stall_after_s}, {self.stall_min_speed_mps}, {self.stall_distance_m})"
            )
        if not (self.cell_m > 0 and self.lifetime_s > 0 and self.max_points >= 1):
            problems.append(
                f"cell_m, lifetime_s, max_points must be > 0 (got {self.cell_m}, "
                f"{self.lifetime_s}, {self.max_points})"
            )
        if problems:
            raise ConfigError("invalid contact memory configuration: " + "; ".join(problems))


class ContactMemory:
    """Remembered contact positions (odometry frame) with their age; see the module docstring."""

    def __init__(
        self,
        config: ContactMemoryConfig = ContactMemoryConfig(),
        device: str | torch.device = "cpu",
    ):
        self.config = config
        self.device = torch.device(device)
        self._grid = ProximityGrid(config.cell_m, config.body_radius_m + config.radius_m)
        self.clear()

    def clear(self) -> None:
        """Forget everything (new goal after a stop, odometry reset, robot moved by hand)."""
        self._cells_m2 = torch.zeros(0, 2, dtype=torch.int64, device=self.device)
        self._age_s_m = torch.zeros(0, device=self.device)
        self._felt_m = torch.zeros(0, dtype=torch.bool, device=self.device)
        self._stalled_s = 0.0

    def __len__(self) -> int:
        return int(self._cells_m2.shape[0])

    @property
    def points_m2(self) -> torch.Tensor:
        """Remembered positions (cell centres), [M, 2] metres."""
        return self._cells_m2.to(torch.float32) * self.config.cell_m

    @property
    def felt_m(self) -> torch.Tensor:
        """Which remembered positions were felt (a stall), not predicted, [M] bool."""
        return self._felt_m.clone()

    def _keep(self, keep_m: torch.Tensor) -> None:
        self._cells_m2, self._age_s_m, self._felt_m = (
            self._cells_m2[keep_m],
            self._age_s_m[keep_m],
            self._felt_m[keep_m],
        )

    def age(self, seconds: float) -> None:
        """Let ``seconds`` pass: positions older than ``lifetime_s`` are dropped."""
        if seconds <= 0 or not len(self):
            return
        self._age_s_m = self._age_s_m + seconds
        self._keep(self._age_s_m <= self.config.lifetime_s)

    def observe_motion(
        self, commanded_v_mps: float, measured_v_mps: float, pose_3: torch.Tensor, elapsed_s: float
    ) -> bool:
        """Feed the command in force and the measured forward speed once per cycle; returns
        True when this call remembered a felt contact (see the module docstring)."""
        c = self.config
        if not c.enabled or c.stall_after_s <= 0:
            return False
        commanded, measured = float(commanded_v_mps), float(measured_v_mps)
        if (
            abs(commanded) >= c.stall_min_speed_mps
            and commanded * measured < 0.25 * commanded * commanded
        ):
            self._stalled_s += elapsed_s
        else:
            self._stalled_s = 0.0
        if self._stalled_s < c.stall_after_s:
            return False
        pose = pose_3.detach().to(self.device, torch.float32)
        ahead = math.copysign(c.stall_distance_m + c.body_radius_m, commanded)
        self.remember(
            pose[:2] + ahead * torch.stack([torch.cos(pose[2]), torch.sin(pose[2])]), felt=True
        )
        return True

    def update(
        self, poses_bh3: torch.Tensor, collision_prob_bh: torch.Tensor, start_pose_3: torch.Tensor
    ) -> None:
        """One planning cycle's sampled rollouts from ``start_pose_3``: clear what the model now
        sees free, then remember the new confident contacts."""
        self.clear_seen_free(poses_bh3, collision_prob_bh, start_pose_3)
        self.add_from_rollouts(poses_bh3, collision_prob_bh, start_pose_3)

    def clear_seen_free(
        self, poses_bh3: torch.Tensor, collision_prob_bh: torch.Tensor, start_pose_3: torch.Tensor
    ) -> int:
        """Forget remembered surfaces inside the camera's view that a rollout now passes through
        (its centre within ``body_radius_m - cell_m`` of them, at least ``cell_m``: the body
        would overlap the surface) while the model still says ``clear_below`` or less, before
        any predicted contact; returns how many were forgotten.

        Why: the model is sometimes "sure" of a contact 20-40 cm short of any obstacle; such a
        remembered position walls the robot in for ``lifetime_s`` although the camera now sees
        free floor there. This is a costmap's clearing by ray tracing, with the model's
        current prediction as the ray. Positions out of view are kept: there the model's
        "free" means "cannot see", which is what the memory is for.
        """
        c = self.config
        if not c.enabled or not len(self) or c.view_half_angle_rad <= 0.0:
            return 0
        points = self.points_m2.to(poses_bh3.device)
        start = start_pose_3.to(points)
        offset = points - start[:2]
        bearing = torch.atan2(offset[:, 1], offset[:, 0])
        in_view = wrap_angle(bearing - start[2]).abs() <= c.view_half_angle_rad
        in_view &= ~self._felt_m.to(in_view.device)  # the model's view is what missed a felt one
        if not bool(in_view.any()):
            return 0
        free_bh = torch.cummax(collision_prob_bh, dim=1).values <= c.clear_below
        free_xy = poses_bh3[..., :2][free_bh].to(points)  # [K, 2] positions predicted free
        if not free_xy.shape[0]:
            return 0
        passed = self._grid.any_within(
            self._cells_m2[in_view], free_xy, max(c.cell_m, c.body_radius_m - c.cell_m)
        )
        forget = torch.zeros_like(in_view)
        forget[in_view] = passed.to(forget.device)
        self._keep(~forget)
        return int(forget.sum())

    def add_from_rollouts(
        self,
        poses_bh3: torch.Tensor,
        collision_prob_bh: torch.Tensor,
        start_pose_3: torch.Tensor | None = None,
    ) -> int:
        """Remember, for each rollout, the surface it touches at its first step with
        P(collision) >= ``probability``: ``body_radius_m`` beyond the centre there, in the
        direction it moved over that step (from ``start_pose_3`` for the first step); returns
        how many surfaces were remembered."""
        if not self.config.enabled:
            return 0
        hit_bh = collision_prob_bh >= self.config.probability
        rows = hit_bh.any(dim=1)
        if not bool(rows.any()):
            return 0
        first = hit_bh[rows].to(torch.int8).argmax(dim=1)
        poses = poses_bh3[rows]
        index = torch.arange(poses.shape[0], device=poses.device)
        xy = poses[index, first, :2]
        if self.config.body_radius_m > 0:
            start = (
                start_pose_3.to(poses)[:2] if start_pose_3 is not None else poses[:, 0, :2]
            ).expand_as(xy)
            before = torch.where(
                (first > 0).unsqueeze(1), poses[index, (first - 1).clamp(min=0), :2], start
            )
            motion = xy - before
            length = torch.linalg.vector_norm(motion, dim=1, keepdim=True)
            # Sure of contact without moving (already touching, says the model): from which side
            # is unknown, and a surface guessed on every side would wall the robot in.
            moving = length[:, 0] > 0.01
            xy = (xy + self.config.body_radius_m * motion / length.clamp(min=1e-9))[moving]
        self.remember(xy)
        return int(xy.shape[0])

    def remember(self, xy_n2: torch.Tensor, felt: bool = False) -> None:
        """Remember positions (odometry frame, metres) directly: tests, benchmarks, a user's
        known hazards (``felt``: never cleared by the model's view)."""
        xy = torch.as_tensor(xy_n2, dtype=torch.float32, device=self.device).reshape(-1, 2)
        cells = torch.round(xy / self.config.cell_m).to(torch.int64)
        merged = torch.cat([cells, self._cells_m2])
        ages = torch.cat([torch.zeros(cells.shape[0], device=self.device), self._age_s_m])
        felts = torch.cat([torch.full((cells.shape[0],), felt, device=self.device), self._felt_m])
        unique, inverse = torch.unique(merged, dim=0, return_inverse=True)
        youngest = torch.full((unique.shape[0],), float("inf"), device=self.device)
        youngest = youngest.scatter_reduce(0, inverse, ages, reduce="amin")
        any_felt = torch.zeros(unique.shape[0], dtype=torch.int64, device=self.device)
        any_felt = any_felt.scatter_reduce(0, inverse, felts.to(torch.int64), reduce="amax").bool()
        if unique.shape[0] > self.config.max_points:
            keep = torch.argsort(youngest)[: self.config.max_points]
            unique, youngest, any_felt = unique[keep], youngest[keep], any_felt[keep]
        self._cells_m2, self._age_s_m, self._felt_m = unique, youngest, any_felt

    def collision_prob(
        self, poses_bh3: torch.Tensor, start_xy_2: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """P(contact) per rollout step from the remembered positions, [B, H]; None when empty.

        Proximity is charged only as far as it is an *approach*: for a remembered position that
        lies closer than ``radius_m`` to ``start_xy_2`` (where the robot is now), the ramp
        shrinks to end at that distance, so staying as close as now or moving away costs
        nothing and only getting closer does. Otherwise a robot that stopped beside an obstacle
        (or a position remembered next to it by mistake) is walled in: every first step
        would enter some remembered position's inner circle.
        """
        if not self.config.enabled or not len(self):
            return None
        c = self.config
        cells = self._cells_m2.to(poses_bh3.device)
        points = cells.to(torch.float32) * c.cell_m
        outer_m, inner_m = c.body_radius_m + c.radius_m, c.body_radius_m + c.inner_m
        radius_m = torch.full((points.shape[0],), outer_m, device=points.device)
        if start_xy_2 is not None:
            radius_m = torch.minimum(
                radius_m,
                torch.linalg.vector_norm(points - start_xy_2.reshape(1, 2).to(points), dim=-1),
            )
            keep = (
                radius_m > 0.2 * c.cell_m
            )  # a position the robot stands on says nothing about where to go
            cells, radius_m = cells[keep], radius_m[keep]
            if not cells.shape[0]:
                return None
        # The ramp falls with the relative distance u = d / r alone: 1 within inner/outer of
        # the reach, 0 beyond it (core/planning/proximity_grid.py: one raster read per point).
        relative = self._grid.relative_distance(cells, radius_m, poses_bh3[..., :2].reshape(-1, 2))
        ramp = ((1.0 - relative) / (1.0 - inner_m / outer_m)).clamp(0.0, 1.0)
        return ramp.reshape(poses_bh3.shape[:2]).to(poses_bh3.dtype)
