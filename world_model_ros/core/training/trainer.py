"""Training the latent world model: multi-step open-loop losses over the horizon.

One step: encode the frame at t0, roll the latent dynamics open-loop through the H recorded
commands, and score every step at once against what happened:

* ``delta``: per-step body-frame motion (normalised residual over the kinematic prior);
* ``pose``: the composed trajectory (what ADE measures), in metres and radians;
* ``twist``: the measured velocity after each step;
* ``collision``: BCE against the ground-truth contact at each step;
* ``nll``: Gaussian NLL of the accumulated position/yaw error under the predicted variance
  (errors detached: the variance heads learn calibration, not the mean);
* ``consistency``: TD-MPC's latent consistency, the predicted latent at a few steps against the
  (stop-gradient) encoding of the frame that was really seen there.

Everything that matters is in :class:`TrainConfig` (loaded from config/train.yaml). With a
fixed seed and a run bounded by steps (not by minutes), training is deterministic on CPU.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
import yaml
from torch.nn import functional as F
from tqdm import tqdm

from ..config import check_plain_mapping
from ..data.windows import ArenaTensors, WindowBatch, WindowSet
from ..geometry import compose_body_deltas, wrap_angle
from ..model.checkpoint import save_checkpoint
from ..model.latent_model import (
    LatentDynamicsModel,
    LatentModelConfig,
    Normalisation,
    kinematic_body_delta,
)
from . import distributed as ddp
from .distributed import DistContext

if TYPE_CHECKING:
    from ..data.streaming import StreamingWindows
from .costmap_loss import imagined_collision_labels
from .mirror import mirror_batch

TRAIN_STATE_NAME = "train_state.pt"


@dataclass
class LossWeights:
    delta: float = 1.0
    pose: float = 1.0
    twist: float = 0.5
    collision: float = 1.0
    nll: float = 0.1
    consistency: float = 1.0
    footprint: float = (
        2.0  # predicted footprints overlapping the ground-truth map (simulator bags only)
    )
    # collision head on other windows' command sequences, labelled by the derived costmap
    # (no map: core/training/costmap_loss.py); off without a costmap
    costmap_collision: float = 1.0


@dataclass
class TrainConfig:
    """Hyperparameters (config/train.yaml). Model architecture lives in ``model``."""

    model: LatentModelConfig = field(default_factory=LatentModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    steps: int = 4000
    batch_size: int = 64
    learning_rate: float = 1e-3
    min_learning_rate_fraction: float = 0.05
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 10.0
    consistency_steps: tuple[int, ...] = (5, 10, 20)
    collision_pos_weight: float = 3.0  # contacts are rare: weight positives in the BCE
    augment_shift_px: int = 2  # random image shift (DrQ-style), 0 = off
    mirror_probability: float = 0.0  # share of windows mirrored left-right (training/mirror.py)
    # Weight of the collision term when picking the best validation step (None = loss weight).
    # Fine-tuning on derived labels: their validation BCE rises long before motion stops
    # improving, so adaptation weighs it less.
    selection_collision_weight: float | None = None
    imagined_sequences: int = 1  # other windows' command sequences per window (costmap term)
    # Gaussian noise on the measured (v, w) the encoder sees (not on targets): the model must
    # lean on the image and the commands, not on "measured v is exactly 0" (0 = off)
    twist_noise_v_mps: float = 0.0
    twist_noise_w_radps: float = 0.0
    # Windows that start at rest (|v| < 0.05 m/s), not in contact, under a forward command
    # (> 0.05 m/s) are drawn this many times as often: starts from rest in free space are what a
    # planner asks about first, and in the data they are rare next to the same measured state
    # pinned against a wall (1 = uniform sampling)
    rest_start_weight: float = 1.0
    validation_fraction: float = 0.1
    validate_every: int = 250
    validation_windows: int = 2048
    footprint_tolerance_m: float = (
        0.005  # overlap the footprint loss forgives (soft contacts in the data)
    )
    pose_scale_m: float = 0.1  # the pose loss is in units of this
    yaw_scale_rad: float = 0.1
    seed: int = 0
    num_threads: int = 0  # torch CPU threads; 0 = torch's default
    max_minutes: float = 0.0  # wall-clock budget; 0 = none. Binds the LR schedule too.
    # Parameter-name prefixes kept fixed (fine-tuning on little data: e.g. "image_encoder")
    freeze: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(
                f"steps, batch_size and learning_rate must be positive; got {self.steps}, "
                f"{self.batch_size}, {self.learning_rate}"
            )
        if any(not 1 <= k <= self.model.horizon for k in self.consistency_steps):
            raise ValueError(
                f"consistency_steps {list(self.consistency_steps)} must lie in "
                f"1..{self.model.horizon}"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model"] = self.model.to_dict()
        out["consistency_steps"] = list(self.consistency_steps)
        out["freeze"] = list(self.freeze)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "train config") -> "TrainConfig":
        values = dict(values or {})
        check_plain_mapping(cls, values, where)  # unknown keys and wrong types name the key
        try:
            if "model" in values:
                values["model"] = LatentModelConfig.from_dict(values["model"] or {})
            if "loss" in values:
                values["loss"] = LossWeights(**(values["loss"] or {}))
            if "consistency_steps" in values:
                values["consistency_steps"] = tuple(
                    int(k) for k in values["consistency_steps"] or ()
                )
            if "freeze" in values:
                values["freeze"] = tuple(str(k) for k in values["freeze"] or ())
            return cls(**values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from error

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"cannot read train config {path}: {error}") from error
        if not isinstance(values, dict):
            raise ValueError(f"train config {path}: expected a mapping at the top level")
        return cls.from_dict(values, where=str(path))


def compute_normalisation(windows: WindowSet, config: LatentModelConfig) -> Normalisation:
    """Mean/std of twists, commands and the per-step motion residual, over the training frames."""
    if windows.num_frames < 2:
        raise ValueError("not enough training frames to compute normalisation statistics")
    valid = torch.ones(windows.num_frames, dtype=torch.bool)
    valid[torch.from_numpy(windows.offsets[1:] - 1).long()] = (
        False  # last frame of an episode has no motion
    )
    commands = windows.commands[valid]
    residual = windows.deltas[valid]
    if config.kinematic_prior:
        residual = residual - kinematic_body_delta(commands, config.dt_s)

    def stats(x: torch.Tensor, floor: float) -> tuple[list[float], list[float]]:
        return x.mean(0).tolist(), x.std(0).clamp_min(floor).tolist()

    twist_mean, twist_std = stats(windows.twists, 0.05)
    action_mean, action_std = stats(commands, 0.05)
    delta_mean, delta_std = stats(residual, 5e-3)
    return Normalisation(twist_mean, twist_std, action_mean, action_std, delta_mean, delta_std)


def window_sampling_weights(windows: WindowSet, rest_start_weight: float) -> torch.Tensor | None:
    """Per-window sampling weights, or None for uniform sampling (``rest_start_weight`` 1)."""
    if rest_start_weight == 1.0 or len(windows) == 0:
        return None
    if rest_start_weight <= 0:
        raise ValueError(f"rest_start_weight must be positive; got {rest_start_weight}")
    at_rest = (windows.twists[windows.starts, 0].abs() < 0.05) & (
        windows.commands[windows.starts, 0] > 0.05
    )
    free = windows.contacts[windows.starts] < 0.5  # not already pressed against something
    return torch.where(at_rest & free, rest_start_weight, 1.0).double()


def jitter_twists(
    twist_b2: torch.Tensor, std_v: float, std_w: float, generator: torch.Generator
) -> torch.Tensor:
    """Measured (v, w) plus Gaussian noise of std (``std_v`` m/s, ``std_w`` rad/s); unchanged when
    both are 0."""
    if std_v <= 0 and std_w <= 0:
        return twist_b2
    noise = torch.randn(twist_b2.shape, generator=generator, dtype=twist_b2.dtype)
    return twist_b2 + noise * torch.tensor([std_v, std_w], dtype=twist_b2.dtype)


def shift_images(
    images_bss3: torch.Tensor, max_shift: int, generator: torch.Generator
) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels with edge padding (DrQ), per image."""
    if max_shift <= 0:
        return images_bss3
    batch, size = images_bss3.shape[0], images_bss3.shape[1]
    padded = F.pad(images_bss3.permute(0, 3, 1, 2).float(), (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (batch, 2), generator=generator)
    rows = offsets[:, 0, None] + torch.arange(size)  # [B, S]
    cols = offsets[:, 1, None] + torch.arange(size)
    batch_index = torch.arange(batch)[:, None, None]
    shifted = padded.permute(0, 2, 3, 1)[batch_index, rows[:, :, None], cols[:, None, :]]
    return shifted.round().to(torch.uint8)


def compute_losses(
    model: LatentDynamicsModel,
    batch: WindowBatch,
    config: TrainConfig,
    images_bss3: torch.Tensor | None = None,
    twist_b2: torch.Tensor | None = None,
    mirrored_b: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total weighted loss and its parts (floats, plus the window ADE at the horizon in metres).

    ``images_bss3`` / ``twist_b2`` replace the batch's encoder inputs (augmented copies).
    ``mirrored_b``: windows mirrored left-right (training/mirror.py), left out of the terms
    that compare odometry-frame poses with a map or costmap.
    """
    mirrored = (
        mirrored_b
        if mirrored_b is not None
        else torch.zeros(batch.actions_bh2.shape[0], dtype=torch.bool)
    )
    if bool(mirrored.any()) and batch.arena is not None:  # mirrored poses match no map
        batch = dataclasses.replace(
            batch, arena=dataclasses.replace(batch.arena, known_b=batch.arena.known_b & ~mirrored)
        )
    device = model.delta_std.device
    mc = config.model
    images = (images_bss3 if images_bss3 is not None else batch.images_bss3).to(device)
    actions = batch.actions_bh2.to(device)
    z0 = model.encode(images, (twist_b2 if twist_b2 is not None else batch.twist_b2).to(device))
    imagined = model.imagine(
        z0, actions, keep_latents=config.loss.consistency > 0 and bool(config.consistency_steps)
    )

    target_residual = batch.deltas_bh3.to(device)
    if mc.kinematic_prior:
        target_residual = target_residual - kinematic_body_delta(actions, mc.dt_s)
    target_residual = (target_residual - model.delta_mean) / model.delta_std
    loss_delta = F.smooth_l1_loss(imagined.delta_residual_norm_bh3, target_residual)

    rel_true = batch.rel_poses_bh3.to(device)
    rel_pred = compose_body_deltas(torch.zeros(3, device=device), imagined.deltas_bh3)
    pos_err2 = (rel_pred[..., :2] - rel_true[..., :2]).pow(2).sum(-1)
    pos_err = torch.sqrt(pos_err2 + 1e-8)
    yaw_err = wrap_angle(rel_pred[..., 2] - rel_true[..., 2])
    loss_pose = pos_err.mean() / config.pose_scale_m + yaw_err.abs().mean() / config.yaw_scale_rad

    twist_target = (batch.twists_bh2.to(device) - model.twist_mean) / model.twist_std
    loss_twist = F.mse_loss(imagined.twists_norm_bh2, twist_target)

    known = batch.contact_known_b.to(device)
    if bool(known.any()):
        logits = imagined.collision_logit_bh[known]
        labels = batch.contacts_bh.to(device)[known]
        pos_weight = torch.tensor(config.collision_pos_weight, device=device)
        loss_collision = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)
    else:
        loss_collision = torch.zeros((), device=device)

    pos_var, yaw_var = imagined.position_var_bh, imagined.yaw_var_bh
    nll = (torch.log(pos_var) + pos_err2.detach() / (2 * pos_var)).mean() + (
        0.5 * torch.log(yaw_var) + yaw_err.detach().pow(2) / (2 * yaw_var)
    ).mean()

    if imagined.latents_bhd is not None and batch.future_images_bkss3 is not None:
        ks = torch.as_tensor(config.consistency_steps, dtype=torch.long, device=device)
        future = batch.future_images_bkss3.to(device)
        future_twists = batch.future_twists_bk2
        assert future_twists is not None  # comes with future_images_bkss3
        b, k = future.shape[:2]
        with torch.no_grad():
            target_z = model.encode(
                future.reshape(b * k, *future.shape[2:]),
                future_twists.to(device).reshape(b * k, 2),
            ).reshape(b, k, -1)
        loss_consistency = F.mse_loss(imagined.latents_bhd[:, ks - 1], target_z)
    else:
        loss_consistency = torch.zeros((), device=device)

    arena = batch.arena
    if config.loss.footprint > 0 and arena is not None and bool(arena.known_b.any()):
        # Physically impossible predictions are penalised where the map is known: the footprint
        # of each predicted pose (odom frame) must not overlap an obstacle or wall.
        known_map = arena.known_b.to(device)
        poses_odom = compose_body_deltas(batch.start_pose_b3.to(device), imagined.deltas_bh3)
        clearance = _arena_to(arena, device).clearance(poses_odom[..., :2])
        overlap = (-clearance - config.footprint_tolerance_m).clamp_min(0.0)[known_map]
        loss_footprint = overlap.mean() / config.pose_scale_m
    else:
        loss_footprint = torch.zeros((), device=device)
    if config.loss.footprint > 0 and batch.costmap is not None:
        # No map: the costmap derived from the robot's experience (core/training/costmap_loss.py)
        rows = ~mirrored if arena is None else ~(arena.known_b | mirrored)
        if bool(rows.any()):
            poses_odom = compose_body_deltas(batch.start_pose_b3.to(device), imagined.deltas_bh3)
            penalty = batch.costmap.penalty(
                poses_odom[rows.to(device)][..., :2],
                batch.episode_b[rows],
                config.footprint_tolerance_m,
            )
            loss_footprint = loss_footprint + penalty / config.pose_scale_m

    loss_imagined = torch.zeros((), device=device)
    if config.loss.costmap_collision > 0 and batch.costmap is not None:
        loss_imagined = imagined_collision_loss(model, z0, batch, config, device, mirrored)

    w = config.loss
    total = (
        w.delta * loss_delta
        + w.pose * loss_pose
        + w.twist * loss_twist
        + w.collision * loss_collision
        + w.nll * nll
        + w.consistency * loss_consistency
        + w.footprint * loss_footprint
        + w.costmap_collision * loss_imagined
    )
    parts = {
        "loss": total.item(),
        "delta": loss_delta.item(),
        "pose": loss_pose.item(),
        "twist": loss_twist.item(),
        "collision": loss_collision.item(),
        "nll": nll.item(),
        "consistency": loss_consistency.item(),
        "footprint": loss_footprint.item(),
        "imagined_collision": loss_imagined.item(),
        "ade_m": float(pos_err.detach().mean()),
        "fde_m": float(pos_err.detach()[:, -1].mean()),
    }
    return total, parts


def imagined_collision_loss(
    model: LatentDynamicsModel,
    z0: torch.Tensor,
    batch: WindowBatch,
    config: TrainConfig,
    device: torch.device,
    mirrored_b: torch.Tensor,
) -> torch.Tensor:
    """The collision head under command sequences the robot did not drive (another window's,
    from this window's frame), labelled where the model's own predicted path meets the derived
    costmap: far more near misses and hits than the recorded drives hold."""
    batch_size, costmap = z0.shape[0], batch.costmap
    if batch_size < 2 or costmap is None:
        return torch.zeros((), device=device)
    pos_weight = torch.tensor(config.collision_pos_weight, device=device)
    losses = []
    for shift in range(1, 1 + max(1, min(config.imagined_sequences, batch_size - 1))):
        other = torch.roll(torch.arange(batch_size), shift)
        imagined = model.imagine(z0, batch.actions_bh2[other].to(device))
        with torch.no_grad():
            poses = compose_body_deltas(batch.start_pose_b3.to(device), imagined.deltas_bh3)
            labels, mask = imagined_collision_labels(
                costmap, poses, batch.episode_b, exclude_b=mirrored_b
            )
        if bool(mask.any()):
            losses.append(
                F.binary_cross_entropy_with_logits(
                    imagined.collision_logit_bh[mask], labels[mask], pos_weight=pos_weight
                )
            )
    return torch.stack(losses).mean() if losses else torch.zeros((), device=device)


def _arena_to(arena: ArenaTensors, device: torch.device) -> ArenaTensors:
    return ArenaTensors(*(getattr(arena, f.name).to(device) for f in fields(ArenaTensors)))


def supervised_score(parts: dict[str, float], config: TrainConfig) -> float:
    """What picks the best checkpoint on validation: the supervised terms (no consistency/NLL,
    which can be lowered without predicting better)."""
    w = config.loss
    collision = (
        w.collision
        if config.selection_collision_weight is None
        else config.selection_collision_weight
    )
    return (
        w.delta * parts["delta"]
        + w.pose * parts["pose"]
        + w.twist * parts["twist"]
        + collision * parts["collision"]
    )


@torch.no_grad()
def validate(
    model: LatentDynamicsModel,
    windows: WindowSet,
    config: TrainConfig,
    dist: DistContext | None = None,
) -> dict[str, float]:
    """Mean loss parts over a fixed, evenly spaced subset of validation windows (shared out
    over the ranks under torchrun)."""
    dist = dist or DistContext()
    model.eval()
    count = min(len(windows), config.validation_windows)
    index = torch.linspace(0, len(windows) - 1, count).round().long().unique()
    index = index[dist.rank :: dist.world_size]
    totals: dict[str, float] = {}
    seen = 0
    for chunk in index.split(256):
        _, parts = compute_losses(model, windows.gather(chunk, config.consistency_steps), config)
        for name, value in parts.items():
            totals[name] = totals.get(name, 0.0) + value * len(chunk)
        seen += len(chunk)
    totals, seen = ddp.sum_totals(totals, seen, dist)
    model.train()
    out = {name: value / seen for name, value in totals.items()}
    out["score"] = supervised_score(out, config)
    return out


def learning_rate(config: TrainConfig, progress: float, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_learning_rate_fraction`` as progress goes 0 ->
    1."""
    warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
    floor = config.min_learning_rate_fraction
    return (
        config.learning_rate
        * warm
        * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
    )


@dataclass
class TrainResult:
    steps: int
    minutes: float
    best_step: int
    best_validation: dict[str, float]
    last_train: dict[str, float]
    stopped_by: str  # "steps" or "time"
    history: list[dict[str, float]]
    model: LatentDynamicsModel | None = None  # the last weights (this rank's, under torchrun)


def train(
    train_windows: WindowSet | StreamingWindows,
    val_windows: WindowSet | None,
    config: TrainConfig,
    out_dir: str | Path,
    device: torch.device,
    data_info: dict[str, Any] | None = None,
    init_model: LatentDynamicsModel | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    dist: DistContext | None = None,
) -> TrainResult:
    """Train, validate every ``validate_every`` steps, keep the best checkpoint in ``out_dir``.

    ``out_dir`` ends up holding the best model as a checkpoint (config.json + model.safetensors)
    and ``train_state.pt`` (last weights, optimiser, step, RNG) for ``resume``. ``init_model``
    fine-tunes an existing model: its weights and normalisation are the starting point.
    Ctrl-C (KeyboardInterrupt, also from ``on_step``) saves train_state.pt before it propagates,
    so ``resume`` continues exactly where the run stopped.

    ``train_windows`` is all episodes in memory (a WindowSet) or a stream from a sharded
    dataset (core/data/streaming.py). Under torchrun (``dist``, core/training/distributed.py)
    every rank calls this; rank 0 writes the files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(train_windows) == 0:
        raise ValueError(
            f"no training windows: every episode is shorter than horizon + 1 = "
            f"{config.model.horizon + 1} steps"
        )
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    dist = dist or DistContext()
    generator = torch.Generator().manual_seed(ddp.rank_seed(config.seed, dist.rank))
    stream = None if isinstance(train_windows, WindowSet) else train_windows
    rank_batch = dist.per_rank_batch(config.batch_size)
    if not dist.is_main:
        progress, log = False, lambda text: None

    if init_model is not None:
        model = LatentDynamicsModel(config.model, init_model.normalisation())
        model.load_state_dict(init_model.state_dict())
    else:
        model = LatentDynamicsModel(
            config.model,
            compute_normalisation(
                cast(WindowSet, train_windows) if stream is None else stream.normalisation_set(),
                config.model,
            ),
        )
    model.to(device).train()
    for name, parameter in model.named_parameters():
        if config.freeze and name.startswith(tuple(config.freeze)):
            parameter.requires_grad_(False)
    loss_fn = ddp.wrap_loss(
        model, lambda m, batch, *rest: compute_losses(m, batch, config, *rest), dist
    )
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )

    step, elapsed_before, best_score, best_step = 0, 0.0, math.inf, -1
    best_validation: dict[str, float] = {}
    history: list[dict[str, float]] = []
    state_path = out_dir / TRAIN_STATE_NAME
    if resume:
        if not state_path.is_file():
            raise FileNotFoundError(f"--resume: no {TRAIN_STATE_NAME} in {out_dir}")
        state = torch.load(state_path, map_location=device, weights_only=True)
        if state["config"] != config.to_dict():
            raise ValueError(
                f"--resume: {state_path} was written with a different training config; "
                "resume with the same config (or start a new output folder)"
            )
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        ddp.restore_rank_state(state, dist, generator, stream, config.seed, log)
        step, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        best_score, best_step = float(state["best_score"]), int(state["best_step"])
        best_validation, history = dict(state["best_validation"]), list(state["history"])
        log(f"resuming from step {step} ({elapsed_before / 60:.1f} min already spent)")

    training_info = {"config": config.to_dict(), "data": data_info or {}, "device": str(device)}

    def save_state(collective: bool = True) -> None:
        ranks = (
            ddp.gather(ddp.rank_state(generator, stream), dist)
            if collective
            else [ddp.rank_state(generator, stream)]
        )
        if not dist.is_main:
            return
        torch.save(
            {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "generator": ranks[0]["generator"],
                "torch_rng": ranks[0]["torch_rng"],
                "world_size": dist.world_size,
                "ranks": ranks,
                "step": step,
                "elapsed_s": elapsed_before + time.monotonic() - start,
                "best_score": best_score,
                "best_step": best_step,
                "best_validation": best_validation,
                "history": history,
                "config": config.to_dict(),
            },
            state_path,
        )

    def save_best(validation: dict[str, float]) -> None:
        info = dict(
            training_info,
            steps=step,
            minutes=round((elapsed_before + time.monotonic() - start) / 60, 2),
            validation=validation,
            best_step=step,
        )
        if dist.is_main:
            save_checkpoint(out_dir, model, training=info)

    def validate_and_keep() -> None:
        nonlocal best_score, best_step, best_validation
        record = {"step": step, **{f"train_{k}": v for k, v in parts.items()}}
        if val_windows is not None and len(val_windows):
            validation = validate(model, val_windows, config, dist)
            record.update({f"val_{k}": v for k, v in validation.items()})
            if validation["score"] < best_score:
                best_score, best_step, best_validation = validation["score"], step, validation
                save_best(validation)
        else:  # no validation set: the latest model is the one kept
            best_step, best_validation = step, {}
            save_best({})
        history.append(record)
        save_state()

    sampling_weights = (  # a stream applies the weights itself, record by record
        None
        if stream
        else window_sampling_weights(cast(WindowSet, train_windows), config.rest_start_weight)
    )
    if sampling_weights is not None:
        log(
            "windows starting at rest, free, under a forward command: "
            f"{int((sampling_weights > 1).sum())} of "
            f"{len(train_windows)}, drawn {config.rest_start_weight:g}x as often"
        )
    start = time.monotonic()
    budget_s = config.max_minutes * 60.0
    stopped_by = "steps"
    parts: dict[str, float] = {}
    bar = tqdm(
        total=config.steps, initial=step, disable=not progress, dynamic_ncols=True, desc="train"
    )
    try:
        while step < config.steps:
            elapsed = elapsed_before + time.monotonic() - start
            progress_fraction = step / config.steps
            if budget_s > 0:
                elapsed = ddp.agree_max(elapsed, dist)  # all ranks stop at the same step
                if elapsed >= budget_s:
                    stopped_by = "time"
                    break
                progress_fraction = max(progress_fraction, elapsed / budget_s)
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(config, progress_fraction, step)
            if stream is not None:
                batch = stream.next_batch()
            else:
                index = (
                    torch.randint(0, len(train_windows), (rank_batch,), generator=generator)
                    if sampling_weights is None
                    else torch.multinomial(
                        sampling_weights, rank_batch, replacement=True, generator=generator
                    )
                )
                batch = cast(WindowSet, train_windows).gather(index, config.consistency_steps)
            batch, mirrored = mirror_batch(batch, config.mirror_probability, generator)
            images = (
                shift_images(batch.images_bss3, config.augment_shift_px, generator)
                if config.model.use_camera
                else None
            )
            twists = jitter_twists(
                batch.twist_b2, config.twist_noise_v_mps, config.twist_noise_w_radps, generator
            )
            loss, parts = loss_fn(batch, images, twists, mirrored)
            parts = ddp.average_parts(parts, dist)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimiser.step()
            step += 1
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(
                    loss=f"{parts['loss']:.3f}",
                    ade=f"{parts['ade_m']:.3f}",
                    col=f"{parts['collision']:.3f}",
                    val=f"{best_validation.get('ade_m', float('nan')):.3f}",
                )
            if step % config.validate_every == 0 or step == config.steps:
                validate_and_keep()
            if on_step is not None:
                on_step(step, parts)
    except KeyboardInterrupt:
        bar.close()
        if not history or history[-1]["step"] != step:  # else saved (by every rank) just now
            save_state(collective=False)  # the other ranks may be gone
        log(f"interrupted at step {step}: state saved in {state_path} (continue with resume)")
        raise
    bar.close()
    if (
        not history or history[-1]["step"] != step
    ):  # stopped by the time budget between validations
        validate_and_keep()
    save_state()
    minutes = (elapsed_before + time.monotonic() - start) / 60
    return TrainResult(
        steps=step,
        minutes=minutes,
        best_step=best_step,
        best_validation=best_validation,
        last_train=parts,
        stopped_by=stopped_by,
        history=history,
        model=model,
    )
