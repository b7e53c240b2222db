"""``world-model-ros demo --ros``: the same demo with the real nodes as processes over DDS.

Per episode it starts ``sim_node`` (that episode's layout), ``world_model_node`` and
``mpc_planner_node`` (planning from the twin's state) from their console scripts, all on
simulated time, sends the goal on
``goal_pose`` and watches ``odom``, ``ground_truth/contact``, ``mpc_planner/status``,
``mpc_planner/plan`` and ``world_model/prediction`` until the planner reports ``reached`` or
``failed: ...`` or the episode times out; then stops the three. Fresh processes per episode
keep simulated time monotonic for every node (a layout is a sim_node parameter).

Differences from the lockstep default: real time (the nodes run concurrently on this machine,
so latency is what a robot would see and results depend on load); the start pose comes from
sim_node's own sampler, so paths differ from the lockstep run; no bag (record one with
``ros2 bag record`` where a ROS 2 install exists). Latencies: planning = the plan's ``latency``
field (publish time - stamp of the observation planned from), prediction = the world-model
node's prediction ``latency`` field.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..sim.demo_runner import DemoConfig, EpisodeResult, EpisodeSetup

REPO_CONFIG = Path(__file__).resolve().parent.parent.parent / "config"
STARTUP_TIMEOUT_S = 60.0


def start_process(
    executable: str, args: list[str], log_path: Path, env: dict | None = None
) -> subprocess.Popen:
    """One of the package's executables (beside this Python) as its own process group, its
    output to ``log_path``."""
    command = [str(Path(sys.executable).parent / executable), "--ros-args", *args]
    log = open(log_path, "ab")
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def stop_process(process: subprocess.Popen) -> None:
    """SIGINT (the nodes' clean stop: a zero command first), SIGKILL after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


class _Watcher:
    """The demo's own rclpy node: sends goals, collects what the nodes publish."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import Odometry
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool

        from world_model_ros.msg import PlannerStatus, WorldModelPrediction

        from ..nodes.qos import CAMERA_QOS, ODOM_QOS

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("demo_watcher", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.PoseStamped = PoseStamped
        self.goal_pub = self.node.create_publisher(PoseStamped, "goal_pose", 10)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.node.create_subscription(
            PlannerStatus, "mpc_planner/status", self._on_status, latched
        )
        self.node.create_subscription(Odometry, "odom", self._on_odom, ODOM_QOS)
        self.node.create_subscription(Bool, "ground_truth/contact", self._on_contact, CAMERA_QOS)
        self.node.create_subscription(WorldModelPrediction, "mpc_planner/plan", self._on_plan, 10)
        self.node.create_subscription(
            WorldModelPrediction, "world_model/prediction", self._on_prediction, 10
        )
        self.clear()

    def clear(self) -> None:
        self.status, self.odom, self.path, self.contacts = "", None, [], 0
        self.planning_ms, self.prediction_ms = [], []

    def _on_status(self, msg) -> None:
        self.status = f"{msg.state}: {msg.reason}" if msg.reason else msg.state

    def _on_odom(self, msg) -> None:
        from ..core.geometry import quaternion_to_yaw

        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        self.odom = (
            msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec,
            np.array([p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w)]),
        )
        self.path.append(self.odom[1])

    def _on_contact(self, msg) -> None:
        self.contacts += int(msg.data)

    def _on_plan(self, msg) -> None:
        self.planning_ms.append((msg.latency.sec + 1e-9 * msg.latency.nanosec) * 1e3)

    def _on_prediction(self, msg) -> None:
        self.prediction_ms.append((msg.latency.sec + 1e-9 * msg.latency.nanosec) * 1e3)

    def spin_until(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def send_goal(self, goal_xyyaw) -> None:
        msg = self.PoseStamped()
        msg.header.frame_id = "odom"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y = float(goal_xyyaw[0]), float(goal_xyyaw[1])
        msg.pose.orientation.w = 1.0
        self.goal_pub.publish(msg)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def run_ros_episodes(
    name: str,
    model_kind: str,
    checkpoint: str,
    setups: list[EpisodeSetup],
    demo: DemoConfig,
    out: Path,
    seed: int,
    progress,
) -> list[EpisodeResult]:
    """One planner (``model_kind``) over ``setups`` with the three nodes as processes."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    watcher = _Watcher()
    results = []
    sim_args = ["-p", "camera_width:=64", "-p", "camera_height:=64", "-p", "real_time_factor:=1.0"]
    model_args = ["-p", f"model:={model_kind}", "-p", "use_sim_time:=true"]
    controller = demo.controller
    if checkpoint:  # an empty override is a parse error in rcl; "" is the default anyway
        model_args += ["-p", f"checkpoint:={checkpoint}"]
    planner_args = [
        "--params-file",
        str(REPO_CONFIG / "mpc_planner.yaml"),
        *model_args,
        "-p",
        f"seed:={seed}",
        "-p",
        "state_source:=twin",
        "-p",
        "costs.use_goal_yaw:=false",
        "-p",
        f"yaw_goal_tolerance:={controller.yaw_goal_tolerance}",
        "-p",
        f"xy_goal_tolerance:={controller.xy_goal_tolerance}",
        "-p",
        f"goal_timeout_s:={demo.max_episode_s}",
    ]
    try:
        for setup in progress(setups):
            logs = out / "ros_logs"
            logs.mkdir(parents=True, exist_ok=True)
            tag = f"{name}-{setup.layout_seed}"
            processes = [
                start_process(
                    "sim_node",
                    [
                        "--params-file",
                        str(REPO_CONFIG / "sim.yaml"),
                        "-p",
                        f"layout_seed:={setup.layout_seed}",
                        *sim_args,
                    ],
                    logs / f"{tag}-sim_node.log",
                ),
                start_process(
                    "world_model_node",
                    ["--params-file", str(REPO_CONFIG / "world_model.yaml"), *model_args],
                    logs / f"{tag}-world_model_node.log",
                ),
                start_process(
                    "mpc_planner_node", planner_args, logs / f"{tag}-mpc_planner_node.log"
                ),
            ]
            try:
                watcher.spin_until(
                    lambda: False, 0.5
                )  # drain what the previous episode's nodes left queued
                watcher.clear()

                def up(processes=processes, logs=logs) -> bool:
                    dead = [p.args[0] for p in processes if p.poll() is not None]
                    if dead:
                        raise RuntimeError(
                            f"{', '.join(Path(d).name for d in dead)} exited at start-up (logs in "
                            f"{logs})"
                        )
                    return watcher.odom is not None and watcher.status == "idle"

                if not watcher.spin_until(up, STARTUP_TIMEOUT_S):
                    raise RuntimeError(
                        f"nodes did not come up within {STARTUP_TIMEOUT_S:.0f} s (logs in {logs})"
                    )
                start_stamp = watcher.odom[0]
                watcher.path.clear()
                watcher.send_goal(setup.goal_xyyaw)
                watcher.spin_until(
                    lambda: watcher.status.startswith(("reached", "failed")),
                    demo.max_episode_s * 1.5 + 10.0,
                )
                status = (
                    watcher.status
                    if watcher.status.startswith(("reached", "failed"))
                    else "failed: timeout"
                )
                pose = watcher.odom[1]
                path = np.array(watcher.path) if watcher.path else pose[None]
                results.append(
                    EpisodeResult(
                        planner=name,
                        setup=EpisodeSetup(setup.layout_seed, tuple(path[0]), setup.goal_xyyaw),
                        reached=status == "reached",
                        collided=watcher.contacts > 0,
                        contact_steps=watcher.contacts,
                        time_s=watcher.odom[0] - start_stamp,
                        final_distance_m=float(
                            np.hypot(*(np.array(setup.goal_xyyaw[:2]) - pose[:2]))
                        ),
                        status=status,
                        detours=0,
                        path_xyyaw=path,
                        planning_ms=list(watcher.planning_ms),
                        prediction_ms=list(watcher.prediction_ms),
                    )
                )
            finally:
                for process in reversed(processes):
                    stop_process(process)
    finally:
        watcher.close()
    return results
