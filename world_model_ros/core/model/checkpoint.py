"""Checkpoints of the latent world model: a folder with ``config.json`` + ``model.safetensors``.

config.json holds everything needed to rebuild and judge the model: the format and its
version, the architecture (:class:`LatentModelConfig`: image size, dt, horizon, widths), the
normalisation statistics, the SHA-256 of the weights file, what data it was trained on
(bags, layout seeds, steps, minutes, seed, command), the code version and, once ``eval`` has
run with ``--record``, its evaluation figures.

Loading checks all of it; every failure is a :class:`CheckpointError` naming the file and the
problem (missing, unreadable, corrupt, written by another format version, shapes that do not
match the architecture). Never a silent fall-back to another model.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .checkpoint_robot import robot_of
from .latent_model import LatentDynamicsModel, LatentModelConfig, Normalisation
from .latent_predictor import LatentPredictor
from .occupancy_head import OccupancyHead, OccupancyHeadConfig

FORMAT = "world_model_ros/latent-world-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
OCCUPANCY_NAME = (
    "occupancy.safetensors"  # the optional occupancy head (core/model/occupancy_head.py)
)
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "default"
NO_CAMERA_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "no_camera"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used. ``path`` is the offending file, ``problem`` a short key
    ("missing", "corrupt", "format", "mismatch") for callers that count or test them."""

    def __init__(self, path: Path | str, problem: str, detail: str):
        super().__init__(f"checkpoint {path}: {detail}")
        self.path = Path(path)
        self.problem = problem


def code_version() -> str:
    """git commit of the source tree (with '-dirty' when it has local changes), else the package
    version."""
    from ... import __version__

    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "world_model_ros/core",
            ],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return f"{__version__}+g{commit}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(
    folder: str | Path,
    model: LatentDynamicsModel,
    training: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_NAME
    tensors = {
        name: tensor.detach().to("cpu", torch.float32).contiguous()
        for name, tensor in model.state_dict().items()
    }
    temporary = weights.with_suffix(".tmp")
    save_file(
        tensors, str(temporary), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)}
    )
    temporary.chmod(0o644)  # safetensors writes 0600; a shipped checkpoint must be readable by all
    temporary.replace(weights)  # never leave a half-written weights file under the real name
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": "TD-MPC-style latent dynamics (conv encoder, residual MLP transition, "
        "heteroscedastic heads)",
        "model": model.config.to_dict(),
        "normalisation": vars(model.normalisation()),
        "weights_sha256": sha256_of(weights),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "code_version": code_version(),
        "training": training or {},
        "evaluation": evaluation,
    }
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    return folder


def update_config(folder: str | Path, **sections: Any) -> None:
    """Set top-level sections of an existing checkpoint's config.json (e.g. ``evaluation``);
    the weights and everything the loader checks stay untouched."""
    config_path = Path(folder) / CONFIG_NAME
    config = read_config(config_path)
    protected = {"format", "format_version", "model", "normalisation", "weights_sha256"} & set(
        sections
    )
    if protected:
        raise ValueError(f"update_config may not change {', '.join(sorted(protected))}")
    config.update(sections)
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def read_config(config_path: Path) -> dict[str, Any]:
    if not config_path.is_file():
        raise CheckpointError(config_path, "missing", "config.json not found")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            config_path, "corrupt", f"cannot parse config.json: {error}"
        ) from error
    if not isinstance(config, dict):
        raise CheckpointError(
            config_path,
            "corrupt",
            f"config.json must hold an object, found {type(config).__name__}",
        )
    return config


def _resolve_folder(path: str | Path | None) -> Path:
    folder = DEFAULT_CHECKPOINT if path in (None, "") else Path(path).expanduser()
    if folder.is_file() and folder.name in (CONFIG_NAME, WEIGHTS_NAME):
        folder = folder.parent  # accept a path to either file of the checkpoint
    if not folder.exists():
        raise CheckpointError(folder, "missing", "no such checkpoint folder")
    if not folder.is_dir():
        raise CheckpointError(
            folder,
            "missing",
            f"not a checkpoint folder (expected a folder with {CONFIG_NAME} and {WEIGHTS_NAME})",
        )
    return folder


def load_checkpoint(
    path: str | Path | None, allow_unverified: bool = False
) -> tuple[LatentDynamicsModel, dict[str, Any]]:
    """Rebuild the model from a checkpoint folder (None: the shipped default), checking
    everything. A config.json without ``weights_sha256`` is refused (its weights could have
    been replaced unnoticed) unless ``allow_unverified``."""
    folder = _resolve_folder(path)
    config_path = folder / CONFIG_NAME
    config = read_config(config_path)
    if config.get("format") != FORMAT:
        raise CheckpointError(
            config_path, "format", f"format is {config.get('format')!r}, expected {FORMAT!r}"
        )
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise CheckpointError(
            config_path,
            "format",
            f"format_version {version!r} but this code reads version "
            f"{FORMAT_VERSION}" + (" (written by a newer world_model_ros)" if newer else ""),
        )
    try:
        model_config = LatentModelConfig.from_dict(dict(config["model"]))
        normalisation = Normalisation(**config["normalisation"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            config_path, "mismatch", f"invalid model/normalisation section: {error}"
        ) from error

    weights_path = folder / WEIGHTS_NAME
    if not weights_path.is_file():
        raise CheckpointError(weights_path, "missing", f"{WEIGHTS_NAME} not found")
    expected_sha = config.get("weights_sha256")
    if not expected_sha and not allow_unverified:
        raise CheckpointError(
            config_path,
            "unverified",
            "config.json has no weights_sha256, so the weights cannot be checked; add it "
            "(sha256 of model.safetensors) or allow unverified weights explicitly "
            "(parameter allow_unverified_weights, or --allow-unverified-weights)",
        )
    if expected_sha and sha256_of(weights_path) != expected_sha:
        raise CheckpointError(
            weights_path,
            "corrupt",
            "SHA-256 of the weights does not match config.json "
            "(file damaged, or weights and config from different checkpoints)",
        )
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            weights_path, "corrupt", f"cannot read safetensors: {error}"
        ) from error

    model = LatentDynamicsModel(model_config, normalisation)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            weights_path,
            "mismatch",
            "weights do not match the architecture in config.json: "
            f"missing {_names(missing)}, unexpected {_names(unexpected)}",
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                weights_path,
                "mismatch",
                f"tensor '{name}' has shape {tuple(tensor.shape)}, the "
                f"architecture in config.json needs {tuple(expected[name].shape)}",
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(weights_path, "corrupt", f"tensor '{name}' holds NaN or inf")
    model.load_state_dict(tensors)
    stored_norm = vars(model.normalisation())
    for name, values in vars(normalisation).items():  # buffers and config.json must agree
        if not all(
            math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
            for a, b in zip(values, stored_norm[name], strict=False)
        ):
            raise CheckpointError(
                config_path,
                "mismatch",
                f"normalisation '{name}' in config.json {values} differs "
                f"from the weights file {stored_norm[name]}",
            )
    return model, config


def save_occupancy_head(
    folder: str | Path, head: OccupancyHead, training: dict[str, Any] | None = None
) -> Path:
    """Add (or replace) the occupancy head of an existing checkpoint: ``occupancy.safetensors``
    and the ``occupancy`` section of its config.json. The world model's weights are untouched."""
    folder = _resolve_folder(folder)
    config = read_config(folder / CONFIG_NAME)
    latent_dim = int(config.get("model", {}).get("latent_dim", -1))
    if head.config.latent_dim != latent_dim:
        raise ValueError(
            f"the head reads latent_dim {head.config.latent_dim}; {folder} has {latent_dim}"
        )
    weights = folder / OCCUPANCY_NAME
    temporary = weights.with_suffix(".tmp")
    tensors = {
        name: tensor.detach().to("cpu", torch.float32).contiguous()
        for name, tensor in head.state_dict().items()
    }
    save_file(tensors, str(temporary), metadata={"format": FORMAT, "part": "occupancy"})
    temporary.chmod(0o644)
    temporary.replace(weights)
    update_config(
        folder,
        occupancy={
            "model": head.config.to_dict(),
            "weights_sha256": sha256_of(weights),
            "parameters": int(sum(p.numel() for p in head.parameters())),
            "code_version": code_version(),
            "training": training or {},
        },
    )
    return weights


def load_occupancy_head(
    folder: Path, config: dict[str, Any], latent_dim: int
) -> OccupancyHead | None:
    """The checkpoint's occupancy head, checked like the model's weights; None when it has none."""
    section = config.get("occupancy")
    if section is None:
        return None
    config_path = folder / CONFIG_NAME
    try:
        head_config = OccupancyHeadConfig(**dict(section["model"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            config_path, "mismatch", f"invalid occupancy section: {error}"
        ) from error
    if head_config.latent_dim != latent_dim:
        raise CheckpointError(
            config_path,
            "mismatch",
            f"the occupancy head reads latent_dim {head_config.latent_dim}, "
            f"the model has {latent_dim}",
        )
    weights_path = folder / OCCUPANCY_NAME
    if not weights_path.is_file():
        raise CheckpointError(
            weights_path,
            "missing",
            f"config.json names an occupancy head but {OCCUPANCY_NAME} is not there",
        )
    if sha256_of(weights_path) != section.get("weights_sha256"):
        raise CheckpointError(
            weights_path, "corrupt", "SHA-256 of the occupancy head does not match config.json"
        )
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            weights_path, "corrupt", f"cannot read safetensors: {error}"
        ) from error
    head = OccupancyHead(head_config)
    expected = head.state_dict()
    if set(tensors) != set(expected) or any(
        tuple(t.shape) != tuple(expected[n].shape) for n, t in tensors.items()
    ):
        raise CheckpointError(
            weights_path,
            "mismatch",
            "occupancy head weights do not match its section in config.json",
        )
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise CheckpointError(weights_path, "corrupt", "the occupancy head holds NaN or inf")
    head.load_state_dict(tensors)
    return head.eval()


def _names(names: list[str], limit: int = 4) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_latent_model(
    path: str | Path | None,
    device: torch.device,
    horizon: int = 20,
    allow_unverified: bool = False,
    rollout_engine: str = "auto",
) -> LatentPredictor:
    """The predictor behind ``model: latent`` (core/model/registry.py): path None = the shipped
    checkpoint; ``rollout_engine`` as in :class:`LatentPredictor`."""
    model, config = load_checkpoint(path, allow_unverified)
    folder = _resolve_folder(path)
    name = "default" if path in (None, "") else folder.name
    head = load_occupancy_head(folder, config, model.config.latent_dim)
    try:
        robot = robot_of(config)
    except ValueError as error:
        raise CheckpointError(folder / CONFIG_NAME, "mismatch", str(error)) from error
    return LatentPredictor(
        model,
        torch.device(device),
        horizon=horizon,
        model_id=f"latent:{name}",
        occupancy_head=head,
        # Verified against config.json when it names one; hashed here when it does not.
        weights_sha256=config.get("weights_sha256") or sha256_of(folder / WEIGHTS_NAME),
        rollout_engine=rollout_engine,
        camera=robot.camera,
        footprint=robot.footprint,
        limits=robot.limits,
    )
