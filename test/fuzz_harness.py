"""Fuzzing the nodes as processes over DDS: what is published to each, what is read back.

A ``Target`` is one node as a user runs it (console script, parameters, its own namespace so
targets never hear each other), the malformed-message strategies for each topic it
subscribes to (test/malformed.py), the outputs that must never hold NaN or inf, and how to
show that good input is still served. ``Fuzzer`` drives one target: it publishes a case,
waits until the node has counted it on ``diagnostics`` (the reason must be one the case
allows), keeps the node's timelines fresh with good input in between, and checks every output
message. The short run is test/test_fuzz.py; the long run (10,000+ messages, memory) is
bench/fuzz.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import malformed as mf
from conftest import NodeProcess
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, Twist
from hypothesis import strategies as st
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import RosTestNode
from sensor_msgs.msg import CompressedImage, Image, LaserScan
from std_msgs.msg import Bool
from visualization_msgs.msg import MarkerArray

from world_model_ros.msg import DomainStatus, WorldModelPrediction, WorldModelState

# What the planner's controller counts itself (not per topic): a state it could not use
CONTROLLER_REASONS = {
    f"controller.{k}" for k in ("unusable", "duplicates", "stamps_backwards", "stamp_outliers")
}
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
TYPES = {
    "odom": Odometry,
    "cmd_vel": Twist,
    "scan": LaserScan,
    "camera/image_raw": Image,
    "camera/image_raw/compressed": CompressedImage,
    "mpc_planner/plan": WorldModelPrediction,
    "ground_truth/contact": Bool,
    "goal_pose": PoseStamped,
    "world_model/state": WorldModelState,
    "world_model/domain": DomainStatus,
}
# Messages any value of which is valid: published, counted as received, never rejected.
ALWAYS_VALID = {
    "ground_truth/contact": st.builds(Bool, data=st.booleans()),
    "world_model/domain": mf.domain_messages(),
}


@dataclass
class Target:
    name: str  # also the namespace
    executable: str
    params: list[str]
    status: str  # suffix of the DiagnosticStatus name that carries the counts
    cases: dict[str, st.SearchStrategy]  # topic -> strategy of malformed Cases
    valid: dict[str, st.SearchStrategy] = field(default_factory=dict)  # topic -> messages
    outputs: dict[str, type] = field(default_factory=dict)  # topic -> type, checked finite
    received_key: dict[str, str] = field(default_factory=dict)  # valid topic -> counter
    extra_reasons: dict[str, set[str]] = field(default_factory=dict)  # topic -> also allowed
    good: tuple[str, ...] = ()  # topics good input goes to

    @property
    def inputs(self) -> set[str]:
        return {*self.cases, *self.valid, *self.good}


def world_model_target(compressed: bool = False) -> Target:
    camera = "camera/image_raw/compressed" if compressed else "camera/image_raw"
    cases = {
        camera: mf.compressed_cases(camera) if compressed else mf.image_cases(camera),
    }
    if not compressed:
        cases.update(
            {
                "odom": mf.odom_cases(),
                "cmd_vel": mf.twist_cases(),
                "scan": mf.scan_cases(),
                "mpc_planner/plan": mf.plan_cases(),
            }
        )
    return Target(
        name="fuzz_wmc" if compressed else "fuzz_wm",
        executable="world_model_node",
        params=[
            "model:=kinematic",
            "diagnostics_period_s:=0.05",
            f"use_compressed:={'true' if compressed else 'false'}",
        ],
        status="prediction",
        cases=cases,
        valid={} if compressed else {"ground_truth/contact": ALWAYS_VALID["ground_truth/contact"]},
        outputs={
            "world_model/prediction": WorldModelPrediction,
            "world_model/predicted_path": PathMsg,
            "world_model/markers": MarkerArray,
            "world_model/state": WorldModelState,
        },
        received_key={"ground_truth/contact": "contact_received"},
        good=("odom", camera),
    )


def planner_target(state_source: str = "local") -> Target:
    twin = state_source == "twin"
    cases = {"goal_pose": mf.goal_cases(), "scan": mf.scan_cases()}  # scan: the LiDAR layer
    if twin:
        cases["world_model/state"] = mf.state_cases()
    else:
        cases["odom"] = mf.odom_cases()
        cases["camera/image_raw"] = mf.image_cases()
    return Target(
        name=f"fuzz_mpc_{state_source}",
        executable="mpc_planner_node",
        params=[
            "model:=kinematic",
            f"state_source:={state_source}",
            "use_camera:='true'",
            "num_samples:=64",
            "control_rate_hz:=20.0",
            "diagnostics_period_s:=0.05",
        ],
        status="control",
        cases=cases,
        valid={"world_model/domain": ALWAYS_VALID["world_model/domain"]},
        outputs={
            "cmd_vel": Twist,
            "mpc_planner/plan": WorldModelPrediction,
            "mpc_planner/markers": MarkerArray,
        },
        received_key={"world_model/domain": "received.domain"},
        # A stray image stamp finds no odometry at it (the planner pairs frames with odometry).
        extra_reasons={"camera/image_raw": {"odometry_out_of_sync"}},
        good=("goal_pose", "world_model/state")
        if twin
        else ("goal_pose", "odom", "camera/image_raw"),
    )


def sim_target() -> Target:
    return Target(
        name="fuzz_sim",
        executable="sim_node",
        params=["camera_width:=32", "camera_height:=32", "diagnostics_period_s:=0.05"],
        status="simulator",
        cases={"cmd_vel": mf.twist_cases()},
        outputs={"odom": Odometry},
        good=("cmd_vel",),
    )


def all_targets() -> list[Target]:
    return [
        world_model_target(),
        world_model_target(compressed=True),
        planner_target("local"),
        planner_target("twin"),
        sim_target(),
    ]


class Fuzzer:
    """One running target: publishers for its inputs, collectors for its outputs."""

    def __init__(self, ros: RosTestNode, target: Target, log_dir: Path, env=None):
        self.ros, self.target = ros, target
        ns = f"/{target.name}"
        self.ns = ns
        args = ["--ros-args", "-r", f"__ns:={ns}", *[t for p in target.params for t in ("-p", p)]]
        self.node = NodeProcess(target.executable, args, log_dir / f"{target.name}.log", env)
        self.pubs = {
            topic: ros.publisher(
                TYPES[topic],
                f"{ns}/{topic}",
                LATCHED if topic == "world_model/domain" else RELIABLE,
            )
            for topic in sorted(target.inputs)
        }
        self.outputs = {
            topic: ros.subscribe(kind, f"{ns}/{topic}", RELIABLE)
            for topic, kind in target.outputs.items()
        }
        self.diagnostics = ros.subscribe(DiagnosticArray, f"{ns}/diagnostics", RELIABLE)
        self.checked = dict.fromkeys(self.outputs, 0)  # messages already checked per output
        self.non_finite: list[str] = []
        self.sent = 0

    # --- reading the node back ------------------------------------------------------------

    def alive_check(self) -> None:
        assert self.node.alive(), f"{self.target.name} died:\n{self.node.output()[-4000:]}"

    def wait(self, condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
        def check() -> bool:
            self.alive_check()
            return condition()

        self.ros.wait_for(check, timeout_s, f"{self.target.name}: {what}")

    def values(self) -> dict[str, str]:
        for array in reversed(self.diagnostics[-5:]):
            found = mf.diagnostic_values(array, self.target.status)
            if found:
                return found
        return {}

    def rejections(self, topic: str) -> dict[str, int]:
        values = self.values()
        name = f"{self.ns}/{topic}" if self.target.executable == "world_model_node" else topic
        counts = mf.rejected_on(values, name)
        if self.target.executable == "mpc_planner_node":  # judged by the controller itself
            for key in CONTROLLER_REASONS:
                counts[key] = int(values.get(key, 0))
        return counts

    def now_s(self) -> float:
        return self.ros.node.get_clock().now().nanoseconds * 1e-9

    def ready(self, timeout_s: float = 60.0) -> None:
        for topic in self.pubs:
            self.wait(
                lambda topic=topic: self.ros.node.count_subscribers(f"{self.ns}/{topic}") > 0,
                f"a subscriber on {topic}",
                timeout_s,
            )
        self.wait(lambda: bool(self.values()), "its diagnostics", timeout_s)

    def check_outputs(self) -> None:
        """Every output message received since the last call: no NaN or inf anywhere."""
        for topic, bucket in self.outputs.items():
            for msg in bucket[self.checked[topic] :]:
                bad = mf.non_finite_fields(msg)
                if bad:
                    self.non_finite.append(f"{topic}: {bad[:5]}")
            self.checked[topic] = len(bucket)
            del bucket[: max(0, len(bucket) - 50)]  # keep memory flat in long runs
            self.checked[topic] = min(self.checked[topic], len(bucket))

    # --- good input -----------------------------------------------------------------------

    def keep_fresh(self) -> None:
        """Good input on the node's timeline: odometry now (world model, planner) and, for the
        world model, a camera frame now (each has its own stamp monitor), so stray stamps never
        line up into a new timeline (five in a row would be believed, and the reset would let
        the next stray through) and the planner's camera path is reached."""
        kind = self.target.executable
        if kind == "sim_node" or self.target.name == "fuzz_mpc_twin":
            return
        now_s = self.now_s()
        self.pubs["odom"].publish(mf.odometry(now_s, x=0.5))
        if kind == "world_model_node":
            if "camera/image_raw/compressed" in self.pubs:
                self.pubs["camera/image_raw/compressed"].publish(mf.compressed(now_s))
            else:
                self.pubs["camera/image_raw"].publish(mf.image(now_s))

    def serves_good_input(self, timeout_s: float = 20.0) -> None:
        """Good input is still served: a prediction, a plan, or a command obeyed."""
        kind = self.target.executable
        if kind == "world_model_node":
            predictions = self.outputs["world_model/prediction"]
            before = len(predictions)

            def fed() -> bool:
                t = self.now_s()
                for dt in (-0.02, 0.0):
                    self.pubs["odom"].publish(mf.odometry(t + dt, x=0.5))
                if "camera/image_raw/compressed" in self.pubs:
                    self.pubs["camera/image_raw/compressed"].publish(mf.compressed(t))
                else:
                    self.pubs["camera/image_raw"].publish(mf.image(t))
                self.ros.spin(0.1)
                return len(predictions) > before

            self.wait(fed, "a prediction from good input", timeout_s)
        elif kind == "mpc_planner_node":
            plans = self.outputs["mpc_planner/plan"]
            before = len(plans)
            self.pubs["goal_pose"].publish(mf.goal(self.now_s(), x=2.0))

            def fed() -> bool:
                t = self.now_s()
                if self.target.name == "fuzz_mpc_twin":
                    self.pubs["world_model/state"].publish(mf.state(t))
                else:
                    self.pubs["odom"].publish(mf.odometry(t))
                    self.pubs["camera/image_raw"].publish(mf.image(t))
                self.ros.spin(0.05)
                return len(plans) > before

            self.wait(fed, "a plan from good input", timeout_s)
        else:
            before = int(self.values().get("cmd_vel_received", 0))

            def fed() -> bool:
                self.pubs["cmd_vel"].publish(mf.twist(0.1, 0.0))
                self.ros.spin(0.05)
                return int(self.values().get("cmd_vel_received", 0)) > before

            self.wait(fed, "a good command counted", timeout_s)
        self.check_outputs()

    # --- malformed input ------------------------------------------------------------------

    def send(self, case: mf.Case) -> dict:
        """Publish ``case`` (after good input); returns what :meth:`counted` needs."""
        self.keep_fresh()
        before = self.rejections(case.topic)
        self.pubs[case.topic].publish(case.build(self.now_s()))
        self.sent += 1
        return {"case": case, "before": before}

    def counted(self, pending: dict) -> list[str]:
        """The reasons counted for a sent case since it was sent ([] while not counted yet)."""
        now = self.rejections(pending["case"].topic)
        return [r for r, n in now.items() if n > pending["before"].get(r, 0)]

    def allowed(self, case: mf.Case) -> set[str]:
        extra = self.target.extra_reasons.get(case.topic, set())
        return case.reasons | extra | CONTROLLER_REASONS

    def reject(self, case: mf.Case, attempts: int = 3, timeout_s: float = 4.0) -> str:
        """Publish ``case`` and wait until the node counts it; returns the reason counted.

        Odometry, commands and plans go to best-effort subscriptions, where DDS may drop a
        message: a case not counted within ``timeout_s`` is published again (built afresh),
        ``attempts`` times in all, before the node is failed for not counting it."""
        for attempt in range(attempts):
            pending = self.send(case)
            try:
                self.wait(lambda p=pending: bool(self.counted(p)), f"{case} counted", timeout_s)
                break
            except AssertionError:
                self.alive_check()
                if attempt == attempts - 1:
                    raise
        counted = self.counted(pending)
        allowed = self.allowed(case)
        assert set(counted) & allowed, f"{case} counted as {counted}, expected one of {allowed}"
        self.keep_fresh()
        self.check_outputs()
        return counted[0]

    def accept(self, topic: str, msg: Any, timeout_s: float = 10.0) -> None:
        """Publish an always-valid message and wait until it is counted as received."""
        key = self.target.received_key[topic]
        before = int(self.values().get(key, 0))
        self.pubs[topic].publish(msg)
        self.sent += 1
        self.wait(lambda: int(self.values().get(key, 0)) > before, f"{topic} received", timeout_s)

    def stop(self) -> int:
        return self.node.stop()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
