"""Latency of one MPPI planning cycle (encode + map update + sample + batched rollout + score +
plan rollout).

Measures the core planner directly (no ROS, no simulator) for each model and sample count at a
20-step horizon, after a warm-up, and writes the machine it ran on beside the figures:
bench/results/planning-<cpuN|gpu-name>[-tag].json and .md, with the share of each cycle spent in
the model's rollouts. The targets: 512 samples x 20 steps within 45 ms p95 on the 2-core CPU
(issue 16; 100 ms before); >= 4096 samples within 20 ms p95 on an H100/H200 (issue 5).

The latent model is the shipped checkpoint when present; otherwise a randomly initialised model
of the default architecture (same compute, meaningless predictions), labelled as such.

    .venv/bin/python bench/planning.py                    # CPU: 256/512/1024 samples
    .venv/bin/python bench/planning.py --rollout-engine torch   # the reference rollout
    .venv/bin/python bench/planning.py --samples 1024 4096 8192 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from pathlib import Path

import numpy as np
import onnxruntime
import psutil
import torch

from world_model_ros.core.model.contract import Observation
from world_model_ros.core.model.kinematic import KinematicConfig, KinematicPredictor
from world_model_ros.core.model.registry import resolve_device
from world_model_ros.core.planning.mppi import MppiConfig, MppiPlanner

RESULTS = Path(__file__).resolve().parent / "results"


def machine_description(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "logical_cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def load_models(
    device: torch.device, checkpoint: str, rollout_engine: str = "auto"
) -> list[tuple[str, object]]:
    models: list[tuple[str, object]] = [
        ("kinematic", KinematicPredictor(KinematicConfig(), device))
    ]
    from world_model_ros.core.model.checkpoint import DEFAULT_CHECKPOINT, load_latent_model
    from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
    from world_model_ros.core.model.latent_predictor import LatentPredictor

    folder = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if (folder / "config.json").exists():
        model = load_latent_model(folder, device, rollout_engine=rollout_engine)
        models.append((f"latent ({folder.name})", model))
    else:
        models.append(
            (
                "latent (untrained, default architecture)",
                LatentPredictor(
                    LatentDynamicsModel(LatentModelConfig()),
                    device,
                    rollout_engine=rollout_engine,
                ),
            )
        )
    return models


def measure(model, samples: int, horizon: int, cycles: int, warmup: int) -> dict:
    planner = MppiPlanner(model, MppiConfig(num_samples=samples, horizon=horizon, seed=0))
    rollout_s = [0.0]  # time in model.rollout (the samples', the past view's, the plan's)
    rollout = model.rollout

    def timed_rollout(latent, actions_bh2):
        tic = time.perf_counter()
        out = rollout(latent, actions_bh2)
        rollout_s[0] += time.perf_counter() - tic
        return out

    model.rollout = timed_rollout  # on this instance only; removed below
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)
    goal = np.array([2.0, 1.0, 0.0])
    # The contact memory's worst case: full (max_points remembered contacts) on every cycle.
    grid = torch.stack(
        torch.meshgrid(torch.linspace(0.4, 2.0, 16), torch.linspace(-0.8, 0.8, 16), indexing="ij"),
        -1,
    )
    hazards = grid.reshape(-1, 2)[: planner.config.memory.max_points]
    times_ms, rollout_ms = [], []
    for i in range(warmup + cycles):
        observation = Observation(
            0.1 * i,
            image,
            np.array([0.1 * (i % 10), 0.0, 0.0], np.float32),
            np.array([0.3, 0.1], np.float32),
        )
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)
        tic = time.perf_counter()
        rollout_s[0] = 0.0
        planner.memory.clear()
        planner.memory.remember(hazards)
        latent = model.encode(observation)
        planner.shift(1)
        result = planner.plan(latent, goal)
        _ = result.command_2  # the command reaches the CPU: includes the device sync
        if i >= warmup:
            times_ms.append((time.perf_counter() - tic) * 1e3)
            rollout_ms.append(rollout_s[0] * 1e3)
    del model.rollout
    t, r = np.array(times_ms), np.array(rollout_ms)
    return {
        "samples": samples,
        "horizon": horizon,
        "cycles": cycles,
        "p50_ms": float(np.percentile(t, 50)),
        "p95_ms": float(np.percentile(t, 95)),
        "max_ms": float(t.max()),
        "mean_ms": float(t.mean()),
        "rollout_p50_ms": float(np.percentile(r, 50)),
        "rollout_share": float(r.sum() / t.sum()),  # of the cycle's time, in model.rollout
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--samples",
        type=int,
        nargs="+",
        default=None,
        help="sample counts (default 256 512 1024 on CPU, 1024 4096 8192 on CUDA)",
    )
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--checkpoint", default="", help="latent checkpoint folder ('' = the shipped one)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1, as the planner node and demo use; 0 = torch's "
        "default)",
    )
    parser.add_argument(
        "--rollout-engine",
        default="auto",
        choices=("auto", "onnxruntime", "torch"),
        help="the learned model's batched rollout (core/model/rollout_engine.py): auto = ONNX "
        "Runtime on the CPU; torch = the reference LatentDynamicsModel.imagine",
    )
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    samples = args.samples or ([1024, 4096, 8192] if device.type == "cuda" else [256, 512, 1024])
    machine = machine_description(device)
    load_before = os.getloadavg()
    rows = []
    machine["rollout_engine"] = args.rollout_engine
    for name, model in load_models(device, args.checkpoint, args.rollout_engine):
        for n in samples:
            row = {"model": name, **measure(model, n, args.horizon, args.cycles, args.warmup)}
            rows.append(row)
            print(
                f"{name:42s} {n:6d} samples x {args.horizon} steps: p50 {row['p50_ms']:7.2f} ms  "
                f"p95 {row['p95_ms']:7.2f} ms  max {row['max_ms']:7.2f} ms  rollouts "
                f"{100 * row['rollout_share']:.0f} %",
                flush=True,
            )
    machine["load_average_before"] = [round(v, 2) for v in load_before]
    machine["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    tag = (
        re.sub(r"[^a-z0-9]+", "-", machine["gpu"].lower()).strip("-")
        if machine["gpu"]
        else f"cpu{machine['logical_cores']}"
    ) + (f"-{args.tag}" if args.tag else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "planning",
        "machine": machine,
        "results": rows,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (RESULTS / f"planning-{tag}.json").write_text(json.dumps(report, indent=2))
    lines = [
        f"# MPPI planning cycle latency ({tag})",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, torch "
        f"{machine['torch']} "
        f"({machine['torch_threads']} threads), device {machine['device']}"
        + (f" ({machine['gpu']})" if machine["gpu"] else "")
        + ".",
        f"Load average before / after: {machine['load_average_before']} / "
        f"{machine['load_average_after']}.",
        "One cycle = encode one 64x64 frame + the occupancy map's update (a model with an "
        "occupancy head) "
        "+ sample + one batched rollout (and the past view's, for a learned model without a "
        "head) + score "
        f"(with a full contact memory) + the plan's rollout; "
        f"{args.cycles} cycles after {args.warmup} warm-up. The learned model's rollouts: "
        f"`--rollout-engine {args.rollout_engine}` (core/model/rollout_engine.py); 'rollouts' "
        "is the time in model.rollout (the samples' and the plan's), p50 and share of all "
        "cycles' time.",
        "",
        "| model | samples x steps | p50 ms | p95 ms | max ms | rollouts p50 ms | rollout share |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['samples']} x {r['horizon']} | {r['p50_ms']:.2f} | "
        f"{r['p95_ms']:.2f} | {r['max_ms']:.2f} | {r['rollout_p50_ms']:.2f} | "
        f"{100 * r['rollout_share']:.0f} % |"
        for r in rows
    ]
    (RESULTS / f"planning-{tag}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / f'planning-{tag}.json'} and .md")


if __name__ == "__main__":
    main()
