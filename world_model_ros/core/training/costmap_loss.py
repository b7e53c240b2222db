"""The footprint loss without a map: predicted poses must stay out of the derived costmap.

With simulator bags the training penalises predicted footprints that overlap the arena map
(losses.py, ``footprint``). A robot's own bags have no map, but they have the C-space labels
of core/data/occupancy_labels.py (where the footprint was blocked; what a LaserScan saw). Here
those labels become signed distance fields (metres to the occupied region; negative inside it)
that a predicted position is looked up in, bilinearly, so the penalty has a gradient that
pushes a prediction out of the obstacle it runs through. Unknown cells count as free: the
penalty only says "not there", where the robot's experience says so.

Shapes: B windows, H steps, E episodes (one field per episode of the window set).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..data.episodes import Episode
from ..data.occupancy_labels import OCCUPIED, UNKNOWN, LabelGrid
from ..data.windows import WindowSet

OUTSIDE_M = 1.0  # the field's value beyond a grid (far from anything known)


def signed_distance_field(grid: LabelGrid) -> np.ndarray:
    """Metres from each cell to the occupied region (negative inside it), float32 [H, W]."""
    occupied = (grid.labels_yx == OCCUPIED).astype(np.uint8)
    if not occupied.any():
        return np.full(occupied.shape, OUTSIDE_M, np.float32)
    outside = cv2.distanceTransform(1 - occupied, cv2.DIST_L2, 5)
    inside = cv2.distanceTransform(occupied, cv2.DIST_L2, 5)
    return ((outside - inside) * grid.resolution_m).astype(np.float32)


@dataclass
class CostmapFields:
    """One signed distance field per episode of a window set (None where none is known)."""

    fields_ehw: torch.Tensor  # padded with OUTSIDE_M
    known_ehw: torch.Tensor  # 1 where the labels say free or occupied, 0 unknown (and padding)
    origin_e2: torch.Tensor
    size_e2: torch.Tensor  # (width, height) in cells of each field
    known_e: torch.Tensor  # bool
    resolution_m: float

    @classmethod
    def from_grids(cls, grids: list[LabelGrid | None]) -> "CostmapFields":
        known = [g for g in grids if g is not None]
        resolution = known[0].resolution_m if known else 0.05
        if any(abs(g.resolution_m - resolution) > 1e-9 for g in known):
            raise ValueError("costmap grids must share one resolution")
        height = max([g.labels_yx.shape[0] for g in known] + [1])
        width = max([g.labels_yx.shape[1] for g in known] + [1])
        fields = torch.full((len(grids), height, width), OUTSIDE_M)
        known_cells = torch.zeros((len(grids), height, width))
        origin = torch.zeros(len(grids), 2)
        size = torch.ones(len(grids), 2)
        for index, grid in enumerate(grids):
            if grid is None:
                continue
            field = torch.from_numpy(signed_distance_field(grid))
            fields[index, : field.shape[0], : field.shape[1]] = field
            known_cells[index, : field.shape[0], : field.shape[1]] = torch.from_numpy(
                (grid.labels_yx != UNKNOWN).astype(np.float32)
            )
            origin[index] = torch.from_numpy(np.asarray(grid.origin_2, dtype=np.float32))
            size[index] = torch.tensor([width, height], dtype=torch.float32)
        known_e = torch.tensor([g is not None for g in grids], dtype=torch.bool)
        return cls(fields, known_cells, origin, size, known_e, resolution)

    def clearance(
        self, xy_bh2: torch.Tensor, episode_b: torch.Tensor, known: bool = False
    ) -> torch.Tensor:
        """Signed distance [B, H] (m) of each position to its episode's occupied region (with
        ``known``: how far [0, 1] the labels around it are known instead)."""
        device = xy_bh2.device
        table = self.known_ehw if known else self.fields_ehw
        fields = table.to(device)[episode_b.to(device)]  # [B, Hf, Wf]
        origin = self.origin_e2.to(device)[episode_b.to(device)]
        size = self.size_e2.to(device)[episode_b.to(device)]
        cells = (xy_bh2 - origin[:, None, :]) / self.resolution_m  # cell units, x then y
        # grid_sample: -1 / +1 are the outer edges of the first / last cell (align_corners False)
        normalised = 2.0 * cells / size[:, None, :] - 1.0
        sampled = F.grid_sample(
            fields[:, None],
            normalised[:, :, None, :],
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        return sampled[:, 0, :, 0]

    def penalty(
        self, xy_bh2: torch.Tensor, episode_b: torch.Tensor, tolerance_m: float
    ) -> torch.Tensor:
        """Mean overlap (m) beyond ``tolerance_m`` over the windows with a field (0 without)."""
        known = self.known_e.to(xy_bh2.device)[episode_b.to(xy_bh2.device)]
        if not bool(known.any()):
            return torch.zeros((), device=xy_bh2.device)
        clearance = self.clearance(xy_bh2[known], episode_b.to(xy_bh2.device)[known])
        return (-clearance - tolerance_m).clamp_min(0.0).mean()


def windows_with_costmap(
    episodes: list[Episode], model_config, grids: dict[str, LabelGrid]
) -> WindowSet:
    """The model's windows of ``episodes``, each episode with the costmap of its bag
    (``grids`` by source): what the footprint and imagined-collision terms read."""
    windows = WindowSet.for_model(episodes, model_config)
    windows.costmap = CostmapFields.from_grids([grids[e.source] for e in episodes])
    return windows


def imagined_collision_labels(
    costmap: CostmapFields,
    poses_bh3: torch.Tensor,
    episode_b: torch.Tensor,
    touching_m: float = 0.02,
    exclude_b: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Collision labels [B, H] (float) and their mask [B, H] (bool) for a rollout's positions
    (odometry frame): contact from the first step whose footprint comes within ``touching_m``
    of the occupied region (and every step after it: a blocked base stays blocked). A step
    before that counts only where the labels around it are known; windows of episodes
    without a costmap, and ``exclude_b`` ones, are masked out."""
    xy = poses_bh3[..., :2]
    device = xy.device
    has = costmap.known_e.to(device)[episode_b.to(device)]
    if exclude_b is not None:
        has = has & ~exclude_b.to(device)
    labels = torch.zeros(xy.shape[:2], device=device)
    mask = torch.zeros(xy.shape[:2], dtype=torch.bool, device=device)
    if not bool(has.any()):
        return labels, mask
    clearance = costmap.clearance(xy[has], episode_b[has])
    known = costmap.clearance(xy[has], episode_b[has], known=True) > 0.5
    hit = torch.cummax((clearance < touching_m).int(), dim=1).values.bool()
    labels[has] = hit.float()
    mask[has] = hit | known
    # a step is trusted only while every step before it is too (an unknown stretch breaks it)
    mask[has] &= torch.cummin(mask[has].int(), dim=1).values.bool() | hit
    return labels, mask
