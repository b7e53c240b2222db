"""The training run's settings: :class:`TrainConfig` (config/train.yaml) and the loss weights.

Apart from the loop (trainer.py) and the losses (losses.py) because both read it, and so do
the CLI verbs that load, override and record it (train, adapt): a module of plain dataclasses
that any of them imports without pulling in the other. Unknown keys and wrong types in the
YAML are an error that names the key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import check_plain_mapping
from ..model.latent_model import LatentModelConfig


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
    max_minutes: float = 0.0  # wall-clock budget; 0 = none. Binds the LR schedule when the
    # steps will not fit it (core/training/pace.py)
    # Parameter-name prefixes kept fixed (fine-tuning on little data: e.g. "image_encoder")
    freeze: tuple[str, ...] = ()
    # Validate and keep an exponential moving average of the weights, this much of the old
    # average per step (core/training/weight_average.py; 0 = the last step's weights). adapt
    # uses 0.998: about the last 500 steps
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(
                f"steps, batch_size and learning_rate must be positive; got {self.steps}, "
                f"{self.batch_size}, {self.learning_rate}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); got {self.ema_decay}")
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
