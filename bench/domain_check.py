#!/usr/bin/env python3
"""How fast the twin says it is no longer a twin, and how often it says so wrongly.

Two measurements over real DDS, with the nodes started by their console scripts:

``switch`` (time to a domain change): world_model_node (default domain settings) and
mpc_planner_node (state_source twin, fallback kinematic) with a small learned model of a robot
that veers 0.5 rad/s left (test/veering_robot.py: the kinematic model plus that veer, exactly),
and a scripted robot in this process that drives where the planner sends it. Each round lets
the robot veer as the model knows (in domain), then as much the other way (its motion
contradicts the model), then back. Reported per change: seconds from the change to the first
``world_model/domain`` message saying so (its stamp, and its arrival here) and to the first
planner status with the other predictor.

``sim`` (false alarms, and zero-shot on another robot): sim_node (a layout of the embedded
simulator, 64x64 camera, simulated time), world_model_node with the shipped checkpoint (or
--checkpoint) and mpc_planner_node, all on /clock; this process sends goals drawn in free
space of the same layout, a new one whenever the planner reports reached or failed or makes
no progress for 15 s. Reported: the share of simulated time out of domain, the number of
switches, the verdicts' learned/baseline error ratio and coverage, and the first out-of-domain
time after the robot first moved. With ``--robot <name>`` (a sim_node that has robot files),
the same on another robot: the zero-shot case.

    .venv/bin/python bench/domain_check.py switch --rounds 6
    .venv/bin/python bench/domain_check.py sim --seconds 300
    .venv/bin/python bench/domain_check.py sim --seconds 120 --robot large --tag zero-shot-large

Run figures for the docs alone on the machine:
the report records the load average. Results: bench/results/domain-<mode>-<machine>[-tag].md
and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "test"))

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HOME", "/tmp")
os.environ.setdefault("MUJOCO_GL", "egl")

from domain_report import markdown, summarise_sim  # noqa: E402  (bench/domain_report.py)
from latency import machine_description  # noqa: E402  (bench/latency.py)

from world_model_ros.cli.demo_ros import start_process, stop_process  # noqa: E402
from world_model_ros.nodes.conversions import time_to_s  # noqa: E402

CONFIG = {
    name: str(REPO / "config" / f"{name}.yaml") for name in ("world_model", "mpc_planner", "sim")
}


class Watcher:
    """This process's rclpy node: collects the verdicts and the planner's status."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        from world_model_ros.msg import DomainStatus, PlannerStatus

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("domain_bench", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        latched = QoSProfile(
            depth=50,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.domain: list[tuple[float, object]] = []  # (arrival, wall clock; message)
        self.status: list[tuple[float, object]] = []
        self.node.create_subscription(
            DomainStatus,
            "world_model/domain",
            lambda m: self.domain.append((time.time(), m)),
            latched,
        )
        self.node.create_subscription(
            PlannerStatus,
            "mpc_planner/status",
            lambda m: self.status.append((time.time(), m)),
            latched,
        )
        self.goal_pub = self.node.create_publisher(PoseStamped, "goal_pose", 10)
        self.PoseStamped = PoseStamped

    def spin_until(self, condition, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def send_goal(self, x: float, y: float) -> None:
        msg = self.PoseStamped()
        msg.header.frame_id = "odom"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y = float(x), float(y)
        msg.pose.orientation.w = 1.0
        self.goal_pub.publish(msg)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


# --- switch: time to a domain change ------------------------------------------------------------


def run_switch(args, workdir: Path) -> dict:
    from veering_robot import VEER_RADPS, ScriptedRobot, write_veering_checkpoint

    checkpoint = write_veering_checkpoint(workdir / "veer", VEER_RADPS)
    model_id = "latent:veer"
    nodes = [
        start_process(
            "world_model_node",
            ["--params-file", CONFIG["world_model"], "-p", f"checkpoint:={checkpoint}"],
            workdir / "world_model_node.log",
        ),
        start_process(
            "mpc_planner_node",
            [
                *("--params-file", CONFIG["mpc_planner"], "-p", f"checkpoint:={checkpoint}"),
                *("-p", "state_source:=twin", "-p", "goal_timeout_s:=0.0", "-p", "seed:=1"),
            ],
            workdir / "mpc_planner_node.log",
        ),
    ]
    watcher = Watcher()
    rounds = []
    started = time.time()  # the node clock is the wall clock here
    try:
        robot = ScriptedRobot(watcher.node, drift_radps=VEER_RADPS)
        watcher.spin_until(
            lambda: watcher.node.count_subscribers("goal_pose") > 0 and watcher.status,
            120,
            "the planner",
        )
        watcher.send_goal(1000.0, 0.0)

        def verdict(in_domain: bool):
            return lambda: (
                watcher.domain
                and watcher.domain[-1][1].in_domain == in_domain
                and watcher.domain[-1][1].samples >= 10
            )

        for index in range(args.rounds):
            # In domain over a full window of driving as the model knows, before each change.
            watcher.spin_for(args.settle_s)
            watcher.spin_until(verdict(True), 120, f"round {index}: in domain before the change")
            row = {"round": index}
            for phase, drift, expect, predictor in (
                ("out", -VEER_RADPS, False, "kinematic"),
                ("back", VEER_RADPS, True, model_id),
            ):
                robot.drift_radps = drift
                changed_wall = time.time()
                changed_ros = robot.now_s()
                count = len(watcher.domain)
                watcher.spin_until(
                    lambda count=count, expect=expect: any(
                        m.in_domain == expect for _, m in watcher.domain[count:]
                    ),
                    120,
                    f"round {index}: in_domain {expect}",
                )
                arrival, msg = next(
                    (a, m) for a, m in watcher.domain[count:] if m.in_domain == expect
                )
                status_count = len(watcher.status)
                watcher.spin_until(
                    lambda n=status_count, p=predictor: (
                        any(m.predictor == p for _, m in watcher.status[n:])
                        or watcher.status[-1][1].predictor == p
                    ),
                    30,
                    f"round {index}: the planner on {predictor}",
                )
                planner_at = next(
                    (a for a, m in watcher.status[status_count:] if m.predictor == predictor),
                    arrival,
                )
                row[f"{phase}_stamp_s"] = time_to_s(msg.header.stamp) - changed_ros
                row[f"{phase}_arrival_s"] = arrival - changed_wall
                row[f"{phase}_planner_s"] = planner_at - changed_wall
                row[f"{phase}_reason"] = msg.reason
                if phase == "out":
                    watcher.spin_for(args.settle_s)
            rounds.append(row)
            print(
                f"round {index}: out after {row['out_stamp_s']:.1f} s (planner "
                f"{row['out_planner_s']:.1f} s), back after {row['back_stamp_s']:.1f} s",
                flush=True,
            )
    finally:
        watcher.close()
        for node in nodes:
            stop_process(node)
    changes = []  # every in/out change of the verdict, for the record
    for _, m in watcher.domain:
        if not changes or changes[-1]["in_domain"] != m.in_domain:
            changes.append(
                {
                    "t_s": round(time_to_s(m.header.stamp) - started, 2),
                    "in_domain": m.in_domain,
                    "reason": m.reason,
                }
            )
    return {"rounds": rounds, "verdict_changes": changes}


# --- sim: false alarms (and zero-shot) on the embedded simulator --------------------------------


def run_sim(args, workdir: Path) -> dict:
    from nav_msgs.msg import Odometry

    from world_model_ros.core.geometry import quaternion_to_yaw
    from world_model_ros.nodes.qos import ODOM_QOS
    from world_model_ros.sim.robots import load_robot
    from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

    robot = load_robot(args.robot or None)

    sim_args = [
        *("--params-file", CONFIG["sim"], "-p", f"layout_seed:={args.layout_seed}"),
        *("-p", "camera_width:=64", "-p", "camera_height:=64"),
    ]
    if args.robot:
        sim_args += ["-p", f"robot:={args.robot}"]
    model_args = ["-p", "use_sim_time:=true"]
    if robot.cmd_vel_stamped:  # its base takes TwistStamped: so must the planner and the twin
        model_args += ["-p", "cmd_vel_stamped:=true"]
    if args.checkpoint:
        model_args += ["-p", f"checkpoint:={args.checkpoint}"]
    nodes = [
        start_process("sim_node", sim_args, workdir / "sim_node.log"),
        start_process(
            "world_model_node",
            ["--params-file", CONFIG["world_model"], *model_args],
            workdir / "world_model_node.log",
        ),
        start_process(
            "mpc_planner_node",
            [
                *("--params-file", CONFIG["mpc_planner"], *model_args),
                *("-p", "state_source:=twin", "-p", "seed:=1"),
                *("-p", "costs.use_goal_yaw:=false", "-p", "yaw_goal_tolerance:=3.1416"),
                *("-p", "xy_goal_tolerance:=0.2", "-p", "goal_timeout_s:=40.0"),
            ],
            workdir / "mpc_planner_node.log",
        ),
    ]
    watcher = Watcher()
    odom: list[tuple[float, np.ndarray]] = []

    def on_odom(msg) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        pose = np.array([p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w)])
        odom.append((time_to_s(msg.header.stamp), pose))
        del odom[:-2000]

    watcher.node.create_subscription(Odometry, "odom", on_odom, ODOM_QOS)
    local = DiffDriveSim(SimConfig(), args.layout_seed)  # the same arena, to draw free goals
    rng = np.random.default_rng(args.seed)
    goals = reached = 0
    first_moved_s = math.nan
    try:
        watcher.spin_until(
            lambda: odom and watcher.status and watcher.node.count_subscribers("goal_pose") > 0,
            180,
            "sim_node's odometry and the planner",
        )
        start_sim_s = odom[-1][0]
        start_pose = odom[-1][1]

        def new_goal():
            nonlocal goals
            local.reset(start_pose=tuple(odom[-1][1]))
            try:
                goal = local.sample_goal(rng, min_distance_m=2.0)
            except RuntimeError:
                goal = local.sample_free_pose(rng)
            watcher.send_goal(goal[0], goal[1])
            goals += 1
            return goal

        goal = new_goal()
        best, best_at = math.inf, odom[-1][0]
        last_status = len(watcher.status)
        while odom[-1][0] - start_sim_s < args.seconds:
            watcher.spin_for(0.2)
            now_s, pose = odom[-1]
            if math.isnan(first_moved_s) and np.hypot(*(pose[:2] - start_pose[:2])) > 0.05:
                first_moved_s = now_s
            distance = float(np.hypot(*(pose[:2] - np.asarray(goal[:2]))))
            if distance < best - 0.1:
                best, best_at = distance, now_s
            states = [m.state for _, m in watcher.status[last_status:]]
            last_status = len(watcher.status)
            if "reached" in states or "failed" in states or now_s - best_at > 15.0:
                reached += "reached" in states
                watcher.spin_for(0.5)
                goal = new_goal()
                best, best_at = math.inf, odom[-1][0]
        end_sim_s = odom[-1][0]
    finally:
        watcher.close()
        for node in nodes:
            stop_process(node)
    verdicts = [
        {
            "stamp_s": time_to_s(m.header.stamp),
            "in_domain": m.in_domain,
            "learned_m": m.learned_error_m,
            "baseline_m": m.baseline_error_m,
            "coverage": m.coverage_95,
            "samples": m.samples,
            "reason": m.reason,
        }
        for _, m in watcher.domain
        if start_sim_s <= time_to_s(m.header.stamp) <= end_sim_s
    ]
    return summarise_sim(verdicts, start_sim_s, end_sim_s, first_moved_s, goals, reached)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    switch = sub.add_parser("switch", help="time to a domain change (scripted veering robot)")
    switch.add_argument("--rounds", type=int, default=6)
    switch.add_argument("--settle-s", type=float, default=12.0, help="driving before a change")
    sim = sub.add_parser("sim", help="false alarms (or zero-shot with --robot) on sim_node")
    sim.add_argument("--seconds", type=float, default=300.0, help="simulated seconds of driving")
    sim.add_argument("--layout-seed", type=int, default=10000)
    sim.add_argument("--seed", type=int, default=0, help="goal sampler seed")
    sim.add_argument("--checkpoint", default="", help="'' = the shipped checkpoint")
    sim.add_argument("--robot", default="", help="sim_node robot file (another robot)")
    for p in (switch, sim):
        p.add_argument("--tag", default="")
        p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    machine = machine_description()
    command = "bench/domain_check.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="domain_bench_") as tmp:
        workdir = Path(tmp)
        try:
            result = run_switch(args, workdir) if args.mode == "switch" else run_sim(args, workdir)
        except BaseException:
            for log in sorted(workdir.glob("*.log")):
                print(f"--- {log.name} (tail)\n" + log.read_text(errors="replace")[-3000:])
            raise
    name = "cpu%d" % machine["logical_cores"] if not machine["gpu"] else machine["gpu"]
    stem = f"domain-{args.mode}-{name}" + (f"-{args.tag}" if args.tag else "")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine, "command": command, "result": result}
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(args.mode, machine, result, command))
    print((args.out / f"{stem}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
