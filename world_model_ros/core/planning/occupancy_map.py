"""A rolling log-odds costmap of what the occupancy head (core/model/occupancy_head.py) said, frame
by frame.

Why a map and not the head's latest frame: the camera looks forward through 70 degrees, and a
box the robot is slipping past leaves the picture before the robot's flank reaches it; a box
it turned away from is behind it. Each frame's guess is added where it was made, in the
odometry frame, as log-odds evidence (Moravec and Elfes' occupancy grid, the fusion nav2's
voxel and STVL layers do with depth sensors): cells seen occupied from several poses become
confident, a single wrong guess is outvoted when the cell is seen free again, and cells never
seen keep the prior. Evidence fades with ``half_life_s`` (odometry drifts, things move).

Only the cells inside the camera's view out to ``max_range_m`` are updated: the head's guesses
about cells it cannot see are priors, not observations.

What the planner asks (:meth:`OccupancyMap.collision_prob`): the occupancy probability under
each rollout's centre, bilinear between cells, after taking the highest within ``inflation_m``
(nav2's inflation layer, as a margin). The head's cells are configuration space (a robot
centred there would touch something), so the footprint needs no inflation; the margin is for
the head's blurred edges: traced flank grazes ran through cells the map had held blocked from
afar and then cleared from close by. As with the
contact memory, only getting *more* occupied than where the robot stands now is charged: a
robot whose own cell the map believes occupied (drift, a wrong guess) must still be able to
leave it.

Cost: an index_add of a few hundred cells per frame, one max-pool of the grid for the inflation
per frame, and one grid_sample of B x H points per cycle, well under a millisecond for 512 x 20
on one CPU core.

A robot with a planar LiDAR also hands the map its scans (:meth:`OccupancyMap.update_scan`,
``scan_layer.py``): they are kept in a grid of their own, and where a scan has spoken its
evidence replaces the head's (a measurement over a guess; ``scan.overrule_head``), except on a
blob of the head's that no return explains (``scan.explained_within_m``: something below the
scan plane). Paths (``route.py``) are always planned on that measured map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..config import ConfigError, setting, validate_settings
from ..model.occupancy_head import cells_in_world, in_view_c
from .scan_layer import LaserFrame, ScanLayerConfig, scan_window

# A cell's scan evidence further than this from the prior (log-odds) means a scan has spoken.
SPOKEN_LOG_ODDS = 0.05


@dataclass(frozen=True)
class OccupancyMapConfig:
    """The costmap's geometry and how fast evidence builds and fades (docs/planner.md)."""

    enabled: bool = setting(
        True,
        "fuse the model's occupancy head (when its checkpoint has one) into a costmap the "
        "rollouts are checked against",
    )
    resolution_m: float = setting(0.05, "map cell size (m)", low=0.005, high=1.0)
    size_m: float = setting(8.0, "side of the square map (m); it follows the robot", low=0.1)
    max_range_m: float = setting(
        1.5, "trust the head's cells out to this distance from the robot (m)", low=0.01
    )
    camera_x_m: float = setting(
        0.15, "the camera's position ahead of the robot's centre (m)", low=-5.0, high=5.0
    )
    view_half_angle_rad: float = setting(
        0.6,
        "half the camera's horizontal field of view (rad): only cells in view are updated",
        low=0.0,
        high=math.pi,
    )
    gain: float = setting(
        0.5, "log-odds added per frame per unit of the head's logit", low=0.0, high=100.0
    )
    prior: float = setting(0.1, "occupancy probability of a cell never seen", low=0.0, high=1.0)
    max_log_odds: float = setting(
        4.0,
        "a cell's log-odds stay within +- this (4: P 0.018..0.982, so it can always be seen "
        "free again)",
        low=0.0,
        high=50.0,
    )
    half_life_s: float = setting(14.0, "evidence halves in this long (s)", low=0.0)
    inflation_m: float = setting(
        0.05,
        "rollouts read the highest occupancy within this distance (m): a safety margin",
        low=0.0,
    )
    scan: ScanLayerConfig = setting(default_factory=ScanLayerConfig)

    def __post_init__(self) -> None:
        validate_settings(self)
        problems = []
        if not (self.resolution_m > 0 and self.size_m >= 4 * self.max_range_m > 0):
            problems.append(
                f"need resolution_m > 0 and size_m >= 4 max_range_m > 0 (got {self.resolution_m}, "
                f"{self.size_m}, {self.max_range_m})"
            )
        if not 0.0 < self.prior < 1.0:
            problems.append(f"prior must be in (0, 1) (got {self.prior})")
        if not (self.gain > 0 and self.max_log_odds > 0 and self.half_life_s > 0):
            problems.append(
                f"gain, max_log_odds, half_life_s must be > 0 (got {self.gain}, "
                f"{self.max_log_odds}, "
                f"{self.half_life_s})"
            )
        if not 0.0 <= self.inflation_m <= self.max_range_m:
            problems.append(f"inflation_m must be in [0, max_range_m] (got {self.inflation_m})")
        if not 0.0 < self.view_half_angle_rad <= math.pi:
            problems.append(
                f"view_half_angle_rad must be in (0, pi] (got {self.view_half_angle_rad})"
            )
        if problems:
            raise ConfigError("invalid occupancy map configuration: " + "; ".join(problems))


class OccupancyMap:
    """Log-odds grid in the odometry frame; see the module docstring."""

    def __init__(
        self, config: OccupancyMapConfig = OccupancyMapConfig(), device: str | torch.device = "cpu"
    ):
        self.config = config
        self.device = torch.device(device)
        self.cells = int(math.ceil(config.size_m / config.resolution_m))
        self._prior_log_odds = math.log(config.prior / (1.0 - config.prior))
        self.clear()

    def clear(self) -> None:
        """Forget everything (new goal after a stop, odometry reset, robot moved by hand)."""
        self.log_odds_xy = torch.zeros(
            self.cells, self.cells, device=self.device
        )  # evidence, over the prior
        self.scan_log_odds_xy = torch.zeros_like(self.log_odds_xy)  # the LiDAR's (scan_layer.py)
        self.origin_2: torch.Tensor | None = None  # odometry position of cell (0, 0)'s corner
        self._scans = 0  # fused since the last clear
        self._inflated_of: tuple[torch.Tensor, torch.Tensor] | None = None  # grids it is of

    @property
    def empty(self) -> bool:
        return self.origin_2 is None

    @property
    def has_scans(self) -> bool:
        """Whether a LaserScan has been fused since the map was cleared."""
        return self._scans > 0

    def age(self, seconds: float) -> None:
        """Let ``seconds`` pass: evidence fades towards the prior."""
        if (
            seconds > 0 and not self.empty
        ):  # out of place: the grid may come from inference mode (the planner)
            fade = 0.5 ** (seconds / self.config.half_life_s)
            self.log_odds_xy = self.log_odds_xy * fade
            self.scan_log_odds_xy = self.scan_log_odds_xy * fade

    def _follow(self, xy_2: torch.Tensor) -> None:
        """Centre the map on ``xy_2`` first; re-centre it (keeping the overlap) when the robot gets
        within ``max_range_m`` + 0.5 m of an edge."""
        c = self.config
        if self.origin_2 is None:
            self.origin_2 = xy_2 - 0.5 * self.cells * c.resolution_m
            return
        margin = c.max_range_m + 0.5
        local = xy_2 - self.origin_2
        extent = self.cells * c.resolution_m
        if bool(((local > margin) & (local < extent - margin)).all()):
            return
        shift = torch.round((local - 0.5 * extent) / c.resolution_m).to(torch.int64)
        sx, sy = int(shift[0]), int(shift[1])
        self.log_odds_xy = self._shifted(self.log_odds_xy, sx, sy)
        self.scan_log_odds_xy = self._shifted(self.scan_log_odds_xy, sx, sy)
        self.origin_2 = self.origin_2 + shift.to(self.origin_2) * c.resolution_m

    def _shifted(self, grid: torch.Tensor, sx: int, sy: int) -> torch.Tensor:
        """``grid`` with cell (i, j) moved to (i - sx, j - sy); what leaves it is lost."""
        moved = torch.zeros_like(grid)
        n = self.cells
        if abs(sx) < n and abs(sy) < n:
            moved[max(0, -sx) : n - max(0, sx), max(0, -sy) : n - max(0, sy)] = grid[
                max(0, sx) : n - max(0, -sx), max(0, sy) : n - max(0, -sy)
            ]
        return moved

    def update(self, pose_3: torch.Tensor, cells_c2: torch.Tensor, logits_c: torch.Tensor) -> int:
        """Add one frame's head output (robot-frame cells, logits) seen from ``pose_3``; returns
        how many map cells received evidence."""
        c = self.config
        if not c.enabled:
            return 0
        pose = pose_3.detach().to(self.device, torch.float32).reshape(3)
        cells = cells_c2.to(self.device, torch.float32)
        view = in_view_c(cells, c.camera_x_m, c.view_half_angle_rad, c.max_range_m)
        if not bool(view.any()):
            return 0
        self._follow(pose[:2])
        # Each head cell covers k x k map cells; spread its evidence over them.
        xs = cells[:, 0].unique()
        head_cell = float(xs.diff().min()) if xs.numel() > 1 else c.resolution_m
        k = max(1, int(round(head_cell / c.resolution_m)))
        offsets = (torch.arange(k, device=self.device, dtype=torch.float32) + 0.5) / k - 0.5
        offsets = (
            torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1).reshape(-1, 2)
            * head_cell
        )
        local = (cells[view][:, None, :] + offsets[None]).reshape(-1, 2)
        evidence = (
            logits_c.detach().to(self.device, torch.float32)[view].clamp(-6.0, 6.0)
            - self._prior_log_odds
        ).repeat_interleave(k * k)
        world = cells_in_world(local, pose.reshape(1, 3))[0]
        assert self.origin_2 is not None  # placed by _follow
        index = torch.floor((world - self.origin_2) / c.resolution_m).to(torch.int64)
        inside = ((index >= 0) & (index < self.cells)).all(dim=1)
        flat = index[inside, 0] * self.cells + index[inside, 1]
        total = torch.zeros(self.cells * self.cells, device=self.device).index_add_(
            0, flat, evidence[inside]
        )
        count = torch.zeros(self.cells * self.cells, device=self.device).index_add_(
            0, flat, torch.ones_like(evidence[inside])
        )
        seen = count > 0
        grid = self.log_odds_xy.reshape(
            -1
        ).clone()  # a fresh tensor inside or outside inference mode
        grid[seen] = (grid[seen] + c.gain * total[seen] / count[seen]).clamp(
            *self._evidence_range()
        )
        self.log_odds_xy = grid.view(self.cells, self.cells)
        return int(seen.sum())

    def _evidence_range(self) -> tuple[float, float]:
        """The evidence a cell may hold over the prior: its log-odds within +-max_log_odds."""
        bound = self.config.max_log_odds
        return -bound - self._prior_log_odds, bound - self._prior_log_odds

    def update_scan(self, frame: LaserFrame, robot_xy_2, body_radius_m: float) -> int:
        """Add one LaserScan (``scan_layer.py``) taken by a robot at ``robot_xy_2`` whose body
        reaches ``body_radius_m``; returns how many cells it marked or cleared."""
        c = self.config
        if not (c.enabled and c.scan.enabled):
            return 0
        self._follow(torch.as_tensor(np.asarray(robot_xy_2, np.float32)[:2], device=self.device))
        assert self.origin_2 is not None  # placed by _follow
        sensor = torch.as_tensor(np.asarray(frame.sensor_pose_3, np.float32)[:2])
        reach = c.scan.max_range_m + body_radius_m
        low = torch.floor((sensor - reach - self.origin_2.cpu()) / c.resolution_m).to(torch.int64)
        high = torch.ceil((sensor + reach - self.origin_2.cpu()) / c.resolution_m).to(torch.int64)
        (i0, j0), (i1, j1) = low.clamp(0, self.cells).tolist(), high.clamp(0, self.cells).tolist()
        if i1 - i0 < 2 or j1 - j0 < 2:
            return 0
        ii = torch.arange(i0, i1, device=self.device, dtype=torch.float32)
        jj = torch.arange(j0, j1, device=self.device, dtype=torch.float32)
        centres = torch.stack(torch.meshgrid(ii, jj, indexing="ij"), dim=-1) + 0.5
        centres = self.origin_2 + centres * c.resolution_m
        marked, cleared = scan_window(frame, centres, body_radius_m, c.scan)
        window = self.scan_log_odds_xy[i0:i1, j0:j1]
        change = marked.float() * c.scan.hit_log_odds - cleared.float() * c.scan.miss_log_odds
        grid = self.scan_log_odds_xy.clone()  # a fresh tensor inside or outside inference mode
        grid[i0:i1, j0:j1] = (window + change).clamp(*self._evidence_range())
        self.scan_log_odds_xy = grid
        self._scans += 1
        return int((marked | cleared).sum())

    def probability_xy(self) -> torch.Tensor:
        """Occupancy probability of every cell [X, Y] (x index first), as the rollouts read it:
        where a scan has spoken, the higher of the LiDAR's and the head's (an obstacle below
        the scan plane is seen by the camera only), or the LiDAR's alone with
        ``scan.overrule_head``; the head's elsewhere."""
        measured = self.measured_probability_xy()
        if self.config.scan.overrule_head or not self.has_scans:
            return measured
        head = torch.sigmoid(self.log_odds_xy + self._prior_log_odds)
        guessed = self.log_odds_xy.abs() > SPOKEN_LOG_ODDS  # the head's prior is no guess
        return torch.where(guessed, torch.maximum(measured, head), measured)

    def measured_probability_xy(self) -> torch.Tensor:
        """Occupancy probability [X, Y] with the LiDAR's evidence in place of the head's
        guesses wherever a scan has spoken, but for the head's blobs no return explains: what a
        path is planned on (``route.py``)."""
        head = torch.sigmoid(self.log_odds_xy + self._prior_log_odds)
        if not self.has_scans:
            return head
        scanned = self.scan_log_odds_xy.abs() > SPOKEN_LOG_ODDS
        measured = torch.where(
            scanned, torch.sigmoid(self.scan_log_odds_xy + self._prior_log_odds), head
        )
        reach = int(round(self.config.scan.explained_within_m / self.config.resolution_m))
        if reach <= 0:
            return measured
        # A blob of the head's with no return near it is not a blur of something the scan hit:
        # something the scan plane passes over (a low box). The camera's word stands there.
        # (a square window, as two strips: 2k instead of k^2 reads per cell, every cycle)
        returns = (self.scan_log_odds_xy > SPOKEN_LOG_ODDS).float()[None, None]
        size = 2 * reach + 1
        rows = F.max_pool2d(returns, (size, 1), stride=1, padding=(reach, 0))
        explained = F.max_pool2d(rows, (1, size), stride=1, padding=(0, reach))[0, 0] > 0
        guessed = self.log_odds_xy.abs() > SPOKEN_LOG_ODDS
        return torch.where(scanned & guessed & ~explained, torch.maximum(measured, head), measured)

    def occupancy_percent_yx(self, unknown_below: float = 0.05) -> np.ndarray:
        """The map as nav_msgs/OccupancyGrid wants it: int8 [Y, X] (row y, column x), 0-100, -1
        where no evidence was ever added (log-odds within ``unknown_below`` of the prior)."""
        percent = torch.round(self.probability_xy() * 100.0).clamp(0, 100).to(torch.int8)
        unknown = (self.log_odds_xy.abs() < unknown_below) & (
            self.scan_log_odds_xy.abs() < unknown_below
        )
        percent[unknown] = -1
        return percent.T.contiguous().cpu().numpy()

    def probability_at(self, xy_n2: torch.Tensor) -> torch.Tensor:
        """Occupancy probability at odometry positions [..., 2] after the inflation, bilinear; the
        prior outside the map."""
        if self.empty:
            return torch.full(xy_n2.shape[:-1], self.config.prior, device=xy_n2.device)
        return self._sample(self._inflated(), xy_n2)

    def inflated_measured_probability_xy(self) -> torch.Tensor:
        """``measured_probability_xy`` after the inflation: what a path is planned on. The
        rollouts' grid, computed once per state, wherever the two are the same (the scan
        overrules the head, or there is no scan)."""
        if self.config.scan.overrule_head or not self.has_scans:
            return self._inflated()[0, 0]
        return self.inflate(self.measured_probability_xy())

    def _inflated(self) -> torch.Tensor:
        """The probability grid [1, 1, X, Y] with each cell the highest within ``inflation_m``;
        computed once per state of the grids (the planner asks twice a cycle: the samples and
        the plan). Every change replaces a grid, so their identities are the state."""
        of = self._inflated_of  # the grids themselves: an id() could be reused once freed
        if of is None or of[0] is not self.log_odds_xy or of[1] is not self.scan_log_odds_xy:
            self._inflated_grid = self._inflate()
            self._inflated_of = (self.log_odds_xy, self.scan_log_odds_xy)
        return self._inflated_grid

    def _inflate(self) -> torch.Tensor:
        return self.inflate(self.probability_xy())[None, None]

    def inflate(self, probability_xy: torch.Tensor) -> torch.Tensor:
        """``probability_xy`` [X, Y] with each cell the highest within ``inflation_m``."""
        reach = int(round(self.config.inflation_m / self.config.resolution_m))
        if reach <= 0:
            return probability_xy
        return F.max_pool2d(
            probability_xy[None, None], kernel_size=2 * reach + 1, stride=1, padding=reach
        )[0, 0]

    def _sample(self, probability: torch.Tensor, xy_n2: torch.Tensor) -> torch.Tensor:
        c = self.config
        extent = self.cells * c.resolution_m
        assert self.origin_2 is not None  # sampled only once the map holds evidence
        normalised = ((xy_n2.to(self.device, torch.float32) - self.origin_2) / extent) * 2.0 - 1.0
        # grid_sample reads (x -> last dim, y -> the one before): our x index is the row.
        points = torch.stack([normalised[..., 1], normalised[..., 0]], dim=-1).reshape(1, -1, 1, 2)
        sampled = (
            F.grid_sample(
                probability - c.prior,
                points,
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )
            + c.prior
        )
        return sampled.reshape(xy_n2.shape[:-1]).to(xy_n2.device)

    def collision_prob(
        self, poses_bh3: torch.Tensor, here_xy_2: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """P(contact) per rollout step [B, H] from the map (only the rise over the robot's own
        cell when ``here_xy_2`` is given); None before the first frame."""
        if self.empty or not self.config.enabled:
            return None
        grid = self._inflated()  # the rollouts and the robot's own cell read the same grid
        probability = self._sample(grid, poses_bh3[..., :2])
        if here_xy_2 is not None:
            here = float(self._sample(grid, here_xy_2.reshape(1, 2))[0])
            probability = ((probability - here) / (1.0 - here)).clamp(0.0, 1.0)
        return probability.to(poses_bh3.dtype)
