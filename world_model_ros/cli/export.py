"""``world-model-ros export``: a learned checkpoint as ONNX graphs (encoder + fixed-horizon
rollout).

    world-model-ros export                                   # the shipped checkpoint -> ./onnx/
    world-model-ros export --checkpoint runs/my-model --horizon 30 --output /tmp/wm-onnx

Writes ``encoder.onnx`` and ``rollout_h<H>.onnx``, checks them with onnxruntime against PyTorch
on a random input (largest absolute difference printed; an error above --tolerance fails), and
times both backends on this CPU. The node does this export itself in memory for
``backend: onnxruntime`` / ``auto``; the files are for other runtimes (TensorRT: docs/realtime.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HELP = "export a checkpoint to ONNX (encoder + rollout), verified against PyTorch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", default="", help="checkpoint folder ('' = the shipped checkpoint)"
    )
    parser.add_argument(
        "--horizon",
        type=int,
        default=0,
        help="rollout steps (0 = the checkpoint's trained horizon)",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("onnx"), help="folder for the .onnx files"
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest allowed |onnxruntime - torch|"
    )
    parser.add_argument(
        "--repeats", type=int, default=100, help="timed cycles per backend (0 = no timing)"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from world_model_ros.core.model.checkpoint import CheckpointError, load_latent_model
    from world_model_ros.core.model.contract import Observation
    from world_model_ros.core.model.fast_path import InferenceEngine
    from world_model_ros.core.model.onnx_backend import OnnxEngine, export_graphs, save_graphs

    try:
        # The reference PyTorch rollout, not the planner's fused one: what the graphs are checked
        # against (core/model/rollout_engine.py).
        predictor = load_latent_model(
            args.checkpoint or None, torch.device("cpu"), rollout_engine="torch"
        )
    except CheckpointError as exc:
        print(f"export: {exc}")
        return 2
    horizon = args.horizon or predictor.config.horizon
    if horizon < 1:
        print(f"export: --horizon must be >= 1; got {horizon}")
        return 2
    torch.set_num_threads(1)
    paths = save_graphs(export_graphs(predictor.model, horizon), args.output)

    rng = np.random.default_rng(0)
    observation = Observation(
        0.0,
        rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
        rng.normal(size=3),
        rng.normal(size=2) * 0.3,
    )
    actions = (rng.normal(size=(horizon, 2)) * 0.5).astype(np.float32)
    engines = {
        "torch": InferenceEngine(predictor, horizon=horizon),
        "onnxruntime": OnnxEngine(predictor, horizon),
    }
    outputs = {
        name: engine.rollout(engine.encode(observation), engine.set_actions(actions))
        for name, engine in engines.items()
    }
    error = max(
        float(np.abs(outputs["torch"][k] - outputs["onnxruntime"][k]).max())
        for k in outputs["torch"]
    )
    report = {
        "files": [str(p) for p in paths],
        "horizon": horizon,
        "max_abs_difference": error,
        "timing_ms": {},
    }
    for name, engine in engines.items():
        if args.repeats <= 0:
            break
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            engine.rollout(engine.encode(observation), engine.set_actions(actions))
            times.append(1e3 * (time.perf_counter() - start))
        report["timing_ms"][name] = {
            "p50": float(np.median(times)),
            "p95": float(np.percentile(times, 95)),
        }
    print(json.dumps(report, indent=1))
    if error > args.tolerance:
        print(
            f"export: onnxruntime differs from PyTorch by {error:.3g} > --tolerance "
            f"{args.tolerance:g}"
        )
        return 1
    return 0
