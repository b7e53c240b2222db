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
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
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


def machine_description() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "logical_cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
        "fastdds_transports": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "default"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
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


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    array = np.asarray(values)
    return {
        "count": len(values),
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "p99": float(np.percentile(array, 99)),
        "max": float(array.max()),
        "mean": float(array.mean()),
    }


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


def markdown(machine: dict, results: list[dict], checkpoint_note: str, command: str) -> str:
    lines = [
        "# world_model_node end-to-end latency",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gib']} GiB, "
        f"GPU: {machine['gpu'] or 'none'}; torch {machine['torch']}, {machine['rmw']}, Fast DDS "
        "transports: "
        f"{machine['fastdds_transports']}; load average before the run: "
        f"{machine['load_average_before']}.",
        "",
        f"Command: `{command}`. Learned model: {checkpoint_note}.",
        "",
        "| case | model | input | load | p50 ms | p95 ms | p99 ms | max ms | >200 ms | misses | "
        "predicted / sent | node CPU % p50 | RSS MiB first min → end | machine load (1-min avg) "
        "during, max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, lat = r["case"], r["latency_ms"]
        lines.append(
            f"| {c['name']} | {c['model']} | {c['width']}×{c['height']} | "
            f"{'1 core busy' if c['cpu_load'] else '-'} | "
            f"{lat['p50']:.1f} | {lat['p95']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f} | "
            f"{r['later_than_200ms']} | "
            f"{100 * r['deadline_miss_rate']:.1f}% | {r['predictions']} / {r['frames_sent']} | "
            f"{r['cpu_percent'].get('p50', float('nan')):.0f} | {r['rss_mib_first_minute']:.0f} → "
            f"{r['rss_mib_end']:.0f} | "
            f"{r.get('machine_load_1min', {}).get('max', float('nan')):.1f} |"
        )
    lines += [
        "",
        "Targets (issue 6) on this machine:",
        "",
        "| target | figure | met |",
        "|---|---|---|",
    ]
    by_name = {r["case"]["name"]: r for r in results}
    checks = []
    if "latent-vga" in by_name:
        r = by_name["latent-vga"]
        checks += [
            (
                "learned model, VGA 30 Hz: e2e p95 <= 60 ms",
                f"{r['latency_ms']['p95']:.1f} ms",
                r["latency_ms"]["p95"] <= 60,
            ),
            (
                "learned model, VGA 30 Hz: e2e p99 <= 100 ms",
                f"{r['latency_ms']['p99']:.1f} ms",
                r["latency_ms"]["p99"] <= 100,
            ),
            (
                "no frame later than 200 ms (warm-up included)",
                f"{r['including_warmup']['later_than_200ms']} of "
                f"{r['including_warmup']['predictions']}",
                r["including_warmup"]["later_than_200ms"] == 0,
            ),
        ]
        if r["seconds"] >= 600 and r.get("rss_mib_at_1_min"):
            growth = 100 * (r["rss_mib_end"] / r["rss_mib_at_1_min"] - 1)
            checks.append(
                (
                    f"RSS at the end of {r['seconds'] / 60:.0f} min within 5 % of RSS at 1 min",
                    f"{growth:+.1f} %",
                    abs(growth) <= 5,
                )
            )
    if "latent-vga-load" in by_name:
        r = by_name["latent-vga-load"]
        checks.append(
            (
                "same, one core saturated by another process: p95 <= 150 ms",
                f"{r['latency_ms']['p95']:.1f} ms",
                r["latency_ms"]["p95"] <= 150,
            )
        )
    lines += [f"| {what} | {figure} | {'yes' if ok else 'NO'} |" for what, figure, ok in checks]
    lines += [
        "",
        "Per-stage time in the node (p50 / p95 ms over its last 300 cycles), frames as the node "
        "counted them "
        "(dropped = replaced by a newer frame before the worker took it: the newest-only policy):",
        "",
        "| case | convert | preprocess | encode | rollout | publish | received | processed | "
        "dropped | skipped |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        st, fr = r["stages_ms"], r["node_frames"]
        lines.append(
            f"| {r['case']['name']} | "
            + " | ".join(f"{st[s]['p50']:.2f} / {st[s]['p95']:.2f}" for s in st)
            + " | "
            + " | ".join(
                str(fr.get(k, "?"))
                for k in (
                    "frames_received",
                    "frames_processed",
                    "frames_dropped",
                    "frames_skipped",
                )
            )
            + " |"
        )
    lines += [
        "",
        "Including the first --warmup seconds of the stream (excluded above): "
        + "; ".join(
            f"{r['case']['name']}: max {r['including_warmup']['max_ms']:.1f} ms, "
            f"{r['including_warmup']['later_than_200ms']} "
            f"of {r['including_warmup']['predictions']} later than 200 ms"
            for r in results
        )
        + ".",
    ]
    lines += [
        "",
        "Over time (p95 latency per tenth of the run; RSS at 1 min after warm-up and at the end):",
        "",
    ]
    for r in results:
        growth = (
            (100 * (r["rss_mib_end"] / r["rss_mib_at_1_min"] - 1))
            if r.get("rss_mib_at_1_min")
            else float("nan")
        )
        lines.append(
            f"- **{r['case']['name']}**: p95 ms "
            + ", ".join(f"{v:.0f}" for v in r["latency_p95_by_segment_ms"])
            + f"; RSS {r['rss_mib_at_1_min'] or float('nan'):.1f} MiB at 1 min -> "
            f"{r['rss_mib_end'] or float('nan'):.1f} "
            f"MiB at the end ({growth:+.1f}%); CPU p50/p95 "
            f"{r['cpu_percent'].get('p50', float('nan')):.0f}/"
            f"{r['cpu_percent'].get('p95', float('nan')):.0f}%"
        )
    return "\n".join(lines) + "\n"


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
