"""Every way the running twin can encode an observation, for tests that compare them with
training: the predictor itself, the fast path, and onnxruntime when it is installed."""

from __future__ import annotations

from world_model_ros.core.model.fast_path import FastPathConfig, InferenceEngine
from world_model_ros.core.model.latent_predictor import LatentPredictor


def runtime_engines(predictor: LatentPredictor) -> dict[str, object]:
    engines: dict[str, object] = {
        "predictor": predictor,
        "fast path": InferenceEngine(predictor, FastPathConfig(), horizon=1),
    }
    try:
        from world_model_ros.core.model.onnx_backend import OnnxEngine

        engines["onnx"] = OnnxEngine(predictor, horizon=1)
    except ImportError:  # onnxruntime not installed: the torch paths are still compared
        pass
    return engines
