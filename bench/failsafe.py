"""Time from the last usable input to the robot's zero command, for each input fault, over DDS.

The planner's safety contract (docs/planner.md): whatever makes the input unusable, the robot
gets a zero command within ``stale_timeout_s`` + one control period of the last usable input,
and zero keeps coming every period while the fault lasts. This script starts mpc_planner_node
as a user does (console script, the shipped config/mpc_planner.yaml; the kinematic model, so
the figure is the contract's and not the model's; ``use_camera: true`` so camera faults
count), drives it towards a far goal with good odometry and camera frames, then injects one
fault and measures, on receipt in this process (so DDS latency is included):

- ``zero_after_s``: from publishing the last usable input to receiving the first zero command;
- ``zeros_per_s``: zero commands received per second while the fault lasts (target: the
  control rate).

Faults: silence, republished odometry (the same message again), frozen odometry stamps (fresh
poses), NaN odometry, implausible odometry (1e308 m/s), camera frames of an unsupported
encoding, camera frames of the wrong size, and (state_source: twin) states from another
checkpoint. Each fault is repeated ``--repeats`` times. Results: bench/results/failsafe-<tag>
.json and .md, with the machine. Run timed figures alone on the machine.

    .venv/bin/python bench/failsafe.py --repeats 5
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

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "test"), str(HERE)]
os.environ.setdefault("WMR_TEST_DOMAIN_ID", str(160 + os.getpid() % 40))

import conftest  # noqa: E402,F401 - sets the ROS domain before rclpy loads
import malformed as mf  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from conftest import REPO, NodeProcess  # noqa: E402
from geometry_msgs.msg import PoseStamped, Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_harness import RosTestNode  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from world_model_ros.msg import WorldModelState  # noqa: E402

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
FEED_PERIOD_S = 0.02  # odometry at 50 Hz, the camera with it


class Rig:
    def __init__(
        self, ros: RosTestNode, state_source: str, log_dir: Path, model: str = "kinematic"
    ):
        self.ros, self.twin = ros, state_source == "twin"
        ns = self.namespace = f"/failsafe_{state_source}"
        params = [
            "--ros-args",
            "--params-file",
            str(REPO / "config" / "mpc_planner.yaml"),
            "-r",
            f"__ns:={ns}",
            *("-p", f"model:={model}", "-p", f"state_source:={state_source}"),
            *("-p", "use_camera:='true'", "-p", "seed:=1"),
        ]
        self.node = NodeProcess("mpc_planner_node", params, log_dir / f"{state_source}.log")
        self.odom = ros.publisher(Odometry, f"{ns}/odom", RELIABLE)
        self.camera = ros.publisher(Image, f"{ns}/camera/image_raw", RELIABLE)
        self.state = ros.publisher(WorldModelState, f"{ns}/world_model/state", RELIABLE)
        self.goal = ros.publisher(PoseStamped, f"{ns}/goal_pose", RELIABLE)
        self.commands: list[tuple[float, float, float]] = []  # (received s, v, w)
        ros.node.create_subscription(
            Twist,
            f"{ns}/cmd_vel",
            lambda m: self.commands.append((self.now_s(), m.linear.x, m.angular.z)),
            RELIABLE,
        )
        inputs = ["world_model/state"] if self.twin else ["odom", "camera/image_raw"]
        for topic in (*inputs, "goal_pose"):
            ros.wait_for_subscriber(f"{ns}/{topic}", 60.0)
        ros.wait_for_publisher(f"{ns}/cmd_vel", 60.0)

    def now_s(self) -> float:
        return self.ros.node.get_clock().now().nanoseconds * 1e-9

    def good(self) -> float:
        """One period of usable input; returns when it was published."""
        t = self.now_s()
        if self.twin:
            self.state.publish(mf.state(t))
        else:
            self.odom.publish(mf.odometry(t))
            self.camera.publish(mf.image(t, 64, 48))
        return t

    def spin_for(self, seconds: float, feed) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            feed()
            self.ros.spin(FEED_PERIOD_S)

    def drive(self) -> None:
        self.goal.publish(mf.goal(self.now_s(), x=50.0))
        self.commands.clear()

        def moving() -> bool:
            self.good()
            recent = self.commands[-3:]
            return len(recent) == 3 and all(abs(v) > 0.02 or abs(w) > 0.02 for _, v, w in recent)

        self.ros.wait_for(moving, 30.0, "non-zero commands from good input")
        self.spin_for(0.3, self.good)


def fault_feeds(rig: Rig) -> dict:
    """name -> a function publishing one period of the fault (state_source local)."""
    frozen = {}

    def republished():  # the last usable odometry message, again and again
        rig.odom.publish(mf.odometry(frozen["last_good_s"]))
        rig.camera.publish(mf.image(rig.now_s(), 64, 48))

    def frozen_stamp():  # fresh poses under the last usable message's stamp
        frozen["x"] = frozen.get("x", 0.0) + 0.001
        rig.odom.publish(mf.odometry(frozen["last_good_s"], x=frozen["x"]))
        rig.camera.publish(mf.image(rig.now_s(), 64, 48))

    def bad_odom(field: str, value: float):
        def feed():
            msg = mf.odometry(rig.now_s())
            if field == "x":
                msg.pose.pose.position.x = value
            else:
                msg.twist.twist.linear.x = value
            rig.odom.publish(msg)
            rig.camera.publish(mf.image(rig.now_s(), 64, 48))

        return feed

    def camera(**kwargs):
        def feed():
            t = rig.now_s()
            rig.odom.publish(mf.odometry(t))
            rig.camera.publish(mf.image(t, **kwargs))

        return feed

    return {
        "silence": lambda: None,
        "republished_odometry": republished,
        "frozen_odometry_stamps": frozen_stamp,
        "nan_odometry": bad_odom("x", math.nan),
        "implausible_odometry_1e308": bad_odom("v", 1e308),
        "camera_bad_encoding": camera(width=64, height=48, encoding="yuv422"),
        "camera_wrong_size": camera(width=64, height=48, data=bytes(1000)),
    }, frozen


def twin_feeds(rig: Rig) -> tuple[dict, dict]:
    """name -> one period of the fault (state_source twin)."""

    def wrong_checkpoint():
        msg = mf.state(rig.now_s(), model_id="latent:other")
        msg.checkpoint_sha256 = "ab" * 32
        rig.state.publish(msg)

    return {"twin_silence": lambda: None, "wrong_checkpoint_state": wrong_checkpoint}, {}


def measure(rig: Rig, feed, shared: dict, hold_s: float = 1.0) -> dict:
    rig.drive()
    shared.clear()
    last_good = shared["last_good_s"] = rig.good()
    rig.commands.clear()
    deadline = time.monotonic() + 5.0
    zero_at = None
    while time.monotonic() < deadline and zero_at is None:
        feed()
        rig.ros.spin(FEED_PERIOD_S)
        zero_at = next((t for t, v, w in rig.commands if v == 0.0 and w == 0.0), None)
    if zero_at is None:
        return {"zero_after_s": math.inf, "zeros_per_s": 0.0, "nonzero_while_held": 0}
    rig.commands.clear()
    rig.spin_for(hold_s, feed)
    zeros = sum(1 for _, v, w in rig.commands if v == 0.0 and w == 0.0)
    return {
        "zero_after_s": zero_at - last_good,
        "zeros_per_s": zeros / hold_s,
        "nonzero_while_held": len(rig.commands) - zeros,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tag", default="cpu2")
    args = parser.parse_args()
    import torch
    from planning import machine_description  # bench/planning.py

    context = rclpy.Context()
    rclpy.init(context=context)
    ros = RosTestNode(context, "failsafe_bench")
    results: dict[str, list[dict]] = {}
    log_dir = Path(tempfile.mkdtemp(prefix="failsafe-"))
    try:
        for source in ("local", "twin"):
            rig = Rig(ros, source, log_dir)
            try:
                feeds, frozen = fault_feeds(rig) if source == "local" else twin_feeds(rig)
                for name, feed in feeds.items():
                    for _ in range(args.repeats):
                        result = measure(rig, feed, frozen)
                        results.setdefault(name, []).append(result)
                        print(name, {k: round(v, 3) for k, v in result.items()}, flush=True)
                    assert rig.node.alive(), rig.node.output()[-3000:]
            finally:
                rig.node.stop()
    finally:
        ros.destroy()
        rclpy.shutdown(context=context)

    bound_s = 0.5 + 1.0 / 10.0  # config/mpc_planner.yaml: stale_timeout_s + one period at 10 Hz
    rows, summary = [], {}
    for name, runs in results.items():
        zero = np.array([r["zero_after_s"] for r in runs])
        rate = np.array([r["zeros_per_s"] for r in runs])
        nonzero = sum(r["nonzero_while_held"] for r in runs)
        summary[name] = {
            "runs": len(runs),
            "zero_after_s_median": float(np.median(zero)),
            "zero_after_s_max": float(zero.max()),
            "zeros_per_s_min": float(rate.min()),
            "nonzero_while_held": int(nonzero),
            "within_bound": bool(zero.max() <= bound_s),
        }
        rows.append(
            f"| {name} | {len(runs)} | {np.median(zero):.3f} | {zero.max():.3f} | "
            f"{rate.min():.1f} | {nonzero} | {'yes' if zero.max() <= bound_s else 'NO'} |"
        )
    machine = machine_description(torch.device("cpu"))
    report = {"bound_s": bound_s, "machine": machine, "faults": summary, "runs": results}
    out = HERE / "results" / f"failsafe-{args.tag}"
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    load = os.getloadavg()
    out.with_suffix(".md").write_text(
        "\n".join(
            [
                f"# Zero command after the last usable input, per fault ({args.tag})",
                "",
                f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
                f"{machine['memory_gib']} GiB, no GPU; load average at the end "
                f"{load[0]:.2f}. Command: `.venv/bin/python bench/failsafe.py --repeats "
                f"{args.repeats}` (alone on the machine).",
                "",
                "mpc_planner_node with config/mpc_planner.yaml (stale_timeout_s 0.5, 10 Hz), "
                "kinematic model, use_camera true; fed odometry and 64x48 camera frames at 50 "
                "Hz (or twin states) towards a goal 50 m away until it drove, then one fault. "
                "Times on receipt over DDS (loopback) in the feeding process. Bound: "
                f"stale_timeout_s + one period = {bound_s:.1f} s.",
                "",
                "| fault | runs | zero after (s), median | max | zeros / s while held, min "
                "| non-zero commands while held | within bound |",
                "|---|---|---|---|---|---|---|",
                *rows,
                "",
            ]
        )
    )
    print(out.with_suffix(".md").read_text())
    return 0 if all(s["within_bound"] for s in summary.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
