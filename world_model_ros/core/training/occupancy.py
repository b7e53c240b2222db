"""Training the occupancy head (core/model/occupancy_head.py) on a frozen world model.

The world model's encoder turns every recorded frame into its latent once; the head then
learns, per frame, the configuration-space occupancy of the cells around the robot from the
arena map the simulator wrote into the bag. Bags without a map (a real robot's) have no
targets and are skipped. The split holds out whole layouts, as the world model's does; the
best validation step is kept. A few minutes on one CPU core.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from ..data.episodes import Episode
from ..data.windows import ArenaTensors, WindowSet, split_by_episode
from ..evaluation.metrics import auroc
from ..model.latent_predictor import LatentPredictor
from ..model.occupancy_head import OccupancyHead, OccupancyHeadConfig, cells_in_world, in_view_c


@dataclass(frozen=True)
class OccupancyTrainConfig:
    steps: int = 3000
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    validation_fraction: float = 0.1
    validate_every: int = 250
    seed: int = 0
    # The part of the grid the report judges: in the camera's view, out to this range.
    camera_x_m: float = 0.15
    view_half_angle_rad: float = 0.6
    report_range_m: float = 1.5

    def __post_init__(self) -> None:
        if (
            self.steps < 1
            or self.batch_size < 1
            or self.validate_every < 1
            or not self.learning_rate > 0
        ):
            raise ValueError(f"invalid occupancy training configuration: {self}")


@dataclass
class FrameSet:
    """Every frame of some episodes as the head sees it: latent, pose, its arena (known maps
    only)."""

    latents_nd: torch.Tensor
    poses_n3: torch.Tensor
    arena: ArenaTensors

    def __len__(self) -> int:
        return int(self.latents_nd.shape[0])

    def targets(self, index: torch.Tensor, cells_c2: torch.Tensor) -> torch.Tensor:
        """1 where a robot centred on the cell would touch a wall or an obstacle, [B, C]."""
        world = cells_in_world(cells_c2, self.poses_n3[index])
        arena = ArenaTensors(
            *(
                getattr(self.arena, name)[index]
                for name in (
                    "obstacles_bk6",
                    "mask_bk",
                    "half_size_b",
                    "robot_radius_b",
                    "known_b",
                )
            )
        )
        return (arena.clearance(world) < 0.0).float()

    def inside_arena(self, index: torch.Tensor, cells_c2: torch.Tensor) -> torch.Tensor:
        """Cells whose centre a robot could reach between the walls, [B, C] (walls are easy: the
        report leaves them out)."""
        world = cells_in_world(cells_c2, self.poses_n3[index])
        room = self.arena.half_size_b[index, None] - self.arena.robot_radius_b[index, None]
        return world.abs().amax(dim=-1) < room


def encode_every_frame(
    predictor: LatentPredictor, episodes: Sequence[Episode], chunk: int, progress: bool
) -> tuple[WindowSet, torch.Tensor]:
    """Every frame of the episodes (as one WindowSet's flat arrays) and its latent [N, D], the
    encoder given what the twin gives it (image, history, LaserScan)."""
    config = predictor.config
    windows = WindowSet.for_model(list(episodes), config, horizon=1)
    steps = config.history_steps
    latents = []
    for start in tqdm(
        range(0, windows.num_frames, chunk),
        disable=not progress,
        dynamic_ncols=True,
        desc="encode",
    ):
        index = torch.arange(start, min(windows.num_frames, start + chunk))
        history = windows.history_at(index, steps) if steps else None
        scan = None if windows.scans is None else windows.scans[index]
        latents.append(
            predictor.encode_batch(windows.images[index], windows.twists[index], history, scan)
            .float()
            .cpu()
        )
    return windows, torch.cat(latents)


def encode_frames(
    predictor: LatentPredictor,
    episodes: Sequence[Episode],
    chunk: int = 1024,
    progress: bool = True,
) -> FrameSet:
    """The predictor's latent of every frame of the episodes that carry an arena map."""
    mapped = [e for e in episodes if e.arena is not None and len(e)]
    if not mapped:
        raise ValueError(
            "no episode has an arena map: the occupancy head trains on simulator bags only"
        )
    windows, latents = encode_every_frame(predictor, mapped, chunk, progress)
    episode_of = torch.from_numpy(
        np.searchsorted(windows.offsets, np.arange(windows.num_frames), side="right") - 1
    ).long()
    arena = ArenaTensors(
        windows.arena_obstacles[episode_of],
        windows.arena_mask[episode_of],
        windows.arena_half[episode_of],
        windows.arena_radius[episode_of],
        windows.arena_known[episode_of],
    )
    return FrameSet(latents, windows.poses.clone(), arena)


def evaluate_head(
    head: OccupancyHead, frames: FrameSet, config: OccupancyTrainConfig, chunk: int = 4096
) -> dict[str, float]:
    """Loss over all cells; AUROC, precision and recall at P = 0.5 over the cells in view
    within ``report_range_m`` that lie between the walls (obstacles, not walls)."""
    cells = head.cells_c2.cpu()
    view = in_view_c(cells, config.camera_x_m, config.view_half_angle_rad, config.report_range_m)
    losses, scores, labels = [], [], []
    head.eval()
    with torch.no_grad():
        for start in range(0, len(frames), chunk):
            index = torch.arange(start, min(len(frames), start + chunk))
            logits = head(frames.latents_nd[index]).cpu()
            targets = frames.targets(index, cells)
            losses.append(
                float(F.binary_cross_entropy_with_logits(logits, targets, reduction="sum"))
            )
            judged = frames.inside_arena(index, cells) & view
            scores.append(logits[judged])
            labels.append(targets[judged])
    score, label = torch.cat(scores).numpy(), torch.cat(labels).numpy() > 0.5
    said = score > 0.0
    return {
        "loss": sum(losses) / (len(frames) * cells.shape[0]),
        "auroc_in_view": auroc(label, score),
        "precision_in_view": float((said & label).sum() / max(1, said.sum())),
        "recall_in_view": float((said & label).sum() / max(1, label.sum())),
        "occupied_fraction_in_view": float(label.mean()),
    }


def fit_head(
    head: OccupancyHead,
    frames: int,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    validation_loss: Callable[[], float],
    config: OccupancyTrainConfig,
    progress: bool = True,
) -> int:
    """Train ``head`` for ``config.steps`` on random batches of frame indices (``batch_loss``
    of an index tensor), keep the weights of the best ``validation_loss`` and return their
    step. One loop for the map's labels and the derived ones (occupancy_derived.py): they
    differ only in the loss of a batch."""
    optimiser = torch.optim.AdamW(
        head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.steps)
    generator = torch.Generator().manual_seed(config.seed)
    best, best_loss, best_step = copy.deepcopy(head.state_dict()), math.inf, 0
    bar = tqdm(
        range(1, config.steps + 1), disable=not progress, dynamic_ncols=True, desc="occupancy"
    )
    for step in bar:
        head.train()
        index = torch.randint(frames, (config.batch_size,), generator=generator)
        loss = batch_loss(index)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % config.validate_every == 0 or step == config.steps:
            val_loss = validation_loss()
            bar.set_postfix(train=f"{loss.item():.3f}", val=f"{val_loss:.3f}")
            if val_loss < best_loss:
                best, best_loss, best_step = copy.deepcopy(head.state_dict()), val_loss, step
    head.load_state_dict(best)
    head.eval()
    return best_step


def train_occupancy_head(
    predictor: LatentPredictor,
    episodes: Sequence[Episode],
    config: OccupancyTrainConfig = OccupancyTrainConfig(),
    head_config: OccupancyHeadConfig | None = None,
    progress: bool = True,
) -> tuple[OccupancyHead, dict]:
    """Fit a head on the frozen ``predictor``; returns the best head on the validation layouts
    and a report (its metrics, the split, the time taken)."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    head_config = head_config or OccupancyHeadConfig(latent_dim=predictor.config.latent_dim)
    if head_config.latent_dim != predictor.config.latent_dim:
        raise ValueError(
            f"head reads latent_dim {head_config.latent_dim}, the model has "
            f"{predictor.config.latent_dim}"
        )
    train_episodes, val_episodes = split_by_episode(
        episodes, config.validation_fraction, config.seed
    )
    train = encode_frames(predictor, train_episodes, progress=progress)
    val = encode_frames(predictor, val_episodes, progress=progress) if val_episodes else train
    head = OccupancyHead(head_config)
    cells = head.cells_c2

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            head(train.latents_nd[index]), train.targets(index, cells)
        )

    best_step = fit_head(
        head,
        len(train),
        batch_loss,
        lambda: evaluate_head(head, val, config)["loss"],
        config,
        progress,
    )
    report = {
        "config": asdict(config),
        "frames": {"train": len(train), "validation": len(val)},
        "validation_layouts": sorted(
            {
                e.arena.layout_seed
                for e in val_episodes
                if e.arena is not None and e.arena.layout_seed is not None
            }
        ),
        "best_step": best_step,
        "validation": evaluate_head(head, val, config),
        "minutes": (time.perf_counter() - started) / 60.0,
    }
    return head, report
