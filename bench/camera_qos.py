#!/usr/bin/env python3
"""Camera QoS: how many frames of a VGA camera in another process world_model_node predicts, by
the publisher's reliability and transport.

Per case, three processes as on a robot: world_model_node (started first, so it sees no camera
publisher yet and has to adapt when it appears), bench/stream_camera.py (640x480 rgb8 at
30 Hz plus odometry, reliable or best effort, Fast DDS defaults or
config/fastdds_shm_large.xml) and bench/record_predictions.py (stamps each prediction on
arrival). Reports frames sent, predicted, and end-to-end latency (camera stamp to prediction
received; "predicted" counts the predictions that process received) and the node's own
frame counts. Writes bench/results/camera-qos-<tag>.md.

    .venv/bin/python bench/camera_qos.py                       # all cases, 20 s each
    .venv/bin/python bench/camera_qos.py --model kinematic --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHM_PROFILE = REPO / "config" / "fastdds_shm_large.xml"
CASES = {  # name: (publisher best effort, publisher uses the shared-memory profile)
    "reliable": (False, False),
    "best-effort": (True, False),
    "best-effort-shm": (True, True),
    "reliable-shm": (False, True),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def run_case(name: str, model: str, seconds: float, workdir: Path) -> dict:
    best_effort, shm = CASES[name]
    env = {**os.environ, "RCUTILS_COLORIZED_OUTPUT": "0"}
    records = workdir / f"{name}.jsonl"
    node_log = open(workdir / f"{name}-node.log", "w")
    node = subprocess.Popen(
        [str(BIN / "world_model_node"), "--ros-args", "--params-file"]
        + [str(REPO / "config/world_model.yaml"), "-p", f"model:={model}"],
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
    # Stream only once the recorder hears the node (its diagnostics): predictions made before
    # would be lost to the figures, not to the camera.
    deadline = time.monotonic() + 120
    while not records.exists() or '"diagnostics"' not in records.read_text():
        if time.monotonic() > deadline or node.poll() is not None:
            raise SystemExit(f"{name}: world_model_node did not come up; see {node_log.name}")
        time.sleep(0.2)
    stream_env = {**env, "FASTDDS_DEFAULT_PROFILES_FILE": str(SHM_PROFILE)} if shm else env
    streamer = subprocess.run(
        [sys.executable, str(REPO / "bench/stream_camera.py"), "--seconds", str(seconds)]
        + (["--best-effort"] if best_effort else []),
        env=stream_env,
        capture_output=True,
        text=True,
        check=True,
    )
    sent = json.loads(streamer.stdout.strip().splitlines()[-1])["sent_images"]
    time.sleep(1.0)  # the last predictions
    for process in (recorder, node):
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    node_log.close()
    rows = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    latencies = {r["stamp_ns"]: r["latency_ms"] for r in rows if r["kind"] == "prediction"}
    switched = "subscribing best_effort" in (workdir / f"{name}-node.log").read_text()
    counts = [
        r["values"]
        for r in rows
        if r["kind"] == "diagnostics" and r["name"].endswith(": prediction")
    ]
    node_counts = counts[-1] if counts else {}
    return {
        "case": name,
        "publisher": ("best effort" if best_effort else "reliable")
        + (", shared-memory profile" if shm else ", Fast DDS defaults"),
        "sent": sent,
        "predicted": len(latencies),
        "p50_ms": statistics.median(latencies.values()) if latencies else float("nan"),
        "p95_ms": percentile(list(latencies.values()), 95),
        "subscription": "best effort" if switched else "reliable",
        "received": node_counts.get("frames_received", "?"),
        "processed": node_counts.get("frames_processed", "?"),
        "dropped": node_counts.get("frames_dropped", "?"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--model", default="latent", choices=["latent", "kinematic"])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--results", type=Path, default=REPO / "bench/results")
    parser.add_argument("--tag", default="cpu2")
    parser.add_argument("--keep", type=Path, help="keep the logs and records in this folder")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = [run_case(name, args.model, args.seconds, workdir) for name in args.cases]
    lines = [
        f"# Camera QoS: VGA frames predicted by publisher ({args.model} model)",
        "",
        f"`{' '.join(sys.argv)}` on {platform.node()} ({os.cpu_count()} logical cores), "
        f"load average before: {load:.2f}; 640x480 rgb8 at 30 Hz for {args.seconds:g} s.",
        "",
        "| publisher | node subscribed | frames sent | node received / processed / dropped "
        "| predicted | e2e p50 | e2e p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['publisher']} | {r['subscription']} | {r['sent']} | {r['received']} / "
            f"{r['processed']} / {r['dropped']} | {r['predicted']} "
            f"({100 * r['predicted'] / max(1, r['sent']):.1f} %) | {r['p50_ms']:.1f} ms | "
            f"{r['p95_ms']:.1f} ms |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"camera-qos-{args.tag}.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
