#!/usr/bin/env python3
"""One twin or two encoders: the demo's three nodes over DDS, the planner's state source switched.

Runs what ``launch/demo.launch.py`` runs (sim_node with a VGA camera at 30 Hz, world_model_node,
mpc_planner_node, all on simulated time, real-time factor 1) twice: once with the planner
encoding camera + odometry itself (``state_source: local``, how the package worked before) and
once planning from the twin's ``world_model/state`` (``state_source: twin``). A goal is kept
active the whole time (a new free goal whenever one ends), so the planner plans every cycle.

Reported per mode: CPU of each node (psutil, over the measured window), the processes the
camera reaches and the camera bytes moved per second (frames x 640x480x3 x subscribers), the
planner's end-to-end latency (camera stamp -> plan published, from the plan's ``latency``
field) and, in twin mode, the added delay state -> plan (the twin's state received here -> the
plan planned from it received here, same stamp).

    .venv/bin/python bench/twin_pipeline.py --seconds 60        # both modes, ~3 minutes

Results: bench/results/twin-pipeline-cpu2.json and .md (the machine written down).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_description, percentiles  # noqa: E402

from world_model_ros.cli.demo_ros import start_process, stop_process

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WIDTH, HEIGHT, RATE_HZ = 640, 480, 30.0
LAYOUT = 10_000


class Watcher:
    """This process's rclpy node: keeps a goal active, times states and plans on arrival."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        from world_model_ros.msg import PlannerStatus, WorldModelPrediction, WorldModelState

        self.rclpy = rclpy
        rclpy.init()
        self.node = rclpy.create_node("twin_pipeline_bench")
        self.PoseStamped = PoseStamped
        self.goal_pub = self.node.create_publisher(PoseStamped, "goal_pose", 10)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.node.create_subscription(PlannerStatus, "mpc_planner/status", self.on_status, latched)
        self.node.create_subscription(WorldModelState, "world_model/state", self.on_state, 50)
        self.node.create_subscription(WorldModelPrediction, "mpc_planner/plan", self.on_plan, 50)
        self.status = ""
        self.state_at: dict[int, float] = {}
        self.plan_latency_ms: list[float] = []
        self.state_to_plan_ms: list[float] = []
        self.plans = 0
        self.recording = False

    @staticmethod
    def stamp_ns(header) -> int:
        return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec

    def on_status(self, msg) -> None:
        self.status = msg.state

    def on_state(self, msg) -> None:
        self.state_at[self.stamp_ns(msg.header)] = time.monotonic()
        if len(self.state_at) > 2000:
            self.state_at.pop(next(iter(self.state_at)))

    def on_plan(self, msg) -> None:
        self.plans += 1
        if not self.recording:
            return
        self.plan_latency_ms.append((msg.latency.sec + 1e-9 * msg.latency.nanosec) * 1e3)
        received = self.state_at.get(self.stamp_ns(msg.header))
        if received is not None:
            self.state_to_plan_ms.append((time.monotonic() - received) * 1e3)

    def send_goal(self, xy) -> None:
        msg = self.PoseStamped()
        msg.header.frame_id = "odom"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y = float(xy[0]), float(xy[1])
        msg.pose.orientation.w = 1.0
        self.goal_pub.publish(msg)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.rclpy.spin_once(self.node, timeout_sec=0.02)

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.shutdown()


def goals(count: int) -> list[np.ndarray]:
    """Free poses of the layout, far apart, to keep the planner busy."""
    from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

    sim = DiffDriveSim(SimConfig(), layout_seed=LAYOUT)
    rng = np.random.default_rng(0)
    out = [np.asarray(sim.sample_free_pose(rng, clearance_m=0.3))[:2] for _ in range(count)]
    sim.close()
    return out


def run_mode(mode: str, seconds: float, warmup_s: float, workdir: Path, domain: int) -> dict:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    sim_args = [
        "--params-file", str(REPO / "config/sim.yaml"),
        "-p", f"layout_seed:={LAYOUT}", "-p", f"camera_width:={WIDTH}",
        "-p", f"camera_height:={HEIGHT}", "-p", f"camera_rate_hz:={RATE_HZ}",
    ]  # fmt: skip
    sim_time = ["-p", "use_sim_time:=true"]
    processes = {
        "sim_node": start_process("sim_node", sim_args, workdir / f"{mode}-sim.log", env),
        "world_model_node": start_process(
            "world_model_node",
            ["--params-file", str(REPO / "config/world_model.yaml"), *sim_time],
            workdir / f"{mode}-world_model.log",
            env,
        ),
        "mpc_planner_node": start_process(
            "mpc_planner_node",
            ["--params-file", str(REPO / "config/mpc_planner.yaml"), *sim_time,
             "-p", f"state_source:={mode}", "-p", "costs.use_goal_yaw:=false"],
            workdir / f"{mode}-planner.log",
            env,
        ),
    }  # fmt: skip
    watcher = Watcher()
    targets = goals(20)
    try:
        deadline = time.monotonic() + 120.0
        while watcher.status != "idle" or watcher.node.count_publishers("world_model/state") == 0:
            dead = [n for n, p in processes.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise SystemExit(f"{mode}: {dead or 'nodes'} did not come up; logs in {workdir}")
            watcher.spin(0.2)
        index = 0
        watcher.send_goal(targets[index])

        def keep_busy(seconds_: float) -> None:
            nonlocal index
            end = time.monotonic() + seconds_
            while time.monotonic() < end:
                watcher.spin(0.2)
                if watcher.status in ("reached", "failed", "idle"):
                    index = (index + 1) % len(targets)
                    watcher.send_goal(targets[index])

        keep_busy(warmup_s)
        ps = {name: psutil.Process(p.pid) for name, p in processes.items()}
        before = {name: p.cpu_times() for name, p in ps.items()}
        camera_processes = watcher.node.count_subscribers("camera/image_raw")
        watcher.recording = True
        started = time.monotonic()
        keep_busy(seconds)
        wall = time.monotonic() - started
        after = {name: p.cpu_times() for name, p in ps.items()}
    finally:
        watcher.close()
        for process in processes.values():
            stop_process(process)
    cpu = {
        name: 100.0
        * ((after[name].user + after[name].system) - (before[name].user + before[name].system))
        / wall
        for name in ps
    }
    return {
        "mode": mode,
        "seconds": wall,
        "cpu_percent": cpu,
        "cpu_percent_twin_and_planner": cpu["world_model_node"] + cpu["mpc_planner_node"],
        "camera_processes": camera_processes,
        "camera_mb_per_s": camera_processes * WIDTH * HEIGHT * 3 * RATE_HZ / 1e6,
        "plans": len(watcher.plan_latency_ms),
        "plan_latency_ms": percentiles(watcher.plan_latency_ms),
        "state_to_plan_ms": percentiles(watcher.state_to_plan_ms),
    }


def markdown(machine: dict, results: list[dict], command: str) -> str:
    lines = [
        "# One twin or two encoders: the demo's nodes over DDS",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gib']} GiB, GPU: {machine['gpu'] or 'none'}; torch {machine['torch']}, "
        f"{machine['rmw']}; load average before the run: {machine['load_average_before']}.",
        "",
        f"Command: `{command}`. sim_node {WIDTH}x{HEIGHT} rgb8 at {RATE_HZ:g} Hz, real time; "
        "a goal always active.",
        "",
        "| planner state source | world_model_node CPU % | mpc_planner_node CPU % | both | "
        "sim_node CPU % | camera reaches | camera MB/s | plans | camera -> plan p50 / p95 ms | "
        "state -> plan p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, lat, delay = r["cpu_percent"], r["plan_latency_ms"], r["state_to_plan_ms"]
        delay_text = (
            f"{delay['p50']:.1f} / {delay['p95']:.1f}" if delay.get("count") else "n/a (local)"
        )
        lines.append(
            f"| {r['mode']} | {c['world_model_node']:.0f} | {c['mpc_planner_node']:.0f} | "
            f"{r['cpu_percent_twin_and_planner']:.0f} | {c['sim_node']:.0f} | "
            f"{r['camera_processes']} processes | {r['camera_mb_per_s']:.1f} | {r['plans']} | "
            f"{lat.get('p50', float('nan')):.1f} / {lat.get('p95', float('nan')):.1f} | "
            f"{delay_text} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per mode")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before measuring")
    parser.add_argument("--modes", nargs="+", default=["local", "twin"], choices=["local", "twin"])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    workdir = Path("/tmp") / f"twin_pipeline_{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    machine = machine_description()
    results = [
        run_mode(mode, args.seconds, args.warmup, workdir, 150 + i)
        for i, mode in enumerate(args.modes)
    ]
    command = "python bench/twin_pipeline.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"twin-pipeline-cpu{machine['logical_cores']}"
    (args.out / f"{name}.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2)
    )
    text = markdown(machine, results, command)
    (args.out / f"{name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
