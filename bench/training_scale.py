"""Fleet-scale training figures (issue: sharded dataset, bounded memory, torchrun): writes
bench/results/training_scale-<tag>.json and .md with the machine they ran on.

Sections (run each alone on the machine: the figures are timings):

    python bench/training_scale.py build data/fleet_bags --dataset data/fleet_ds  # build speed
    python bench/training_scale.py memory data/fleet_ds --hours 1 5 10 20         # RSS vs hours
    python bench/training_scale.py inmemory data/fleet_ds --hours 2               # stream vs RAM
    python bench/training_scale.py ddp data/fleet_ds --steps 600                  # torchrun x2
    python bench/training_scale.py report                                          # the .md

Every training figure is one process (or one torchrun job) started fresh, with the default
model and config/train.yaml (global batch 64), one torch thread per process, no validation
inside the timed steps. samples/s = windows trained on per second of wall time, timed from
step ``--warmup`` to the last step; RSS is sampled every 10 steps and the peak
(ru_maxrss) includes start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def machine() -> dict:
    """bench/machine.py's description (CPU, cores, memory, GPU, load average before)."""
    from machine import machine_description

    return machine_description()


def results_path(tag: str) -> Path:
    return RESULTS / f"training_scale-{tag}.json"


def merge(tag: str, section: str, figures: dict) -> None:
    path = results_path(tag)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("machine", {})[section] = machine()
    data[section] = figures
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps({section: figures}, indent=2))


# -- one training run (a child process; under torchrun for the ddp section) ----------------
def one_run(args: argparse.Namespace) -> None:
    import psutil
    import torch

    from world_model_ros.core.data.manifest import ShardDataset
    from world_model_ros.core.data.streaming import StreamingWindows, validation_episodes
    from world_model_ros.core.data.windows import WindowSet
    from world_model_ros.core.training import distributed
    from world_model_ros.core.training.sampling import window_sampling_weights
    from world_model_ros.core.training.train_config import TrainConfig
    from world_model_ros.core.training.trainer import train

    torch.set_num_threads(args.threads)
    dist, device = distributed.init_distributed(torch.device("cpu"))
    config = dataclasses.replace(
        TrainConfig.from_yaml(ROOT / "config" / "train.yaml"),
        steps=args.steps,
        validate_every=10**9,
        max_minutes=0.0,
        num_threads=args.threads,
        seed=args.seed,
    )
    dataset = ShardDataset(args.dataset)
    keys = dataset.episode_keys()
    limit = args.hours[0] * 3600 / dataset.settings.dt_s
    chosen, samples = set(), 0
    for key in keys:
        if samples >= limit:
            break
        chosen.add(key)
        samples += sum(int(r["own_steps"]) for r in dataset.records if r["episode"] == key)
    dataset.records = [r for r in dataset.records if r["episode"] in chosen]
    train_records, val_records = dataset.split(config.validation_fraction, config.seed)
    horizon, size = config.model.horizon, config.model.image_size
    started = time.monotonic()
    if args.mode == "memory":
        windows = WindowSet(dataset.load_episodes(train_records), size, horizon)
    else:
        windows = StreamingWindows(
            dataset,
            train_records,
            size,
            horizon,
            dist.per_rank_batch(config.batch_size),
            config.consistency_steps,
            sampling_weights=lambda w: window_sampling_weights(w, config.rest_start_weight),
            seed=config.seed,
            rank=dist.rank,
            world_size=dist.world_size,
        )
    val = WindowSet(
        validation_episodes(dataset, val_records, horizon, config.validation_windows),
        size,
        horizon,
    )
    load_s = time.monotonic() - started
    process = psutil.Process()
    rss, losses, marks = [], [], {}

    def on_step(step: int, parts: dict) -> None:
        losses.append(parts["loss"])
        if step == args.warmup:
            marks["start"] = time.monotonic()
        if step == args.steps - 1:
            marks["stop"] = time.monotonic()
        if step % 10 == 0:
            rss.append(process.memory_info().rss / 2**20)

    out = Path(args.out_dir)
    train(
        windows,
        val,
        config,
        out,
        device,
        progress=False,
        log=lambda t: None,
        on_step=on_step,
        dist=dist,
    )
    timed_steps = args.steps - 1 - args.warmup
    result = {
        "mode": args.mode,
        "world_size": dist.world_size,
        "threads_per_process": args.threads,
        "hours": round(samples * dataset.settings.dt_s / 3600, 2),
        "samples": samples,
        "train_windows": len(windows),
        "load_s": round(load_s, 1),
        "steps_timed": timed_steps,
        "samples_per_s": round(
            timed_steps * config.batch_size / (marks["stop"] - marks["start"]), 1
        ),
        "rss_mib_max_sampled": round(max(rss), 0),
        "rss_mib_first_sampled": round(rss[0], 0),
        "rss_mib_peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "losses": [round(v, 4) for v in losses],
    }
    ranks = distributed.gather(result, dist)
    if dist.is_main:
        result["rss_mib_peak_per_rank"] = [r["rss_mib_peak"] for r in ranks]
        (out / "bench_result.json").write_text(json.dumps(result) + "\n")
    distributed.shutdown(dist)


WARMUP = {"steps": 20}


def child(
    dataset: Path, out: Path, mode: str, hours: float, steps: int, ranks: int = 1, seed: int = 0
) -> dict:
    warmup = WARMUP["steps"]
    command = [
        str(Path(__file__).resolve()),
        "_one",
        str(dataset),
        "--out-dir",
        str(out),
        "--mode",
        mode,
        "--hours",
        str(hours),
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
        "--seed",
        str(seed),
    ]
    if ranks > 1:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={ranks}",
            *command,
        ]
    else:
        command = [sys.executable, *command]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, check=True, env=env)
    result = json.loads((out / "bench_result.json").read_text())
    print({k: v for k, v in result.items() if k != "losses"}, flush=True)
    return result


def section_build(args) -> None:
    from world_model_ros.core.data.bag_format import find_bags

    bags = find_bags(args.bags)
    if args.dataset.exists():
        raise SystemExit(f"{args.dataset} exists: the build is timed from scratch")
    started = time.monotonic()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "world-model-ros"),
            "dataset",
            "build",
            *map(str, args.bags),
            "--out",
            str(args.dataset),
            "--workers",
            str(args.workers),
        ],
        check=True,
    )
    wall_s = time.monotonic() - started
    manifest = json.loads((args.dataset / "manifest.json").read_text())
    samples = sum(b["samples"] for b in manifest["bags"])
    hours = samples * manifest["settings"]["dt_s"] / 3600
    merge(
        args.tag,
        "build",
        {
            "command": f"world-model-ros dataset build {' '.join(map(str, args.bags))} --out "
            f"{args.dataset} --workers {args.workers}",
            "bags": len(bags),
            "samples": samples,
            "simulated_hours": round(hours, 2),
            "wall_s": round(wall_s, 1),
            "simulated_hours_per_2_min": round(hours / (wall_s / 120), 2),
            "bag_gib": round(sum(b["bytes"] for b in manifest["bags"]) / 2**30, 2),
            "shard_gib": round(sum(s["bytes"] for s in manifest["shards"]) / 2**30, 3),
            "shards": len(manifest["shards"]),
        },
    )


def section_memory(args) -> None:
    runs = []
    for hours in args.hours:
        result = child(args.dataset, args.work / f"memory_{hours}", "stream", hours, args.steps)
        result.pop("losses")
        runs.append(result)
    merge(args.tag, "memory", {"steps": args.steps, "runs": runs})


def section_inmemory(args) -> None:
    runs = {}
    for mode in ("memory", "stream"):
        result = child(
            args.dataset, args.work / f"inmemory_{mode}", mode, args.hours[0], args.steps
        )
        result.pop("losses")
        runs[mode] = result
    ratio = runs["stream"]["samples_per_s"] / runs["memory"]["samples_per_s"]
    merge(
        args.tag, "inmemory", {"steps": args.steps, "stream_over_memory": round(ratio, 3), **runs}
    )


def section_ddp(args) -> None:
    import numpy as np

    one = child(args.dataset, args.work / "ddp_1", "stream", args.hours[0], args.steps)
    two = child(args.dataset, args.work / "ddp_2", "stream", args.hours[0], args.steps, ranks=2)
    window = 50
    a, b = np.array(one["losses"]), np.array(two["losses"])
    n = len(a) // window
    means_a = a[: n * window].reshape(n, window).mean(1)
    means_b = b[: n * window].reshape(n, window).mean(1)
    se = np.sqrt(
        a[: n * window].reshape(n, window).var(1) / window
        + b[: n * window].reshape(n, window).var(1) / window
    )
    z = (means_b - means_a) / se
    merge(
        args.tag,
        "ddp",
        {
            "steps": args.steps,
            "one_process": {k: v for k, v in one.items() if k != "losses"},
            "torchrun_2": {k: v for k, v in two.items() if k != "losses"},
            "speedup": round(two["samples_per_s"] / one["samples_per_s"], 3),
            "loss_per_50_steps_one": [round(float(v), 3) for v in means_a],
            "loss_per_50_steps_two": [round(float(v), 3) for v in means_b],
            "difference_in_standard_errors": [round(float(v), 2) for v in z],
            "checkpoint": str(args.work / "ddp_2"),
        },
    )


def section_noise(args) -> None:
    """The loss-curve noise between two single-process runs (seeds 0 and 1), in the units the
    ddp section uses, to judge its differences by."""
    import numpy as np

    base = json.loads((args.work / "ddp_1" / "bench_result.json").read_text())
    other = child(
        args.dataset,
        args.work / "noise_seed1",
        "stream",
        args.hours[0],
        len(base["losses"]),
        seed=1,
    )
    window = 50
    a, b = np.array(base["losses"]), np.array(other["losses"])
    n = len(a) // window
    ra, rb = a[: n * window].reshape(n, window), b[: n * window].reshape(n, window)
    z = (rb.mean(1) - ra.mean(1)) / np.sqrt(ra.var(1) / window + rb.var(1) / window)
    merge(
        args.tag,
        "noise",
        {
            "what": "one process, seed 1 vs seed 0 (the ddp section's one-process run)",
            "loss_per_50_steps_seed1": [round(float(v), 3) for v in rb.mean(1)],
            "difference_in_standard_errors": [round(float(v), 2) for v in z],
            "samples_per_s_seed1": other["samples_per_s"],
        },
    )


def section_report(args) -> None:
    data = json.loads(results_path(args.tag).read_text())
    lines = [
        f"# Training at scale ({args.tag})",
        "",
        "Machine, per section:",
        "",
        "```json",
        json.dumps(data["machine"], indent=1),
        "```",
        "",
    ]
    for section in ("build", "inmemory", "memory", "ddp", "noise", "eval"):
        if section in data:
            lines += [
                f"## {section}",
                "",
                "```json",
                json.dumps(data[section], indent=1),
                "```",
                "",
            ]
    results_path(args.tag).with_suffix(".md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "section", choices=["build", "memory", "inmemory", "ddp", "noise", "report", "_one"]
    )
    parser.add_argument("paths", nargs="*", type=Path, help="bags (build) or the dataset")
    parser.add_argument("--dataset", type=Path, help="build: the folder to create")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hours", type=float, nargs="+", default=[20.0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["stream", "memory"], default="stream")
    parser.add_argument("--out-dir", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/training_scale"))
    parser.add_argument("--tag", default="cpu2")
    args = parser.parse_args()
    WARMUP["steps"] = args.warmup
    if args.section == "_one":
        args.dataset = args.paths[0]
        one_run(args)
        return
    if args.section == "build":
        args.bags = args.paths
        section_build(args)
        return
    if args.section != "report":
        args.dataset = args.paths[0]
        args.work.mkdir(parents=True, exist_ok=True)
    {
        "memory": section_memory,
        "inmemory": section_inmemory,
        "ddp": section_ddp,
        "noise": section_noise,
        "report": section_report,
    }[args.section](args)


if __name__ == "__main__":
    main()
