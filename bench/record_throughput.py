"""Recorder throughput: simulated seconds of 10 Hz data written per wall second.

    .venv/bin/python bench/record_throughput.py [--minutes 10] [--image-size 64] [--layouts 2]

Records ``--minutes`` simulated minutes (split over ``--layouts`` bags) into a temporary folder
exactly as ``world-model-ros record`` does (render, physics, CDR serialisation, MCAP writing),
then reports the rate, the wall time one simulated hour takes, the share of each stage (timed
separately on the same simulator) and the machine's load before and after, because the machine
is shared and the figure is only meaningful beside the load it was measured under.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from world_model_ros.sim.recorder import MessageFactory, record_layout, typestore  # noqa: E402
from world_model_ros.sim.simulator import DiffDriveSim, SimConfig  # noqa: E402


def stage_times_ms(sim: DiffDriveSim, samples: int, dt_s: float) -> dict[str, float]:
    """Mean milliseconds per sample of each stage, on their own."""
    messages = MessageFactory(typestore())
    rng = np.random.default_rng(0)
    timings = {"physics (0.1 s)": 0.0, "render": 0.0, "serialise 6 messages": 0.0}
    for _ in range(samples):
        t0 = time.perf_counter()
        sim.step(rng.uniform([-0.2, -1.5], [0.5, 1.5]), dt_s)
        t1 = time.perf_counter()
        image = sim.render()
        t2 = time.perf_counter()
        pose, twist = sim.odometry()
        messages.image(0, image), messages.camera_info(0, 64, 64, sim.camera_intrinsics())
        (
            messages.odometry(0, pose, twist),
            messages.twist(twist),
            messages.contact(False),
            messages.tf(0, pose),
        )
        t3 = time.perf_counter()
        timings["physics (0.1 s)"] += t1 - t0
        timings["render"] += t2 - t1
        timings["serialise 6 messages"] += t3 - t2
    return {k: 1e3 * v / samples for k, v in timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="simulated minutes to record (default 10)"
    )
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--layouts", type=int, default=2)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    args = parser.parse_args()

    load_before = os.getloadavg()
    config = SimConfig(camera_width=args.image_size, camera_height=args.image_size)
    sim = DiffDriveSim(config, 0)
    seconds_per_layout = 60.0 * args.minutes / args.layouts
    episodes = max(1, round(seconds_per_layout / 60.0))
    with tempfile.TemporaryDirectory(prefix="wmr_bench_") as folder:
        started = time.perf_counter()
        cpu_started = time.process_time()
        samples = 0
        for layout in range(args.layouts):
            summary = record_layout(
                sim,
                Path(folder) / f"layout_{layout}",
                layout,
                episodes,
                seconds_per_layout / episodes,
                args.rate_hz,
                np.random.default_rng(layout),
            )
            samples += summary.samples
        wall_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        size_mb = sum(f.stat().st_size for f in Path(folder).rglob("*")) / 1e6
    stages = stage_times_ms(sim, 300, 1.0 / args.rate_hz)
    load_after = os.getloadavg()
    sim_s = samples / args.rate_hz
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)"
    )
    print(
        f"recorded {sim_s / 60:.1f} simulated min ({samples} samples at {args.rate_hz:g} Hz, "
        f"{args.image_size}x{args.image_size} rgb8) in {wall_s:.1f} s wall, {cpu_s:.1f} s CPU; "
        f"{size_mb:.0f} MB"
    )
    print(
        f"rate: {sim_s / wall_s:.1f}x real time = {samples / wall_s:.0f} samples/s; "
        f"one simulated hour takes {3600 / (sim_s / wall_s) / 60:.1f} min wall (target <= 10 min)"
    )
    print("per sample, stages alone: " + ", ".join(f"{k} {v:.2f} ms" for k, v in stages.items()))
    sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
