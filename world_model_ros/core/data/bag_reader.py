"""Reading one bag's messages with ``rosbags`` (no rclpy): which connections play which role,
the timeline of stamps, odometry, commands and contacts (pass 1), and the camera frames the
grid uses, decoded (pass 2).

Apart from the loader (dataset.py) because this is the part that knows message types and wire
formats; what happens on the grid afterwards (resample.py) sees only arrays. Every message that
cannot be used is counted by reason in the :class:`~.load_report.LoadReport`; a bag that cannot
be used as a whole raises :class:`BagProblem`, whose text names it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import overload

import cv2
import numpy as np

from ..geometry import quaternion_to_yaw
from . import bag_extras
from .bag_format import BagTopics
from .camera import fit_image
from .images import ImageError, decode_compressed, decode_raw
from .load_report import LoadReport

IMAGE_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
ODOM_TYPES = {"nav_msgs/msg/Odometry"}
COMMAND_TYPES = {"geometry_msgs/msg/Twist": False, "geometry_msgs/msg/TwistStamped": True}
CONTACT_TYPES = {"std_msgs/msg/Bool"}


class BagProblem(Exception):
    """A bag that cannot be used as a whole (missing topic, wrong type); the text names it."""


@overload
def _norm(topic: str) -> str: ...
@overload
def _norm(topic: None) -> None: ...
def _norm(topic: str | None) -> str | None:
    return None if topic is None else topic.lstrip("/")


def _stamp_ns(msg, receive_ns: int) -> int:
    stamp = msg.header.stamp
    ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    return ns if ns > 0 else receive_ns


# The loader's flag for each role, so a missing topic's error can say what to pass.
_FLAGS = {
    "image": "--image-topic",
    "compressed image": "--compressed-image-topic",
    "odometry": "--odom-topic",
    "command": "--cmd-topic",
    "bumper": "--bumper-topic",
}


def _suggestion(by_topic: dict[str, list], allowed: set[str] | dict, role: str) -> str:
    """'; pass --odom-topic X' when the bag has topics of the role's type under other names
    (a driver's own naming is the commonest reason a user's bag does not load)."""
    flag = _FLAGS.get(role)
    if flag is None or isinstance(allowed, bag_extras.AnyType):
        return ""
    candidates = sorted(t for t, cs in by_topic.items() if any(c.msgtype in allowed for c in cs))
    if not candidates:
        return f"; the bag has no topic of type {', '.join(sorted(allowed))}"
    return "; of that type it has " + ", ".join(f"'{t}' (pass {flag} {t})" for t in candidates)


def pick_connections(reader, path: Path, topics: BagTopics) -> dict:
    """Role -> the bag's connections for it (None for an optional role the bag lacks);
    raises BagProblem for a required topic that is missing or of the wrong type."""
    t = topics
    by_topic: dict[str, list] = {}
    for connection in reader.connections:
        by_topic.setdefault(_norm(connection.topic), []).append(connection)

    def pick(topic: str | None, allowed: set[str] | dict, role: str, required: bool):
        if topic is None or _norm(topic) not in by_topic:
            if required:
                raise BagProblem(
                    f"{path}: no {role} topic '{topic}' (topics: {', '.join(sorted(by_topic))})"
                    + _suggestion(by_topic, allowed, role)
                )
            return None
        connections = [c for c in by_topic[_norm(topic)] if c.msgtype in allowed]
        if not connections:
            types = {c.msgtype for c in by_topic[_norm(topic)]}
            raise BagProblem(
                f"{path}: {role} topic '{topic}' has type {', '.join(types)}; "
                f"expected one of {', '.join(sorted(allowed))}"
            )
        return connections

    image = None
    if t.compressed_image is not None and _norm(t.compressed_image) in by_topic:
        image = pick(t.compressed_image, IMAGE_TYPES, "compressed image", True)
    image = image or pick(t.image, IMAGE_TYPES, "image", True)
    command = pick(t.command, COMMAND_TYPES, "command", True)
    stamped = COMMAND_TYPES[command[0].msgtype]
    if t.command_stamped is not None and t.command_stamped != stamped:
        raise BagProblem(
            f"{path}: command topic '{t.command}' is {command[0].msgtype} but "
            f"command_stamped={t.command_stamped} was configured"
        )
    return {
        "image": image,
        "odom": pick(t.odom, ODOM_TYPES, "odometry", True),
        "command": command,
        "contact": pick(t.contact, CONTACT_TYPES, "contact", False),
        "camera_info": pick(t.camera_info, bag_extras.CAMERA_INFO_TYPES, "camera_info", False),
        "bumper": pick(t.bumper, bag_extras.AnyType(), "bumper", t.bumper is not None),
    }


def read_timeline(reader, roles: dict, bumper_field: str, report: LoadReport) -> dict:
    """Pass 1: stamps of every camera frame, odometry, commands and contacts, sorted; unstamped
    messages shifted onto the odometry stamps' clock."""
    role_of = {
        c.id: role for role, connections in roles.items() if connections for c in connections
    }
    wanted = [c for connections in roles.values() if connections for c in connections]
    image_ns, odom_rows, odom_receive, command_rows, contact_rows = [], [], [], [], []
    extras = bag_extras.Extras(bumper_field)
    for connection, receive_ns, raw in reader.messages(connections=wanted):
        role = role_of[connection.id]
        report.messages_read[connection.topic] += 1
        try:
            msg = reader.deserialize(raw, connection.msgtype)
        except Exception:
            report.skipped[f"undecodable:{connection.topic}"] += 1
            if role == "image":
                image_ns.append(-1)  # keep the ordinal numbering of pass 2 in step
            continue
        if role == "image":
            image_ns.append(_stamp_ns(msg, receive_ns))
        elif role in ("camera_info", "bumper"):
            extras.add(role, msg, receive_ns, connection.topic, report)
        elif role == "odom":
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            v, w = msg.twist.twist.linear.x, msg.twist.twist.angular.z
            row = (_stamp_ns(msg, receive_ns), p.x, p.y, q.x, q.y, q.z, q.w, v, w)
            if (
                not all(math.isfinite(x) for x in row[1:])
                or (q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w) < 1e-6
            ):
                report.skipped[f"non_finite_or_bad_quaternion:{connection.topic}"] += 1
                continue
            odom_rows.append((row[0], p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w), v, w))
            odom_receive.append(receive_ns)
        elif role == "command":
            twist = msg.twist if connection.msgtype.endswith("TwistStamped") else msg
            vw = (twist.linear.x, twist.angular.z)
            if not all(math.isfinite(x) for x in vw):
                report.skipped[f"non_finite:{connection.topic}"] += 1
                continue
            stamped = connection.msgtype.endswith("TwistStamped")
            command_rows.append(
                (_stamp_ns(msg, receive_ns) if stamped else receive_ns, stamped, *vw)
            )
        else:
            contact_rows.append((receive_ns, bool(msg.data)))
    odom = np.array(odom_rows, dtype=np.float64).reshape(-1, 6)
    odom_t = np.array([r[0] for r in odom_rows], dtype=np.int64)
    # Clock offset between stamps and receive times, for unstamped messages.
    offset_ns = int(np.median(odom_t - np.array(odom_receive, dtype=np.int64))) if odom_rows else 0
    cmd_t = np.array(
        [t if stamped else t + offset_ns for t, stamped, _, _ in command_rows], dtype=np.int64
    )
    cmd_vw = np.array([(v, w) for _, _, v, w in command_rows], dtype=np.float64).reshape(-1, 2)
    contact_t = np.array([t + offset_ns for t, _ in contact_rows], dtype=np.int64)
    contact_v = np.array([c for _, c in contact_rows], dtype=bool)
    order = np.argsort(odom_t, kind="stable")
    odom_t, odom = odom_t[order], odom[order]
    keep = (
        np.concatenate([odom_t[1:] != odom_t[:-1], [True]]) if len(odom_t) else np.zeros(0, bool)
    )
    if not keep.all():
        report.skipped["duplicate_stamp:odom"] += int((~keep).sum())
    c_order, k_order = np.argsort(cmd_t, kind="stable"), np.argsort(contact_t, kind="stable")
    return {
        "image_ns": np.array(image_ns, dtype=np.int64),
        "odom_t": odom_t[keep],
        "odom": odom[keep],
        "cmd_t": cmd_t[c_order],
        "cmd_vw": cmd_vw[c_order],
        "contact_t": contact_t[k_order],
        "contact": contact_v[k_order] if len(contact_rows) else None,
        "has_contact_topic": roles["contact"] is not None,
        "odom_order_ns": np.array([r[0] for r in odom_rows], dtype=np.int64),
        "extras": extras.finish(offset_ns),
    }


def decode_frames(
    reader,
    connections,
    wanted: set[int],
    size_hw: tuple[int, int] | None,
    image_fit: str,
    describe_camera: Callable[[np.ndarray, str], None],
    raw_change: dict[int, float] | None = None,
) -> dict[int, np.ndarray | str]:
    """Pass 2: the frames numbered ``wanted`` (their ordinal among the camera messages) as RGB
    brought to ``size_hw``, or a ``bad_image:<reason>`` string; ``describe_camera(rgb,
    encoding)`` is told about the first frame. ``raw_change`` gets, per decoded frame, its mean
    absolute change from the previous wanted frame at the camera's own resolution (the data
    doctor's frozen-camera check: downscaled, a slow drive past a plain wall looks frozen)."""
    frames: dict[int, np.ndarray | str] = {}
    previous: np.ndarray | None = None
    for ordinal, (connection, _, raw) in enumerate(reader.messages(connections=connections)):
        if ordinal not in wanted:
            continue
        try:
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.msgtype.endswith("CompressedImage"):
                rgb = decode_compressed(msg.data)
            else:
                rgb = decode_raw(
                    msg.encoding, int(msg.height), int(msg.width), int(msg.step), msg.data
                )
            if not frames:  # the first frame: its size and encoding describe the camera
                describe_camera(rgb, getattr(msg, "encoding", "compressed"))
            if raw_change is not None:
                if previous is not None and previous.shape == rgb.shape:
                    raw_change[ordinal] = float(cv2.absdiff(rgb, previous).mean())
                previous = rgb
            if size_hw is not None and rgb.shape[:2] != tuple(size_hw):
                height, width = int(size_hw[0]), int(size_hw[1])
                rgb = (
                    fit_image(rgb, height, image_fit)
                    if height == width
                    else cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
                )
            frames[ordinal] = rgb
        except ImageError as error:
            frames[ordinal] = f"bad_image:{error.reason}"
        except Exception as error:  # undecodable CDR etc.
            frames[ordinal] = f"bad_image:{type(error).__name__}"
    return frames
