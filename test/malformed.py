"""Malformed messages for every topic the nodes subscribe to, as hypothesis strategies.

Each strategy draws a ``Case``: the topic, a builder that makes the message at publish time
(stamps relative to the node's clock ``now_s``) and the rejection reasons the node may count
for it. Every case is malformed by construction (one field broken on an otherwise plausible
message), so each must be rejected; the reasons say which checks may catch it. Shared by the
fuzz tests (test/test_fuzz.py, a short run) and bench/fuzz.py (the long run). Also the
decompression bomb: a 48.6 KB PNG whose header says 20000 x 20000 pixels.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, Twist
from hypothesis import strategies as st
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CompressedImage, Image, LaserScan

from world_model_ros.msg import DomainStatus, PredictedState, WorldModelPrediction, WorldModelState

INF, NAN = math.inf, math.nan
STAMP_2038_S = 2_147_483_000.0


@dataclass(frozen=True)
class Case:
    topic: str  # relative topic name
    build: Callable[[float], Any]  # now_s -> message
    reasons: frozenset[str]  # what the node may count it as
    label: str  # for the failure message

    def __repr__(self) -> str:
        return f"Case({self.topic}: {self.label})"


def to_time(t_s: float) -> Time:
    ns = int(round(t_s * 1e9))
    sec = max(-(2**31), min(2**31 - 1, ns // 1_000_000_000))
    return Time(sec=sec, nanosec=ns % 1_000_000_000)


# --- good messages ---------------------------------------------------------------------------


def odometry(t_s: float, x=0.0, y=0.0, yaw=0.0, v=0.0, w=0.0, frame="odom") -> Odometry:
    msg = Odometry()
    msg.header.stamp, msg.header.frame_id = to_time(t_s), frame
    msg.child_frame_id = "base_link"
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(x), float(y)
    msg.pose.pose.orientation.z = math.sin(yaw / 2)
    msg.pose.pose.orientation.w = math.cos(yaw / 2)
    msg.twist.twist.linear.x, msg.twist.twist.angular.z = float(v), float(w)
    return msg


def twist(v=0.0, w=0.0) -> Twist:
    msg = Twist()
    msg.linear.x, msg.angular.z = float(v), float(w)
    return msg


def image(t_s: float, width=8, height=6, encoding="rgb8", frame="camera", step=None, data=None):
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(encoding, 3)
    step = width * channels if step is None else step
    msg = Image(height=height, width=width, encoding=encoding, step=step)
    msg.header.stamp, msg.header.frame_id = to_time(t_s), frame
    msg.data = bytes(height * step) if data is None else data
    return msg


@lru_cache(maxsize=None)
def jpeg_bytes() -> bytes:
    return cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()


@lru_cache(maxsize=None)
def png_bytes() -> bytes:
    return cv2.imencode(".png", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()


@lru_cache(maxsize=None)
def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of ``width`` x ``height`` black pixels: 48.7 KB for
    20000 x 20000, 1.2 GB once decoded to RGB (issue finding 4)."""
    deflate = zlib.compressobj(9)
    data = deflate.compress((b"\x00" + bytes((width + 7) // 8)) * height) + deflate.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def compressed(t_s: float, data: bytes | None = None, format="jpeg", frame="camera"):
    msg = CompressedImage(format=format)
    msg.header.stamp, msg.header.frame_id = to_time(t_s), frame
    msg.data = jpeg_bytes() if data is None else data
    return msg


def plan(t_s: float, actions=((0.1, 0.0),) * 20, dt=0.1, frame="odom", states=True):
    msg = WorldModelPrediction(model_id="planner", dt=float(dt), action_source="plan")
    msg.header.stamp, msg.header.frame_id = to_time(t_s), frame
    msg.actions = [twist(v, w) for v, w in actions]
    msg.states = [PredictedState() for _ in actions] if states else []
    return msg


def goal(t_s: float, x=1.0, y=0.0, q=(0.0, 0.0, 0.0, 1.0), frame="odom") -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = to_time(t_s), frame
    msg.pose.position.x, msg.pose.position.y = float(x), float(y)
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    return msg


def state(
    t_s: float, x=0.0, q=(0.0, 0.0, 0.0, 1.0), v=0.0, w=0.0, latent=(), model_id="kinematic"
):
    msg = WorldModelState(model_id=model_id, checkpoint_sha256="")
    msg.header.stamp, msg.header.frame_id = to_time(t_s), "odom"
    msg.pose.position.x = float(x)
    o = msg.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    msg.twist.linear.x, msg.twist.angular.z = float(v), float(w)
    msg.latent = [float(z) for z in latent]
    return msg


# --- what breaks a message -------------------------------------------------------------------

# Finite but absurd, and non-finite: the magnitudes of issue finding 3.
huge = st.sampled_from([1e308, -1e308, 1e30, -1e12, 3.4e38])
non_finite = st.sampled_from([NAN, INF, -INF])
# Another timeline (issue finding 5): stamped 0, an hour old, or in 2038.
stray_stamp = st.sampled_from(["zero", "hour_old", "2038"])


def stray(now_s: float, which: str) -> float:
    return {"zero": 0.0, "hour_old": now_s - 3600.0, "2038": STAMP_2038_S}[which]


def _case(topic, build, reasons, label) -> Case:
    return Case(topic, build, frozenset(reasons.split()), label)


@st.composite
def odom_cases(draw) -> Case:
    kind = draw(
        st.sampled_from(
            [
                "position_nan",
                "position_huge",
                "twist_nan",
                "speed_huge",
                "yaw_rate_huge",
                "covariance_nan",
                "quaternion_norm",
                "quaternion_zero",
                "quaternion_nan",
                "frame_empty",
                "stamp_stray",
            ]
        )
    )
    bad, big = draw(non_finite), draw(huge)
    norm = draw(st.sampled_from([2.0, 0.5, 1.2, 1e6]))
    which, index = draw(stray_stamp), draw(st.integers(0, 35))

    def build(now_s: float) -> Odometry:
        msg = odometry(now_s, x=0.5)
        pose, tw = msg.pose, msg.twist
        if kind == "position_nan":
            pose.pose.position.y = bad
        elif kind == "position_huge":
            pose.pose.position.x = big
        elif kind == "twist_nan":
            tw.twist.angular.z = bad
        elif kind == "speed_huge":
            tw.twist.linear.x = big
        elif kind == "yaw_rate_huge":
            tw.twist.angular.z = big
        elif kind == "covariance_nan":
            (pose if index % 2 else tw).covariance[index] = bad
        elif kind == "quaternion_norm":
            pose.pose.orientation.w = norm
        elif kind == "quaternion_zero":
            pose.pose.orientation.w = 0.0
        elif kind == "quaternion_nan":
            pose.pose.orientation.z = bad
        elif kind == "frame_empty":
            msg.header.frame_id = ""
        else:
            msg.header.stamp = to_time(stray(now_s, which))
        return msg

    reasons = {
        "position_nan": "non_finite",
        "twist_nan": "non_finite",
        "covariance_nan": "non_finite",
        "quaternion_nan": "non_finite",
        "position_huge": "out_of_bounds",
        "speed_huge": "out_of_bounds",
        "yaw_rate_huge": "out_of_bounds",
        "quaternion_norm": "bad_quaternion",
        "quaternion_zero": "bad_quaternion",
        "frame_empty": "empty_frame_id",
        "stamp_stray": "stamp_outlier",
    }[kind]
    return _case("odom", build, reasons, kind)


@st.composite
def twist_cases(draw, topic: str = "cmd_vel") -> Case:
    field = draw(
        st.sampled_from(
            ["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"]
        )
    )
    value = draw(st.one_of(non_finite, huge))

    def build(now_s: float) -> Twist:
        msg = twist(0.1, 0.0)
        part, axis = field.split(".")
        setattr(getattr(msg, part), axis, value)
        return msg

    reason = "out_of_bounds" if math.isfinite(value) else "non_finite"
    return _case(topic, build, reason, f"{field}={value}")


@st.composite
def image_cases(draw, topic: str = "camera/image_raw") -> Case:
    kind = draw(
        st.sampled_from(
            ["encoding", "short", "long", "zero", "huge", "step", "frame_empty", "stamp_stray"]
        )
    )
    encoding = draw(
        st.sampled_from(["yuv422", "16UC1", "bayer_rggb8", "", "RGB8", "rgb16", "jpeg"])
    )
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    cut = draw(st.integers(1, 100))
    big_w, big_h = draw(st.sampled_from([(20000, 20000), (4097, 4097), (100000, 1), (65536, 300)]))
    which = draw(stray_stamp)

    def build(now_s: float) -> Image:
        if kind == "encoding":
            return image(now_s, width, height, encoding=encoding)
        if kind == "short":
            return image(now_s, width, height, data=bytes(max(0, width * height * 3 - cut)))
        if kind == "long":
            return image(now_s, width, height, data=bytes(width * height * 3 + cut))
        if kind == "zero":
            return image(now_s, 0, height if cut % 2 else 0, data=b"")
        if kind == "huge":  # claims a huge size, carries a few bytes
            return image(now_s, big_w, big_h, encoding="mono8", data=bytes(cut))
        if kind == "step":
            return image(
                now_s, width, height, step=width * 3 - 1, data=bytes((width * 3 - 1) * height)
            )
        if kind == "frame_empty":
            return image(now_s, width, height, frame="")
        return image(stray(now_s, which), width, height)

    reasons = {
        "encoding": "bad_encoding",
        "short": "bad_size",
        "long": "bad_size",
        "zero": "bad_size",
        "huge": "bad_size",
        "step": "bad_size",
        "frame_empty": "empty_frame_id",
        "stamp_stray": "stamp_outlier",
    }[kind]
    return _case(topic, build, reasons, f"{kind} {width}x{height} {encoding}")


@st.composite
def compressed_cases(draw, topic: str = "camera/image_raw/compressed") -> Case:
    kind = draw(
        st.sampled_from(
            [
                "garbage",
                "empty",
                "bomb",
                "mismatch",
                "depth",
                "unknown_format",
                "truncated",
                "stamp_stray",
            ]
        )
    )
    garbage = draw(st.binary(min_size=1, max_size=512))
    size = draw(st.sampled_from([(20000, 20000), (5000, 4000), (65535, 300)]))
    which = draw(stray_stamp)
    cut = draw(st.integers(8, 24))
    swap = draw(st.booleans())

    def build(now_s: float) -> CompressedImage:
        if kind == "garbage":  # never a real magic number
            return compressed(now_s, b"\x00" + garbage, format="jpeg")
        if kind == "empty":
            return compressed(now_s, b"")
        if kind == "bomb":
            return compressed(now_s, bomb_png(*size), format="png")
        if kind == "mismatch":
            data, fmt = (
                (png_bytes(), "jpeg") if swap else (jpeg_bytes(), "bgr8; png compressed bgr8")
            )
            return compressed(now_s, data, format=fmt)
        if kind == "depth":
            return compressed(now_s, png_bytes(), format="16UC1; compressedDepth png")
        if kind == "unknown_format":
            return compressed(now_s, png_bytes(), format="tiff")
        if kind == "truncated":
            return compressed(now_s, (png_bytes() if swap else jpeg_bytes())[:cut], format="")
        return compressed(stray(now_s, which))

    reasons = {
        "garbage": "bad_encoding",
        "empty": "bad_size",
        "bomb": "bad_size",
        "mismatch": "format_mismatch",
        "depth": "bad_format",
        "unknown_format": "bad_format",
        "truncated": "bad_encoding",
        "stamp_stray": "stamp_outlier",
    }[kind]
    return _case(topic, build, reasons, kind)


@st.composite
def scan_cases(draw) -> Case:
    kind = draw(
        st.sampled_from(["empty", "too_many", "increment", "angle", "range_limit", "frame"])
    )
    bad = draw(st.sampled_from([NAN, INF, -INF]))
    increment = draw(st.sampled_from([0.0, bad]))

    def build(now_s: float) -> LaserScan:
        msg = LaserScan(angle_min=-math.pi, angle_increment=2 * math.pi / 360)
        msg.header.stamp = to_time(now_s)
        msg.header.frame_id = "" if kind == "frame" else "laser"
        msg.range_min, msg.range_max = 0.1, INF if kind == "range_limit" else 8.0
        msg.ranges = {"empty": [], "too_many": [1.0] * 8193}.get(kind, [1.0] * 360)
        if kind == "increment":
            msg.angle_increment = increment
        if kind == "angle":
            msg.angle_min = bad
        return msg

    reason = "empty_frame_id" if kind == "frame" else "bad_scan"
    return _case("scan", build, reason, f"{kind} {bad}")


@st.composite
def plan_cases(draw) -> Case:
    kind = draw(st.sampled_from(["dt", "empty", "action_nan", "action_huge", "too_many"]))
    dt = draw(st.sampled_from([0.0, -0.1, NAN, INF, 1e-300, 1e300]))
    value, big = draw(non_finite), draw(huge)
    index = draw(st.integers(0, 19))

    def build(now_s: float) -> WorldModelPrediction:
        actions = [(0.1, 0.0)] * 20
        if kind == "dt":
            return plan(now_s, dt=dt)
        if kind == "empty":
            return plan(now_s, actions=[])
        if kind == "too_many":
            return plan(now_s, actions=[(0.1, 0.0)] * 1_001, states=False)
        actions[index] = (value, 0.0) if kind == "action_nan" else (0.1, big)
        return plan(now_s, actions=actions)

    reasons = {
        "dt": "bad_plan",
        "empty": "bad_plan",
        "too_many": "bad_plan",
        "action_nan": "bad_plan non_finite",
        "action_huge": "out_of_bounds",
    }[kind]
    return _case("mpc_planner/plan", build, reasons, f"{kind} dt={dt}")


@st.composite
def goal_cases(draw) -> Case:
    kind = draw(st.sampled_from(["nan", "huge", "quaternion_norm", "quaternion_zero", "frame"]))
    bad, big = draw(non_finite), draw(huge)
    frame = draw(st.sampled_from(["map", "", "base_link", "odom "]))

    def build(now_s: float) -> PoseStamped:
        if kind == "nan":
            return goal(now_s, x=bad)
        if kind == "huge":
            return goal(now_s, y=big)
        if kind == "quaternion_norm":
            return goal(now_s, q=(0.0, 0.0, 0.0, 2.0))
        if kind == "quaternion_zero":
            return goal(now_s, q=(0.0, 0.0, 0.0, 0.0))
        return goal(now_s, frame=frame)

    reasons = {
        "nan": "non_finite",
        "huge": "out_of_bounds",
        "quaternion_norm": "bad_quaternion",
        "quaternion_zero": "bad_quaternion",
        "frame": "wrong_frame",
    }[kind]
    return _case("goal_pose", build, reasons, f"{kind} {frame!r}")


@st.composite
def state_cases(draw) -> Case:
    kind = draw(
        st.sampled_from(
            ["checkpoint", "position", "quaternion", "speed", "latent_nan", "latent_huge", "nan"]
        )
    )
    bad, big = draw(non_finite), draw(huge)

    def build(now_s: float) -> WorldModelState:
        if kind == "checkpoint":
            msg = state(now_s, model_id="latent:other")
            msg.checkpoint_sha256 = "ab" * 32
            return msg
        if kind == "position":
            return state(now_s, x=big)
        if kind == "quaternion":
            return state(now_s, q=(2.0, 0.0, 0.0, 0.0))
        if kind == "speed":
            return state(now_s, v=big)
        if kind == "latent_nan":
            return state(now_s, latent=(0.0, bad, 1.0))
        if kind == "latent_huge":
            return state(now_s, latent=(0.0, 3e38, 1.0))
        return state(now_s, w=bad)

    reasons = {
        "checkpoint": "wrong_checkpoint",
        "position": "out_of_bounds",
        "quaternion": "bad_quaternion",
        "speed": "out_of_bounds",
        "latent_nan": "non_finite",
        "latent_huge": "out_of_bounds",
        "nan": "non_finite",
    }[kind]
    return _case("world_model/state", build, reasons, kind)


def domain_messages() -> st.SearchStrategy:
    """DomainStatus cannot be malformed (bools, strings, float32): any one is taken."""
    floats = st.floats(width=32, allow_nan=True, allow_infinity=True)
    return st.builds(
        DomainStatus,
        in_domain=st.booleans(),
        reason=st.text(max_size=200),
        model_id=st.text(max_size=50),
        learned_error_m=floats,
        baseline_error_m=floats,
        coverage_95=floats,
        samples=st.integers(0, 2**32 - 1),
    )


# --- checks on what the nodes publish --------------------------------------------------------


def non_finite_fields(msg: Any, prefix: str = "") -> list[str]:
    """Paths of every NaN or inf float in a ROS message (recursively)."""
    bad: list[str] = []
    if isinstance(msg, float):
        return [] if math.isfinite(msg) else [prefix or "value"]
    if isinstance(msg, (list, tuple)) or (isinstance(msg, np.ndarray) and msg.dtype.kind == "f"):
        values = np.asarray(msg)
        if values.dtype.kind == "f":
            return [] if np.isfinite(values).all() else [prefix]
        for i, item in enumerate(msg):
            bad += non_finite_fields(item, f"{prefix}[{i}]")
        return bad
    if hasattr(msg, "get_fields_and_field_types"):
        for name in msg.get_fields_and_field_types():
            bad += non_finite_fields(getattr(msg, name), f"{prefix}.{name}" if prefix else name)
    return bad


def diagnostic_values(array: DiagnosticArray, name_suffix: str) -> dict[str, str]:
    """The key/values of the status in ``array`` whose name ends with ``name_suffix``."""
    for status in array.status:
        if status.name.endswith(name_suffix):
            return {kv.key: kv.value for kv in status.values}
    return {}


def rejected_on(values: dict[str, str], topic: str) -> dict[str, int]:
    """{reason: count} of a node's ``rejected.<topic>.<reason>`` diagnostics values."""
    prefix = f"rejected.{topic}."
    return {k[len(prefix) :]: int(v) for k, v in values.items() if k.startswith(prefix)}
