#!/usr/bin/env python3
"""The model stage alone (preprocess + encode + rollout of one VGA frame, as the node runs it), per
backend and CUDA option: where the fast paths pay and where they do not.

    .venv/bin/python bench/model_stage.py                     # CPU (and CUDA when present)
    .venv/bin/python bench/model_stage.py --checkpoint runs/my-model --cycles 500

Variants: torch fp32 and onnxruntime on the CPU; on CUDA torch fp32, fp16 and bf16 autocast,
and torch.compile with CUDA graphs (reduce-overhead). Results:
bench/results/model-stage-<machine>.md/json. Without a shipped checkpoint a freshly initialised
model of the default architecture is timed (the timing does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from latency import machine_description, resolve_checkpoint  # noqa: E402

from world_model_ros.core.model.checkpoint import load_latent_model  # noqa: E402
from world_model_ros.core.model.contract import Observation  # noqa: E402
from world_model_ros.core.model.fast_path import FastPathConfig, InferenceEngine  # noqa: E402


def time_engine(
    engine, observation: Observation, actions_h2: np.ndarray, cycles: int, cuda: bool
) -> dict:
    times = []
    for i in range(cycles + 10):
        start = time.perf_counter()
        engine.rollout(
            engine.encode(observation), engine.set_actions(actions_h2)
        )  # to_numpy() synchronises
        if i >= 10:
            times.append(1e3 * (time.perf_counter() - start))
    values = np.asarray(times)
    return {
        "p50": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="")
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch / onnxruntime CPU threads")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = machine_description()
    args.results.mkdir(parents=True, exist_ok=True)
    checkpoint, note, _ = resolve_checkpoint(args.checkpoint, args.results / "raw")
    rng = np.random.default_rng(0)
    observation = Observation(
        0.0, rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), np.zeros(3), np.array([0.3, 0.1])
    )
    actions = (rng.normal(size=(args.horizon, 2)) * 0.3).astype(np.float32)
    rows = []
    cpu = load_latent_model(checkpoint or None, torch.device("cpu"), horizon=args.horizon)
    rows.append(
        (
            "cpu",
            "torch fp32",
            time_engine(
                InferenceEngine(cpu, horizon=args.horizon),
                observation,
                actions,
                args.cycles,
                False,
            ),
        )
    )
    from world_model_ros.core.model.onnx_backend import OnnxEngine

    rows.append(
        (
            "cpu",
            "onnxruntime fp32",
            time_engine(
                OnnxEngine(cpu, args.horizon, threads=args.threads),
                observation,
                actions,
                args.cycles,
                False,
            ),
        )
    )
    if torch.cuda.is_available():
        for label, fast in (
            ("torch fp32", FastPathConfig()),
            ("torch fp16 autocast", FastPathConfig(precision="fp16")),
            ("torch bf16 autocast", FastPathConfig(precision="bf16")),
            (
                "torch fp32 + CUDA graphs (compile reduce-overhead)",
                FastPathConfig(cuda_graphs=True),
            ),
            ("torch fp16 + CUDA graphs", FastPathConfig(precision="fp16", cuda_graphs=True)),
        ):
            model = load_latent_model(
                checkpoint or None, torch.device("cuda"), horizon=args.horizon
            )
            engine = InferenceEngine(model, fast, horizon=args.horizon)
            engine.warm_up()
            rows.append(
                ("cuda", label, time_engine(engine, observation, actions, args.cycles, True))
            )
    label = (
        ("gpu-" + machine["gpu"].split()[-1].lower())
        if machine["gpu"]
        else f"cpu{machine['logical_cores']}"
    )
    lines = [
        "# Model stage: preprocess + encode + rollout of one 640x480 frame",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} cores, GPU: "
        f"{machine['gpu'] or 'none'}; torch "
        f"{machine['torch']}; {args.threads} CPU thread(s); horizon {args.horizon}; load average "
        "before: "
        f"{machine['load_average_before']}. Model: {note}.",
        "",
        "| device | variant | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {d} | {v} | {t['p50']:.2f} | {t['p95']:.2f} | {t['p99']:.2f} | {t['max']:.2f} |"
        for d, v, t in rows
    ]
    (args.results / f"model-stage-{label}.md").write_text("\n".join(lines) + "\n")
    (args.results / f"model-stage-{label}.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "checkpoint": note,
                "rows": [{"device": d, "variant": v, **t} for d, v, t in rows],
            },
            indent=1,
        )
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
