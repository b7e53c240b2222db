"""Training the occupancy head without a map: on C-space labels from the robot's experience.

Same head, same frozen encoder as core/training/occupancy.py, but the targets come from
core/data/occupancy_labels.py (where the footprint went: free; where it was blocked while
pushing: occupied; LaserScan beams when the bags have them) instead of a simulator's arena map.
Most cells around a frame are unknown and are left out of the loss; the occupied ones are rare
and weighted up to balance the free ones. The split holds out whole episodes; the best
validation step (masked loss) is kept.

Why the weight is taken back off afterwards: weighting the occupied cells by ``w`` in the loss
tilts every logit the head learns by log(w) towards occupied (the prior correction of
weighted logistic regression). The planner's costmap (core/planning/occupancy_map.py) adds
each frame's logits as log-odds evidence against its prior, so that tilt was phantom evidence
for an obstacle, frame after frame, and on the small robot's layouts it grew blocked blobs in
open floor that left no way round (docs/any_robot.md). So the trained head's output bias is
lowered by log(w): the weight still shapes what the head learns to tell apart, and its
probabilities are the labelled cells' own again.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..data.episodes import Episode
from ..data.occupancy_labels import (
    OCCUPIED,
    LabelGrid,
    OccupancyLabelConfig,
    Scan,
    build_label_grid,
)
from ..data.windows import split_by_episode
from ..evaluation.metrics import auroc
from ..model.latent_predictor import LatentPredictor
from ..model.occupancy_head import OccupancyHead, OccupancyHeadConfig, cells_in_world, in_view_c
from .occupancy import OccupancyTrainConfig, encode_every_frame, fit_head

DEFAULT_LABELS = OccupancyLabelConfig()
DEFAULT_TRAINING = OccupancyTrainConfig()


@dataclass
class DerivedFrames:
    """Frames with their latent, pose and the label grid of their bag."""

    latents_nd: torch.Tensor
    poses_n3: torch.Tensor
    grid_n: np.ndarray  # index into ``grids``
    grids: list[LabelGrid]

    def __len__(self) -> int:
        return int(self.latents_nd.shape[0])

    def labels(self, index: torch.Tensor, cells_c2: torch.Tensor) -> torch.Tensor:
        """Labels [B, C] int8: OCCUPIED, FREE or UNKNOWN (-1) for each head cell of each frame."""
        world = cells_in_world(cells_c2, self.poses_n3[index]).numpy()
        out = np.empty(world.shape[:2], np.int8)
        grid_of = self.grid_n[index.numpy()]
        for g in np.unique(grid_of):
            rows = grid_of == g
            out[rows] = (
                self.grids[int(g)].lookup(world[rows].reshape(-1, 2)).reshape(-1, world.shape[1])
            )
        return torch.from_numpy(out)


def build_grids(
    episodes: Sequence[Episode],
    robot_radius_m: float,
    scans_by_source: dict[str, list[Scan]] | None = None,
    config: OccupancyLabelConfig = DEFAULT_LABELS,
) -> dict[str, LabelGrid]:
    """One label grid per bag (episodes of a bag share its odometry frame)."""
    by_source: dict[str, list[Episode]] = {}
    for e in episodes:
        by_source.setdefault(e.source, []).append(e)
    return {
        source: build_label_grid(
            group, robot_radius_m, (scans_by_source or {}).get(source), config
        )
        for source, group in by_source.items()
    }


def encode_derived_frames(
    predictor: LatentPredictor,
    episodes: Sequence[Episode],
    grids: dict[str, LabelGrid],
    chunk: int = 1024,
    progress: bool = True,
) -> DerivedFrames:
    windows, latents = encode_every_frame(predictor, episodes, chunk, progress)
    sources = sorted(grids)
    grid_of_episode = np.array([sources.index(e.source) for e in episodes], dtype=np.int64)
    episode_of = np.searchsorted(windows.offsets, np.arange(windows.num_frames), side="right") - 1
    return DerivedFrames(
        latents,
        windows.poses.clone(),
        grid_of_episode[episode_of],
        [grids[s] for s in sources],
    )


def evaluate_derived(
    head: OccupancyHead, frames: DerivedFrames, config: OccupancyTrainConfig, chunk: int = 4096
) -> dict[str, float]:
    """Masked loss over the labelled cells; AUROC over the labelled cells in view."""
    cells = head.cells_c2.cpu()
    view = in_view_c(cells, config.camera_x_m, config.view_half_angle_rad, config.report_range_m)
    loss_sum, known_sum, scores, targets = 0.0, 0, [], []
    head.eval()
    with torch.no_grad():
        for start in range(0, len(frames), chunk):
            index = torch.arange(start, min(len(frames), start + chunk))
            logits = head(frames.latents_nd[index]).cpu()
            labels = frames.labels(index, cells)
            known = labels >= 0
            loss_sum += float(
                F.binary_cross_entropy_with_logits(
                    logits[known], (labels[known] == OCCUPIED).float(), reduction="sum"
                )
            )
            known_sum += int(known.sum())
            judged = known & view
            scores.append(logits[judged])
            targets.append(labels[judged] == OCCUPIED)
    score, target = torch.cat(scores).numpy(), torch.cat(targets).numpy()
    return {
        "loss": loss_sum / max(1, known_sum),
        "labelled_cell_fraction": known_sum / max(1, len(frames) * cells.shape[0]),
        "auroc_labelled_in_view": auroc(target, score) if len(target) else float("nan"),
        "occupied_fraction_labelled": float(target.mean()) if len(target) else float("nan"),
    }


def train_occupancy_head_derived(
    predictor: LatentPredictor,
    episodes: Sequence[Episode],
    robot_radius_m: float,
    scans_by_source: dict[str, list[Scan]] | None = None,
    config: OccupancyTrainConfig = DEFAULT_TRAINING,
    label_config: OccupancyLabelConfig = DEFAULT_LABELS,
    head_config: OccupancyHeadConfig | None = None,
    progress: bool = True,
) -> tuple[OccupancyHead, dict]:
    """Fit a head on the frozen ``predictor`` from experience-derived labels (episodes must
    carry contact labels: core/data/labels.py). Returns the best head and a report."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    head_config = head_config or OccupancyHeadConfig(latent_dim=predictor.config.latent_dim)
    grids = build_grids(episodes, robot_radius_m, scans_by_source, label_config)
    free = sum(g.counts["free_cells"] for g in grids.values())
    occupied = sum(g.counts["occupied_cells"] for g in grids.values())
    if occupied == 0:
        raise ValueError(
            "no occupied cells in the derived costmap labels (no blocked contact and no "
            "LaserScan): the occupancy head cannot learn where obstacles are"
        )
    train_episodes, val_episodes = split_by_episode(
        episodes, config.validation_fraction, config.seed
    )
    train = encode_derived_frames(predictor, train_episodes, grids, progress=progress)
    val = (
        encode_derived_frames(predictor, val_episodes, grids, progress=progress)
        if val_episodes
        else train
    )
    head = OccupancyHead(head_config)
    pos_weight = float(np.clip(free / max(1, occupied), 1.0, 10.0))
    best_step = fit_derived_head(head, train, val, pos_weight, config, progress)
    prior_correction = -math.log(pos_weight)
    report = {
        "config": asdict(config),
        "labels": {
            "source": "derived from experience" + (" + LaserScan" if scans_by_source else ""),
            "config": asdict(label_config),
            "robot_radius_m": robot_radius_m,
            "free_cells": free,
            "occupied_cells": occupied,
            "blocked_pushes": sum(g.counts["blocked_pushes"] for g in grids.values()),
            "scans": sum(g.counts["scans"] for g in grids.values()),
            "pos_weight": pos_weight,
            "prior_correction": prior_correction,  # added to every logit after training
        },
        "frames": {"train": len(train), "validation": len(val)},
        "best_step": best_step,
        "validation": evaluate_derived(head, val, config),
        "minutes": (time.perf_counter() - started) / 60.0,
    }
    return head, report


def fit_derived_head(
    head: OccupancyHead,
    train: DerivedFrames,
    val: DerivedFrames,
    pos_weight: float,
    config: OccupancyTrainConfig = DEFAULT_TRAINING,
    progress: bool = True,
) -> int:
    """Train ``head`` on the labelled cells, the occupied ones weighted by ``pos_weight``, keep
    its best validation step (returned), then lower its logits by log(pos_weight) so that its
    probabilities are the labelled cells' own (the module docstring says why)."""
    cells = head.cells_c2
    weight = torch.tensor(float(pos_weight))

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        labels = train.labels(index, cells)
        known = labels >= 0
        logits = head(train.latents_nd[index])
        return F.binary_cross_entropy_with_logits(
            logits[known], (labels[known] == OCCUPIED).float(), pos_weight=weight
        )

    best_step = fit_head(
        head,
        len(train),
        batch_loss,
        lambda: evaluate_derived(head, val, config)["loss"],
        config,
        progress,
    )
    head.shift_logits(-math.log(pos_weight))
    return best_step
