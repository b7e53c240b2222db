#!/usr/bin/env python3
"""End-to-end latency benchmark of world_model_node over real DDS, with its machine written down.

Three processes, as on a robot: an independent camera/odometry streamer (bench/stream_camera.py),
the node started by its console script, and a recorder (bench/record_predictions.py) that
timestamps every prediction on arrival. Optionally a fourth process saturates one CPU core.
The node's CPU use and resident memory are sampled once a second with psutil.

    make bench                                             # = .venv/bin/python bench/latency.py,
    ~5 minutes .venv/bin/python bench/latency.py --cases latent-vga --seconds 20     # a quick look
    .venv/bin/python bench/latency.py --soak --seconds 3600               # one-hour soak (flat
    RSS, steady latency)

Reported per case: end-to-end latency (camera stamp -> prediction received by another process)
p50/p95/p99/max, deadline-miss rate against budget_ms, frames sent/predicted/skipped (and why,
from the node's counters), the node's per-stage p50/p95 (convert, preprocess, encode, rollout,
publish), its CPU use and RSS sampled every second, and the machine's load average before the
run (figures taken on a busy machine say so). The learned model uses the shipped checkpoint,
or --checkpoint; when neither exists, a freshly initialised model of the default architecture
(the timing does not depend on the weights; the report says so).

Results: bench/results/latency-<cpuN|gpu-name>[-tag].json and .md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency_report import markdown  # noqa: E402
from machine import machine_description, percentiles  # noqa: E402

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # "latent" | "kinematic"
    width: int
    height: int
    cpu_load: bool = False


CASES = {
    "kinematic-vga": Case("kinematic-vga", "kinematic", 640, 480),
    "latent-vga": Case("latent-vga", "latent", 640, 480),
    "latent-native": Case("latent-native", "latent", 0, 0),  # 0: the checkpoint's own image size
    "latent-vga-load": Case("latent-vga-load", "latent", 640, 480, cpu_load=True),
}


def resolve_checkpoint(requested: str, workdir: Path) -> tuple[str, str, int]:
    """(checkpoint folder, description, image size) for the latent cases."""
    from world_model_ros.core.model.checkpoint import (
        DEFAULT_CHECKPOINT,
        load_checkpoint,
        save_checkpoint,
    )
    from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig

    if requested:
        model, _ = load_checkpoint(requested)
        return requested, f"checkpoint {requested}", model.config.image_size
    if DEFAULT_CHECKPOINT.is_dir():
        model, _ = load_checkpoint(None)
        return "", "the shipped checkpoint", model.config.image_size
    folder = workdir / "untrained-default-architecture"
    save_checkpoint(folder, LatentDynamicsModel(LatentModelConfig()))
    return (
        str(folder),
        "UNTRAINED weights of the default architecture (no shipped checkpoint; timing only)",
        LatentModelConfig().image_size,
    )


def burn_one_core(stop_at: float) -> None:
    """The competing process: a tight loop that keeps one core busy."""
    x = 0
    while time.monotonic() < stop_at:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def wait_for_ready(
    records: Path, node: subprocess.Popen, log: Path, timeout_s: float = 120.0
) -> None:
    """Until the recorder has the node's first diagnostics: the model is loaded and warmed up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if node.poll() is not None:
            raise SystemExit(f"the node exited with {node.returncode}; see {log}")
        if records.exists() and '"diagnostics"' in records.read_text():
            return
        time.sleep(0.2)
    raise SystemExit(f"the node did not report ready within {timeout_s:.0f} s; see {log}")


def node_diagnostics(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["kind"] == "diagnostics" and r["name"].endswith(": prediction")]


def run_case(
    case: Case,
    seconds: float,
    warmup_s: float,
    budget_ms: float,
    workdir: Path,
    extra_params: list[str],
    checkpoint: str = "",
) -> dict:
    env = {
        **os.environ,
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", str(150 + os.getpid() % 50)),
    }
    env.setdefault("HOME", "/tmp")
    records = workdir / f"{case.name}.jsonl"
    records.unlink(missing_ok=True)
    log_path = workdir / f"{case.name}-node.log"
    node_log = open(log_path, "wb")
    if checkpoint and case.model == "latent":
        extra_params = ["-p", f"checkpoint:={checkpoint}", *extra_params]
    node = subprocess.Popen(
        [
            str(BIN / "world_model_node"),
            "--ros-args",
            "--params-file",
            str(REPO / "config/world_model.yaml"),
            "-p",
            f"model:={case.model}",
            "-p",
            f"budget_ms:={budget_ms}",
            *extra_params,
        ],
        env=env,
        stdout=node_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    recorder = subprocess.Popen(
        [sys.executable, str(REPO / "bench/record_predictions.py"), "--output", str(records)],
        env=env,
        start_new_session=True,
    )
    wait_for_ready(records, node, log_path)
    loader = None
    if case.cpu_load:
        loader = multiprocessing.Process(
            target=burn_one_core, args=(time.monotonic() + seconds + warmup_s + 5,), daemon=True
        )
        loader.start()
    streamer = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "bench/stream_camera.py"),
            "--width",
            str(case.width),
            "--height",
            str(case.height),
            "--seconds",
            str(seconds + warmup_s),
        ],
        env=env,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    process = psutil.Process(node.pid)
    samples = []
    started = time.monotonic()
    process.cpu_percent(None)
    while streamer.poll() is None:
        time.sleep(1.0)
        try:
            samples.append(
                {
                    "t_s": time.monotonic() - started,
                    "cpu_percent": process.cpu_percent(None),
                    "rss_mib": process.memory_info().rss / 2**20,
                    "load_1min": os.getloadavg()[0],
                }
            )
        except psutil.NoSuchProcess:
            break
    sent = json.loads(streamer.stdout.read().decode().strip().splitlines()[-1])
    time.sleep(1.0)  # let the last predictions arrive
    for proc in (recorder, node):
        proc.send_signal(signal.SIGINT)
    for proc in (recorder, node):
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if loader is not None:
        loader.terminate()
    node_log.close()

    rows = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    predictions = [r for r in rows if r["kind"] == "prediction"]
    if not predictions:
        raise SystemExit(
            f"{case.name}: no predictions received; see {workdir / (case.name + '-node.log')}"
        )
    first_stamp = predictions[0]["stamp_ns"]
    kept = [r for r in predictions if r["stamp_ns"] - first_stamp >= warmup_s * 1e9]
    latencies = [r["latency_ms"] for r in kept]
    quarter = max(1, len(latencies) // 4)
    diagnostics = node_diagnostics(rows)
    steady = [s for s in samples if s["t_s"] > warmup_s]
    sent_after_warmup = sent["sent_images"] * seconds / (seconds + warmup_s)
    last = diagnostics[-1]["values"] if diagnostics else {}
    first_minute = [s["rss_mib"] for s in steady if s["t_s"] <= warmup_s + 60]
    segments = np.array_split(np.asarray(latencies), min(10, len(latencies)))
    return {
        "case": asdict(case),
        "seconds": seconds,
        "warmup_s": warmup_s,
        "budget_ms": budget_ms,
        "latency_ms": percentiles(latencies),
        "latency_first_quarter_p95_ms": float(np.percentile(latencies[:quarter], 95)),
        "latency_last_quarter_p95_ms": float(np.percentile(latencies[-quarter:], 95)),
        "deadline_miss_rate": float(np.mean(np.asarray(latencies) > budget_ms)),
        "later_than_200ms": int(np.sum(np.asarray(latencies) > 200.0)),
        "including_warmup": {
            "predictions": len(predictions),
            "max_ms": float(max(r["latency_ms"] for r in predictions)),
            "later_than_200ms": int(sum(r["latency_ms"] > 200.0 for r in predictions)),
        },
        "frames_sent": round(sent_after_warmup),
        "predictions": len(kept),
        "frames_skipped": max(0, round(sent_after_warmup) - len(kept)),
        "node_diagnostics_last": last,
        "node_frames": {
            key: int(last[key])
            for key in (
                "frames_received",
                "frames_processed",
                "frames_dropped",
                "frames_skipped",
                "frames_rejected",
                "deadline_misses",
            )
            if key in last
        },
        "stages_ms": {
            stage: {q: float(last.get(f"stage_{stage}_{q}_ms", "nan")) for q in ("p50", "p95")}
            for stage in ("convert", "preprocess", "encode", "rollout", "publish")
        },
        "latency_p95_by_segment_ms": [
            float(np.percentile(seg, 95)) for seg in segments if len(seg)
        ],
        "rss_mib_at_1_min": first_minute[-1] if first_minute else None,
        "cpu_percent": percentiles([s["cpu_percent"] for s in steady]),
        "machine_load_1min": percentiles([s["load_1min"] for s in steady]),
        "rss_mib_first_minute": float(np.mean(first_minute or [0])),
        "rss_mib_end": steady[-1]["rss_mib"] if steady else None,
        "rss_series": samples[:: max(1, len(samples) // 120)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument(
        "--seconds", type=float, default=45.0, help="measured seconds per case (after warm-up)"
    )
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--budget-ms", type=float, default=200.0)
    parser.add_argument("--results", type=Path, default=REPO / "bench/results")
    parser.add_argument("--tag", default="", help="suffix for the result files (e.g. 'soak')")
    parser.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra world_model_node parameter, repeatable",
    )
    parser.add_argument(
        "--checkpoint", default="", help="latent checkpoint folder (default: the shipped one)"
    )
    parser.add_argument(
        "--large-data",
        action="store_true",
        help="FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA for every process (what a tuned camera driver "
        "gets: VGA transport ~3 ms instead of ~14 ms); the report says which was used",
    )
    parser.add_argument(
        "--soak",
        action="store_true",
        help="soak mode: latent-vga only, default one hour, results tagged 'soak'",
    )
    args = parser.parse_args()
    if args.large_data:
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
        args.tag = args.tag or "large-data"
    if args.soak:
        if args.cases == list(CASES):
            args.cases = ["latent-vga"]
        if "--seconds" not in sys.argv:
            args.seconds = 3600.0
        args.tag = args.tag or "soak"
    if os.getloadavg()[0] > 1.5:
        print(
            f"[latency] WARNING: load average {os.getloadavg()[0]:.2f} > 1.5: other work is "
            "running; "
            f"figures will be pessimistic (recorded in the report)",
            flush=True,
        )

    machine = machine_description()
    workdir = args.results / "raw"
    workdir.mkdir(parents=True, exist_ok=True)
    extra = [token for p in args.node_param for token in ("-p", p)]
    checkpoint, checkpoint_note, native = resolve_checkpoint(args.checkpoint, workdir)
    results = []
    for name in args.cases:
        case = CASES[name]
        if case.width == 0:
            case = Case(case.name, case.model, native, native, case.cpu_load)
        print(f"[latency] {name}: {args.seconds:.0f} s ...", flush=True)
        result = run_case(
            case, args.seconds, args.warmup, args.budget_ms, workdir, extra, checkpoint
        )
        lat = result["latency_ms"]
        print(
            f"[latency] {name}: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, p99 "
            f"{lat['p99']:.1f} ms, "
            f"max {lat['max']:.1f} ms, {result['predictions']}/{result['frames_sent']} frames "
            "predicted",
            flush=True,
        )
        results.append(result)
    label = (
        ("gpu-" + machine["gpu"].split()[-1].lower())
        if machine["gpu"]
        else f"cpu{machine['logical_cores']}"
    )
    stem = f"latency-{label}{('-' + args.tag) if args.tag else ''}"
    command = "bench/latency.py " + " ".join(sys.argv[1:])
    (args.results / f"{stem}.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "command": command,
                "checkpoint": checkpoint_note,
                "results": results,
            },
            indent=1,
        )
    )
    (args.results / f"{stem}.md").write_text(markdown(machine, results, checkpoint_note, command))
    print(f"[latency] wrote {args.results / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
