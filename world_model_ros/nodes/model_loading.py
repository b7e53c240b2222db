"""Loading one predictor for the node's hot path: build the model from the registry, wrap it in
the inference engine the ``backend`` parameter asks for (torch or onnxruntime), warm it up, and
fall back to the CPU only when ``device_fallback: cpu`` says so. A failure is a
``ModelLoadError`` naming the model, the checkpoint and the cause, never a silent swap.
No rclpy here: the node passes in a log function."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from world_model_ros.core.model.contract import EncoderInputs, WorldModel
from world_model_ros.core.model.fast_path import FastPathConfig, InferenceEngine
from world_model_ros.core.model.registry import ModelSpec, load_world_model
from world_model_ros.nodes.world_model_config import WorldModelNodeConfig


class ModelLoadError(RuntimeError):
    """The chosen model could not be loaded; the message names the model, checkpoint and cause."""


def _is_device_problem(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "CUDA" in text or "cuda" in text


@dataclass
class LoadedModel:
    """One predictor ready for the hot path, and how it came to be."""

    model: WorldModel
    # InferenceEngine or onnx_backend.OnnxEngine (same encode/set_actions/rollout/warm_up)
    engine: object
    description: str
    fallback: str = ""  # why the configured device was not used ('' = it was)
    backend: str = "torch"
    warmup_ms: float = float("nan")

    @property
    def inputs(self) -> EncoderInputs:
        """What its encoder takes besides the frame and the twist (history, LaserScan)."""
        return EncoderInputs.of(self.model)

    @property
    def max_horizon(self) -> int:
        trained = getattr(getattr(self.model, "config", None), "horizon", None)
        return int(trained) if trained else 1000


def checkpoint_sha(kind: str, checkpoint: str) -> str:
    """The weights' SHA-256 prefix from a checkpoint's config.json ('' for the kinematic model)."""
    if kind != "latent":
        return ""
    try:
        from world_model_ros.core.model.checkpoint import (
            DEFAULT_CHECKPOINT,
        )
        from world_model_ros.core.model.checkpoint import (
            read_config as read_checkpoint_config,
        )

        folder = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        return str(read_checkpoint_config(folder / "config.json").get("weights_sha256", ""))[:12]
    except Exception:  # noqa: BLE001 - informational only; the loader reports real problems
        return ""


def load_model(
    config: WorldModelNodeConfig,
    kind: str | None = None,
    checkpoint: str | None = None,
    horizon: int | None = None,
    log=None,
) -> LoadedModel:
    """Load, wrap and warm one predictor; falls back to the CPU only when ``device_fallback:
    cpu``."""
    kind = config.model if kind is None else kind
    checkpoint = config.checkpoint if checkpoint is None else checkpoint
    horizon = config.horizon if horizon is None else horizon
    fast = FastPathConfig(
        precision=config.precision,
        cuda_graphs=config.cuda_graphs,
        compile=config.compile,
        warmup_iterations=config.warmup_iterations,
    )

    def attempt(device: str) -> LoadedModel:
        spec = ModelSpec(
            kind=kind,
            checkpoint=checkpoint,
            device=device,
            dt_s=config.dt,
            horizon=horizon,
            allow_unverified=config.allow_unverified_weights,
            # backend torch means PyTorch all the way (the reference path)
            rollout_engine="torch" if config.backend == "torch" else "auto",
        )
        model = load_world_model(spec)
        engine, backend = None, "torch"
        learned_on_cpu = kind == "latent" and model.device.type == "cpu"
        if config.backend == "onnxruntime" or (config.backend == "auto" and learned_on_cpu):
            from world_model_ros.core.model.onnx_backend import OnnxEngine

            try:
                engine = OnnxEngine(
                    model,
                    horizon=horizon,
                    threads=max(1, config.torch_threads),
                    warmup_iterations=config.warmup_iterations,
                )
                backend = "onnxruntime"
            except Exception as exc:  # noqa: BLE001
                if config.backend == "onnxruntime" and kind == "latent":
                    raise RuntimeError(
                        f"backend 'onnxruntime' unusable: {type(exc).__name__}: {exc}"
                    ) from exc
                if log is not None and kind == "latent":
                    log(
                        f"backend auto: onnxruntime unusable ({type(exc).__name__}: {exc}); using "
                        "torch"
                    )
        if engine is None:
            engine = InferenceEngine(model, fast, horizon=horizon)
        loaded = LoadedModel(
            model, engine, f"{model.model_id} on {model.device} ({backend})", backend=backend
        )
        loaded.warmup_ms = engine.warm_up()
        return loaded

    where = checkpoint or "<checkpoint shipped with the package>"
    try:
        return attempt(config.device)
    except Exception as exc:
        if config.device_fallback == "cpu" and _is_device_problem(exc) and config.device != "cpu":
            reason = (
                f"device '{config.device}' unusable ({type(exc).__name__}: {exc}); fell back to "
                "the CPU "
                f"(device_fallback: cpu)"
            )
            if log is not None:
                log(reason)
            try:
                loaded = attempt("cpu")
            except Exception as cpu_exc:
                raise ModelLoadError(
                    f"cannot load world model '{kind}' (checkpoint: {where}) on the CPU either "
                    f"after {reason}: {type(cpu_exc).__name__}: {cpu_exc}"
                ) from cpu_exc
            loaded.fallback = reason
            return loaded
        hint = (
            " (set device_fallback: cpu to use the CPU instead)" if _is_device_problem(exc) else ""
        )
        raise ModelLoadError(
            f"cannot load world model '{kind}' (checkpoint: {where}, device: "
            f"{config.device}): {type(exc).__name__}: {exc}{hint}"
        ) from exc
