"""Training the latent world model: the loop, validation and the best checkpoint.

Each step draws a batch of windows (sampling.py: weights, image shift, twist noise; mirror.py),
scores it with the multi-step open-loop losses (losses.py), and steps AdamW under a warm-up +
cosine learning rate. Every ``validate_every`` steps the supervised terms on the validation
windows pick the best checkpoint (of the weights' moving average with ``ema_decay``,
weight_average.py); ``train_state.pt`` keeps what ``resume`` needs.

Everything that matters is in :class:`~.train_config.TrainConfig` (loaded from
config/train.yaml). With a fixed seed, training is deterministic on CPU unless its steps do not
fit its time budget (then the schedule follows the clock, pace.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from tqdm import tqdm

from ..data.windows import WindowSet
from ..model.checkpoint import save_checkpoint
from ..model.latent_model import (
    LatentDynamicsModel,
    LatentModelConfig,
    Normalisation,
    kinematic_body_delta,
)
from . import distributed as ddp
from .distributed import DistContext
from .losses import compute_losses
from .mirror import mirror_batch
from .pace import Pace
from .sampling import jitter_twists, shift_images, window_sampling_weights
from .train_config import TrainConfig
from .weight_average import kept_model, weight_average

if TYPE_CHECKING:
    from ..data.streaming import StreamingWindows

TRAIN_STATE_NAME = "train_state.pt"


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
    # the last weights (their average with ema_decay; this rank's, under torchrun)
    model: LatentDynamicsModel | None = None


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
        missing, unexpected = model.load_state_dict(init_model.state_dict(), strict=False)
        new = [name for name in missing if not name.startswith(("history_in.", "scan_in."))]
        if new or unexpected:  # only inputs (history, scan) may be added to the starting model
            raise ValueError(
                f"the starting checkpoint does not fit this model: missing {new}, "
                f"unexpected {unexpected}"
            )
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

    average = weight_average(model, config.ema_decay)
    kept = kept_model(model, average)
    step, elapsed_before, best_score, best_step = 0, 0.0, math.inf, -1
    pace = Pace(config.steps, config.max_minutes * 60.0)
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
        if average is not None:  # the config check above makes the state hold one
            average.load_state_dict(state["average"])
        ddp.restore_rank_state(state, dist, generator, stream, config.seed, log)
        step, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        best_score, best_step = float(state["best_score"]), int(state["best_step"])
        best_validation, history = dict(state["best_validation"]), list(state["history"])
        pace.clock_bound = state.get("clock_bound")
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
                "average": None if average is None else average.state_dict(),
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
                "clock_bound": pace.clock_bound,
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
            save_checkpoint(out_dir, kept, training=info)

    def validate_and_keep() -> None:
        nonlocal best_score, best_step, best_validation
        record = {"step": step, **{f"train_{k}": v for k, v in parts.items()}}
        if val_windows is not None and len(val_windows):
            validation = validate(kept, val_windows, config, dist)
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
    budget_s = pace.budget_s
    stopped_by = "steps"
    parts: dict[str, float] = {}
    bar = tqdm(
        total=config.steps, initial=step, disable=not progress, dynamic_ncols=True, desc="train"
    )
    try:
        while step < config.steps:
            elapsed = elapsed_before + time.monotonic() - start
            if budget_s > 0:
                elapsed = ddp.agree_max(elapsed, dist)  # all ranks stop at the same step
                if elapsed >= budget_s:
                    stopped_by = "time"
                    break
            progress_fraction = pace.progress(step, elapsed, log)
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
            if average is not None:
                average.update_parameters(model)
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
        model=kept,
    )
