#!/usr/bin/env python3
"""Latency of the latent world model itself (no ROS): encode one frame, roll out B x H.

    .venv/bin/python bench/latent_model.py                        # shipped checkpoint, CPU
    .venv/bin/python bench/latent_model.py --batch 512 1024 4096 --threads 1 2 --device cpu

Reports median / p90 wall time per call over ``--repeats`` calls after a warm-up, plus the
machine load (other processes share these cores; read figures in that light). Results are
printed as a Markdown table and, with ``--out``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from world_model_ros.core.model.checkpoint import load_latent_model
from world_model_ros.core.model.contract import Observation


def timed(call, repeats: int, device: torch.device) -> tuple[float, float]:
    for _ in range(3):
        call()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        samples.append(1000.0 * (time.perf_counter() - start))
    return float(np.median(samples)), float(np.percentile(samples, 90))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument(
        "--image", default="64x64", help="camera frame WxH fed to encode (resized inside)"
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    device = torch.device(args.device)
    model = load_latent_model(args.checkpoint, device, horizon=args.horizon)
    width, height = (int(v) for v in args.image.lower().split("x"))
    rng = np.random.default_rng(0)
    observation = Observation(
        0.0,
        rng.integers(0, 255, (height, width, 3), dtype=np.uint8),
        np.zeros(3, np.float32),
        np.array([0.2, 0.0], np.float32),
    )
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        encode_ms = timed(lambda: model.encode(observation), args.repeats, device)
        latent = model.encode(observation)
        for batch in args.batch:
            actions = torch.rand(batch, args.horizon, 2, device=device)
            rollout_ms = timed(
                lambda latent=latent, actions=actions: model.rollout(latent, actions),
                args.repeats,
                device,
            )
            rows.append(
                {
                    "threads": threads,
                    "batch": batch,
                    "horizon": args.horizon,
                    "image": args.image,
                    "encode_median_ms": encode_ms[0],
                    "encode_p90_ms": encode_ms[1],
                    "rollout_median_ms": rollout_ms[0],
                    "rollout_p90_ms": rollout_ms[1],
                }
            )
    machine = {
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "device": str(device),
        "model_id": model.model_id,
    }
    print(f"machine: {machine}")
    print("| threads | B x H | encode median / p90 (ms) | rollout median / p90 (ms) |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['threads']} | {r['batch']} x {r['horizon']} | {r['encode_median_ms']:.2f} / "
            f"{r['encode_p90_ms']:.2f} "
            f"| {r['rollout_median_ms']:.1f} / {r['rollout_p90_ms']:.1f} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
