"""Choosing and loading a predictor by name: the one place the node, planner, demo and eval ask.

Choice is always explicit: a checkpoint that cannot be loaded is an error naming the file,
never a silent swap to the kinematic model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .contract import WorldModel
from .kinematic import KinematicConfig, KinematicPredictor

MODEL_KINDS = ("latent", "kinematic")


@dataclass(frozen=True)
class ModelSpec:
    kind: str = "kinematic"  # "latent" (learned, from a checkpoint) or "kinematic" (baseline)
    checkpoint: str = (
        ""  # latent only: checkpoint folder; "" = the checkpoint shipped with the package
    )
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:N"
    dt_s: float = 0.1  # kinematic only; a learned model's dt comes from its checkpoint
    horizon: int = 20
    allow_unverified: bool = False  # latent only: load weights config.json has no SHA-256 for
    rollout_engine: str = "auto"  # latent only: auto | onnxruntime | torch (LatentPredictor)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available else CPU; an unavailable CUDA request is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' requested but CUDA is not available on this machine")
    return device


def load_world_model(spec: ModelSpec) -> WorldModel:
    if spec.kind == "kinematic":
        return KinematicPredictor(
            KinematicConfig(dt_s=spec.dt_s, horizon=spec.horizon), resolve_device(spec.device)
        )
    if spec.kind == "latent":
        from .checkpoint import load_latent_model  # the learned model (issue: latent world model)

        return load_latent_model(
            spec.checkpoint or None,
            resolve_device(spec.device),
            horizon=spec.horizon,
            allow_unverified=spec.allow_unverified,
            rollout_engine=spec.rollout_engine,
        )
    raise ValueError(f"unknown model kind '{spec.kind}' (choose one of {', '.join(MODEL_KINDS)})")
