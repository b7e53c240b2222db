"""What the latent says about the floor around the robot: a learned occupancy head.

Why: the planner asks the dynamics "does this command sequence touch something?" and gets an
answer only for what the camera sees *now*. A robot slipping past a box loses sight of it a
second before its flank gets there, and a robot standing in front of a box remembers only the
few surfaces its sampled rollouts ran into, some of them guesses 20-40 cm short of anything.
A costmap built from every frame (nav2's obstacle layer, with the camera as the sensor) keeps
what was seen in the places it was seen.

So a small head reads the same latent ``z`` the dynamics start from and says, for a grid of
cells in the robot's frame (``cell_m`` apart, from ``x_min_m`` behind to ``x_max_m`` ahead and
``y_half_m`` to either side), whether the robot *centred there* would touch an obstacle or a
wall: the configuration-space obstacle, the thing a planner checks its rollout centres
against, so no footprint inflation is needed afterwards. It is trained after the world model,
on its frozen encoder, against the arena map the simulator records with every bag (training
only; at run time the head sees nothing but the latent). The dynamics and their checkpoint are
untouched: the head is a separate file in the checkpoint folder. Fusing its per-frame guesses
over time is the planner's job (:mod:`occupancy_map`).

Shapes: B frames, C cells, D latent size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .layers import mlp


@dataclass(frozen=True)
class OccupancyHeadConfig:
    """The head's grid (robot frame, REP-103: x forward, y left) and width; saved with its
    weights."""

    latent_dim: int = 96  # D of the world model it reads
    hidden_dim: int = 256
    cell_m: float = 0.1
    x_min_m: float = -0.35  # behind the centre
    x_max_m: float = 2.0  # ahead
    y_half_m: float = 1.2  # to either side

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or self.hidden_dim < 1:
            raise ValueError(
                f"invalid occupancy head: latent_dim {self.latent_dim}, hidden_dim "
                f"{self.hidden_dim}"
            )
        if not (
            self.cell_m > 0
            and self.x_max_m - self.x_min_m >= self.cell_m
            and self.y_half_m >= self.cell_m / 2
        ):
            raise ValueError(
                f"invalid occupancy grid: cell_m {self.cell_m}, x {self.x_min_m}..{self.x_max_m}, "
                f"y +-{self.y_half_m}"
            )

    def cells_c2(self) -> torch.Tensor:
        """Cell centres [C, 2] (x, y) in metres, robot frame, x-major."""
        xs = np.arange(self.x_min_m, self.x_max_m - 1e-9, self.cell_m) + self.cell_m / 2
        ys = np.arange(-self.y_half_m, self.y_half_m - 1e-9, self.cell_m) + self.cell_m / 2
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        return torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float32)

    def to_dict(self) -> dict:
        return asdict(self)


class OccupancyHead(nn.Module):
    """Latent z [B, D] -> occupancy logits [B, C] over :meth:`OccupancyHeadConfig.cells_c2`."""

    cells_c2: torch.Tensor  # a buffer (register_buffer below)

    def __init__(self, config: OccupancyHeadConfig):
        super().__init__()
        self.config = config
        self.register_buffer("cells_c2", config.cells_c2(), persistent=False)
        self.net = mlp(
            config.latent_dim, [config.hidden_dim, config.hidden_dim], self.cells_c2.shape[0]
        )

    def forward(self, z_bd: torch.Tensor) -> torch.Tensor:
        return self.net(z_bd)

    @torch.no_grad()
    def shift_logits(self, by: float) -> None:
        """Add ``by`` to every cell's logit, through the last layer's bias (a prior
        correction: see core/training/occupancy_derived.py)."""
        last = self.net[-1]
        assert isinstance(last, nn.Linear)  # mlp() ends in a plain Linear
        last.bias.add_(by)


def cells_in_world(cells_c2: torch.Tensor, poses_b3: torch.Tensor) -> torch.Tensor:
    """Robot-frame cell centres [C, 2] placed at each pose [B, 3] -> odometry-frame [B, C, 2]."""
    cos, sin = torch.cos(poses_b3[:, 2:3]), torch.sin(poses_b3[:, 2:3])
    x = poses_b3[:, 0:1] + cos * cells_c2[:, 0] - sin * cells_c2[:, 1]
    y = poses_b3[:, 1:2] + sin * cells_c2[:, 0] + cos * cells_c2[:, 1]
    return torch.stack([x, y], dim=-1)


def in_view_c(
    cells_c2: torch.Tensor, camera_x_m: float, half_angle_rad: float, max_range_m: float
) -> torch.Tensor:
    """Which cells [C] bool the forward camera (at ``camera_x_m`` on the x axis) can see, out to
    ``max_range_m`` from the robot's centre: the only ones a frame says anything about."""
    ahead = cells_c2[:, 0] - camera_x_m
    bearing = torch.atan2(cells_c2[:, 1], ahead).abs()
    return (ahead > 0) & (bearing <= half_angle_rad) & (cells_c2.norm(dim=1) <= max_range_m)
