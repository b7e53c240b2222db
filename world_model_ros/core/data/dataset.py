"""rosbag2 bags -> aligned :class:`~world_model_ros.core.data.episodes.Episode` sequences at a
fixed dt.

Any bag works (MCAP or sqlite3, read with ``rosbags``; no rclpy): a camera topic
(sensor_msgs/Image or CompressedImage), nav_msgs/Odometry and a command topic
(geometry_msgs/Twist or TwistStamped), topic names from :class:`BagTopics`. Bags written by
``world-model-ros record`` also carry ground truth (contacts, the arena map), which lands in
``Episode.contacts_t`` and ``Episode.arena``.

Alignment, per bag:

1. Times: header stamps where a message has one (a zero stamp falls back to the bag's receive
   time); unstamped commands (Twist) get their receive time shifted by the median
   (odometry stamp - odometry receive time), so a bag recorded in wall time of a robot running
   on sim time still lines up.
2. Camera frames are cut into runs wherever consecutive frames are more than ``max_gap_s``
   apart or an episode boundary (from the bag's metadata) lies between them.
3. Each run is sampled on a grid of ``dt_s``: the nearest camera frame (within
   ``image_slop_s``), odometry interpolated between the two messages around the grid time
   (which must be at most ``max_gap_s`` apart), the newest command at or before it (zero once
   it is older than ``command_timeout_s``, as a base controller's timeout would do) and the
   newest contact flag.
4. A grid time without a usable frame or odometry ends the episode there (a gap); runs shorter
   than ``min_steps`` are dropped. Every skipped message and sample is counted by reason in the
   :class:`LoadReport`; nothing raises on bad data except a bag that cannot be opened at all,
   and even that is reported, not raised, when several bags are loaded.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, overload

import cv2
import numpy as np

from ..geometry import quaternion_to_yaw
from . import bag_extras
from .camera import CameraSpec, fit_image
from .doctor import (
    DEFAULT_DOCTOR,
    DoctorConfig,
    Problem,
    check_episode_frames,
    check_streams,
    twist_from_poses,
)
from .episodes import ArenaMap, Episode, Obstacle
from .images import ImageError, decode_compressed, decode_raw

# Keys of the bag metadata (rosbag2 metadata.yaml custom_data) written by the recorder.
META_KEYS = {
    "format": "world_model_ros.format",
    "layout_seed": "world_model_ros.layout_seed",
    "arena": "world_model_ros.arena",
    "colours": "world_model_ros.obstacle_colours",
    "episodes": "world_model_ros.episodes",
    "sim_config": "world_model_ros.sim_config",
    "recorder": "world_model_ros.recorder",
    "robot": "world_model_ros.robot",
}

IMAGE_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
ODOM_TYPES = {"nav_msgs/msg/Odometry"}
COMMAND_TYPES = {"geometry_msgs/msg/Twist": False, "geometry_msgs/msg/TwistStamped": True}
CONTACT_TYPES = {"std_msgs/msg/Bool"}


@dataclass(frozen=True)
class BagTopics:
    """Which topics hold what. Names match with or without the leading '/'.

    ``compressed_image`` is used instead of ``image`` when set and present in the bag.
    ``command_stamped``: None takes Twist or TwistStamped from the bag's type; True/False
    insist on one (a bag with the other is reported and skipped).
    ``contact``: a std_msgs/Bool ground-truth topic (simulator bags); missing is fine.
    ``camera_info``: sensor_msgs/CameraInfo (the checkpoint records the camera); optional.
    ``bumper``: a bumper topic (std_msgs/Bool, or any type whose ``bumper_field`` is truthy
    when pressed); its flags land in ``Episode.metadata["bumper_t"]`` (core/data/labels.py).
    """

    image: str = "camera/image_raw"
    compressed_image: str | None = None
    odom: str = "odom"
    command: str = "cmd_vel"
    command_stamped: bool | None = None
    contact: str | None = "ground_truth/contact"
    camera_info: str | None = "camera/camera_info"
    bumper: str | None = None
    bumper_field: str = "data"


@dataclass
class LoadReport:
    """What loading did: counts per topic and per reason, so data loss is never silent."""

    bags: int = 0
    bags_failed: int = 0
    messages_read: Counter = field(default_factory=Counter)  # topic -> messages read
    skipped: Counter = field(default_factory=Counter)  # reason -> messages or samples skipped
    gaps: int = 0  # places where a run of samples was cut (time gap or unusable sample)
    episodes: int = 0
    samples: int = 0
    short_dropped: int = 0  # runs shorter than min_steps
    stale_commands: int = 0  # samples whose command was older than command_timeout_s (zeroed)
    problems: list[str] = field(default_factory=list)  # bag-level problems, each naming the bag
    doctor: list[Problem] = field(default_factory=list)  # the data doctor's findings
    cameras: dict[str, CameraSpec] = field(default_factory=dict)  # bag -> its camera

    def bad_bags(self) -> set[str]:
        """Bags the data doctor found unusable (an ``error`` problem)."""
        return {p.bag for p in self.doctor if p.severity == "error"}

    def summary(self) -> str:
        parts = [
            f"{self.bags} bag(s), {self.episodes} episode(s), {self.samples} samples, {self.gaps} "
            "gap(s)"
        ]
        if self.bags_failed:
            parts.append(f"{self.bags_failed} bag(s) failed")
        if any(self.skipped.values()):
            parts.append(
                "skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items()) if v)
            )
        if self.short_dropped:
            parts.append(f"{self.short_dropped} short run(s) dropped")
        if self.stale_commands:
            parts.append(f"{self.stale_commands} stale command(s) zeroed")
        return "; ".join(parts)


def arena_to_json(arena: ArenaMap) -> str:
    """ArenaMap -> compact JSON (what the recorder stores in a bag's metadata)."""
    return json.dumps(asdict(arena), separators=(",", ":"))


def arena_from_json(text: str) -> ArenaMap:
    """JSON from :func:`arena_to_json` -> ArenaMap; raises ValueError naming the problem."""
    try:
        raw = json.loads(text)
        obstacles = [
            Obstacle(
                str(o["kind"]),
                float(o["x"]),
                float(o["y"]),
                float(o["yaw"]),
                float(o["hx"]),
                float(o["hy"]),
            )
            for o in raw["obstacles"]
        ]
        seed = raw.get("layout_seed")
        return ArenaMap(
            float(raw["half_size_m"]),
            obstacles,
            float(raw["robot_radius_m"]),
            None if seed is None else int(seed),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not an arena map JSON ({type(error).__name__}: {error})") from error


def read_custom_data(bag_path: Path) -> dict[str, str]:
    """A rosbag2 directory's ``custom_data`` from metadata.yaml ({} when absent or unreadable)."""
    import yaml

    try:
        info = yaml.safe_load((Path(bag_path) / "metadata.yaml").read_text())[
            "rosbag2_bagfile_information"
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    custom = info.get("custom_data") or {}
    return {str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {}


def find_bags(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """Bag paths from bags, storage files (.mcap/.db3) or folders holding bags (searched,
    sorted)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / "metadata.yaml").is_file() or path.suffix in {".mcap", ".db3"}:
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.rglob("metadata.yaml")))
        else:
            found.append(path)  # does not exist: reported when opened
    return found


def load_episodes(
    bag_paths: Path | str | Iterable[Path | str],
    topics: BagTopics = BagTopics(),
    dt_s: float = 0.1,
    image_size: int | tuple[int, int] | None = None,
    max_gap_s: float = 0.5,
    image_slop_s: float | None = None,
    command_timeout_s: float = 0.5,
    min_steps: int = 2,
    image_fit: str = "crop",
    twist_from_poses: bool = False,
    doctor: DoctorConfig | None = DEFAULT_DOCTOR,
) -> tuple[list[Episode], LoadReport]:
    """Load bags (see the module docstring for the alignment rules).

    image_size: bring frames at load to (height, width) (an int means square) with
    core/data/camera.fit_image (``image_fit``: crop or letterbox; never a squash); None keeps
    the camera's size (frames of another size than the first are then skipped). image_slop_s
    defaults to dt_s / 2. ``twist_from_poses`` rebuilds the odometry twist from the poses;
    ``doctor`` checks every bag (core/data/doctor.py; its findings are in ``report.doctor``,
    bags are loaded all the same: the caller decides). Returns the episodes in bag and time
    order and the report.
    """
    if not dt_s > 0 or not max_gap_s > 0 or min_steps < 1:
        raise ValueError(
            f"need dt_s > 0, max_gap_s > 0, min_steps >= 1; got {dt_s}, {max_gap_s}, {min_steps}"
        )
    size_hw = (image_size, image_size) if isinstance(image_size, int) else image_size
    if size_hw is not None and not (len(size_hw) == 2 and all(int(s) >= 1 for s in size_hw)):
        raise ValueError(f"image_size must be an int or (height, width); got {image_size}")
    report = LoadReport()
    episodes: list[Episode] = []
    for bag in find_bags(bag_paths):
        report.bags += 1
        try:
            episodes.extend(
                _BagLoader(
                    bag,
                    topics,
                    dt_s,
                    size_hw,
                    max_gap_s,
                    dt_s / 2 if image_slop_s is None else image_slop_s,
                    command_timeout_s,
                    min_steps,
                    report,
                    image_fit=image_fit,
                    twist_from_poses=twist_from_poses,
                    doctor=doctor,
                ).load()
            )
        except _BagProblem as problem:
            report.bags_failed += 1
            report.problems.append(str(problem))
        except Exception as error:  # a bag rosbags cannot open or read through: report, go on
            report.bags_failed += 1
            report.problems.append(f"{bag}: cannot read ({type(error).__name__}: {error})")
    report.episodes = len(episodes)
    report.samples = sum(len(e) for e in episodes)
    return episodes, report


class _BagProblem(Exception):
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


class _BagLoader:
    """One bag: pass 1 reads the timeline (stamps, odometry, commands, contacts), the grid is
    planned, pass 2 decodes only the camera frames the grid uses."""

    def __init__(
        self,
        path: Path,
        topics: BagTopics,
        dt_s: float,
        size_hw: tuple[int, int] | None,
        max_gap_s: float,
        image_slop_s: float,
        command_timeout_s: float,
        min_steps: int,
        report: LoadReport,
        image_fit: str = "crop",
        twist_from_poses: bool = False,
        doctor: DoctorConfig | None = None,
    ):
        self.path, self.topics, self.dt_s, self.size_hw = path, topics, dt_s, size_hw
        self.max_gap_ns = int(max_gap_s * 1e9)
        self.slop_ns = int(image_slop_s * 1e9)
        self.timeout_ns = int(command_timeout_s * 1e9)
        self.min_steps, self.report = min_steps, report
        self.image_fit, self.twist_from_poses, self.doctor = image_fit, twist_from_poses, doctor

    def load(self) -> list[Episode]:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        custom = read_custom_data(self.path) if self.path.is_dir() else {}
        store = get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST))
        with AnyReader([self.path], default_typestore=store) as reader:
            roles = self._connections(reader)
            timeline = self._read_timeline(reader, roles)
            bounds = self._episode_bounds(custom)
            self._check_streams(timeline, roles, bounds)
            plan = self._plan(timeline, bounds)
            frames = self._decode_frames(
                reader,
                roles["image"],
                {int(i) for p in plan for i in p["image_index"][p["valid"]]},
            )
        arena = self._arena(custom)
        return self._build(plan, frames, timeline, arena, custom)

    # -- pass 1 -----------------------------------------------------------------------------
    def _connections(self, reader) -> dict:
        t = self.topics
        by_topic: dict[str, list] = {}
        for connection in reader.connections:
            by_topic.setdefault(_norm(connection.topic), []).append(connection)

        def pick(topic: str | None, allowed: set[str] | dict, role: str, required: bool):
            if topic is None or _norm(topic) not in by_topic:
                if required:
                    raise _BagProblem(
                        f"{self.path}: no {role} topic '{topic}' (topics: "
                        f"{', '.join(sorted(by_topic))})"
                    )
                return None
            connections = [c for c in by_topic[_norm(topic)] if c.msgtype in allowed]
            if not connections:
                types = {c.msgtype for c in by_topic[_norm(topic)]}
                raise _BagProblem(
                    f"{self.path}: {role} topic '{topic}' has type {', '.join(types)}; "
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
            raise _BagProblem(
                f"{self.path}: command topic '{t.command}' is {command[0].msgtype} but "
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

    def _read_timeline(self, reader, roles) -> dict:
        role_of = {
            c.id: role for role, connections in roles.items() if connections for c in connections
        }
        wanted = [c for connections in roles.values() if connections for c in connections]
        image_ns, odom_rows, odom_receive, command_rows, contact_rows = [], [], [], [], []
        extras = bag_extras.Extras(self.topics.bumper_field)
        for connection, receive_ns, raw in reader.messages(connections=wanted):
            role = role_of[connection.id]
            self.report.messages_read[connection.topic] += 1
            try:
                msg = reader.deserialize(raw, connection.msgtype)
            except Exception:
                self.report.skipped[f"undecodable:{connection.topic}"] += 1
                if role == "image":
                    image_ns.append(-1)  # keep the ordinal numbering of pass 2 in step
                continue
            if role == "image":
                image_ns.append(_stamp_ns(msg, receive_ns))
            elif role in ("camera_info", "bumper"):
                extras.add(role, msg, receive_ns, connection.topic, self.report)
            elif role == "odom":
                p, q = msg.pose.pose.position, msg.pose.pose.orientation
                v, w = msg.twist.twist.linear.x, msg.twist.twist.angular.z
                row = (_stamp_ns(msg, receive_ns), p.x, p.y, q.x, q.y, q.z, q.w, v, w)
                if (
                    not all(math.isfinite(x) for x in row[1:])
                    or (q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w) < 1e-6
                ):
                    self.report.skipped[f"non_finite_or_bad_quaternion:{connection.topic}"] += 1
                    continue
                odom_rows.append((row[0], p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w), v, w))
                odom_receive.append(receive_ns)
            elif role == "command":
                twist = msg.twist if connection.msgtype.endswith("TwistStamped") else msg
                vw = (twist.linear.x, twist.angular.z)
                if not all(math.isfinite(x) for x in vw):
                    self.report.skipped[f"non_finite:{connection.topic}"] += 1
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
        offset_ns = (
            int(np.median(odom_t - np.array(odom_receive, dtype=np.int64))) if odom_rows else 0
        )
        cmd_t = np.array(
            [t if stamped else t + offset_ns for t, stamped, _, _ in command_rows], dtype=np.int64
        )
        cmd_vw = np.array([(v, w) for _, _, v, w in command_rows], dtype=np.float64).reshape(-1, 2)
        contact_t = np.array([t + offset_ns for t, _ in contact_rows], dtype=np.int64)
        contact_v = np.array([c for _, c in contact_rows], dtype=bool)
        order = np.argsort(odom_t, kind="stable")
        odom_t, odom = odom_t[order], odom[order]
        keep = (
            np.concatenate([odom_t[1:] != odom_t[:-1], [True]])
            if len(odom_t)
            else np.zeros(0, bool)
        )
        if not keep.all():
            self.report.skipped["duplicate_stamp:odom"] += int((~keep).sum())
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

    def _episode_bounds(self, custom: dict[str, str]) -> np.ndarray:
        """Start stamps (ns) of the episodes listed in the metadata (empty when none)."""
        text = custom.get(META_KEYS["episodes"])
        if not text:
            return np.zeros(0, np.int64)
        try:
            return np.array(sorted(int(e["start_ns"]) for e in json.loads(text)), dtype=np.int64)
        except (ValueError, KeyError, TypeError):
            self.report.problems.append(
                f"{self.path}: unreadable episode list in metadata; using time gaps only"
            )
            return np.zeros(0, np.int64)

    def _check_streams(self, timeline: dict, roles: dict, bounds_ns: np.ndarray) -> None:
        """The data doctor's stream checks; ``twist_from_poses`` rebuilds the twist first."""
        if self.twist_from_poses and len(timeline["odom_t"]) >= 2:
            timeline["odom"][:, 4:6] = twist_from_poses(
                timeline["odom_t"], timeline["odom"][:, 1:4]
            )
        camera = timeline["extras"].camera
        if camera is not None:
            self.report.cameras[str(self.path)] = camera
        if self.doctor is None:
            return
        names = {role: c[0].topic for role, c in roles.items() if c}
        self.report.doctor.extend(
            check_streams(
                str(self.path),
                names,
                timeline["image_ns"],
                timeline["odom_t"],
                timeline["odom"][:, 1:6],
                timeline["odom_order_ns"],
                timeline["cmd_t"],
                DoctorConfig(**{**vars(self.doctor), "command_timeout_s": self.timeout_ns * 1e-9}),
                twist_rebuilt=self.twist_from_poses,
                episode_starts_ns=bounds_ns,
            )
        )
        self._image_topic = names.get("image", "image")

    def _describe_camera(self, rgb: np.ndarray, encoding: str) -> None:
        known = self.report.cameras.get(str(self.path))
        self.report.cameras[str(self.path)] = (
            CameraSpec(int(rgb.shape[1]), int(rgb.shape[0]), encoding=encoding, source="frames")
            if known is None
            else dataclasses.replace(known, encoding=encoding)
        )

    # -- the grid ---------------------------------------------------------------------------
    def _plan(self, timeline: dict, bounds_ns: np.ndarray) -> list[dict]:
        image_ns = timeline["image_ns"]
        usable = np.flatnonzero(image_ns >= 0)
        order = usable[np.argsort(image_ns[usable], kind="stable")]
        stamps = image_ns[order]
        if len(stamps) == 0:
            return []
        episode_of = (
            np.searchsorted(bounds_ns, stamps, side="right") - 1
        )  # -1: before any listed episode
        new_episode = np.diff(episode_of) != 0
        time_gap = np.diff(stamps) > self.max_gap_ns
        cuts = np.flatnonzero(time_gap | new_episode) + 1
        self.report.gaps += int(
            np.sum(time_gap & ~new_episode)
        )  # a gap at an episode boundary is by design
        plan = []
        dt_ns = int(round(self.dt_s * 1e9))
        for chunk in np.split(np.arange(len(stamps)), cuts):
            first, last = stamps[chunk[0]], stamps[chunk[-1]]
            grid = first + dt_ns * np.arange((last - first) // dt_ns + 1, dtype=np.int64)
            chunk_stamps = stamps[chunk]
            right = np.clip(np.searchsorted(chunk_stamps, grid), 0, len(chunk) - 1)
            left = np.clip(right - 1, 0, len(chunk) - 1)
            nearest = np.where(
                np.abs(chunk_stamps[left] - grid) <= np.abs(chunk_stamps[right] - grid),
                left,
                right,
            )
            valid = np.abs(chunk_stamps[nearest] - grid) <= self.slop_ns
            pose, twist, odom_ok = self._interpolate_odom(timeline, grid)
            for reason, count in (
                ("no_camera_frame_near_grid_time", int((~valid).sum())),
                ("no_odometry_around_grid_time", int((valid & ~odom_ok).sum())),
            ):
                if count:
                    self.report.skipped[reason] += count
            valid &= odom_ok
            plan.append(
                {
                    "grid": grid,
                    "image_index": order[chunk[nearest]],
                    "valid": valid,
                    "pose": pose,
                    "twist": twist,
                    "episode": int(episode_of[chunk[0]]) if len(bounds_ns) else None,
                }
            )
        return plan

    def _interpolate_odom(self, timeline: dict, grid: np.ndarray):
        t, odom = timeline["odom_t"], timeline["odom"]
        n = len(grid)
        if len(t) == 0:
            return np.zeros((n, 3)), np.zeros((n, 2)), np.zeros(n, bool)
        right = np.searchsorted(t, grid, side="left")
        exact = (right < len(t)) & (t[np.clip(right, 0, len(t) - 1)] == grid)
        left = np.clip(right - 1, 0, len(t) - 1)
        right_c = np.clip(right, 0, len(t) - 1)
        inside = (right > 0) & (right < len(t)) & ((t[right_c] - t[left]) <= self.max_gap_ns)
        ok = exact | inside
        left = np.where(exact, right_c, left)
        span = np.maximum(t[right_c] - t[left], 1)
        alpha = np.where(exact, 0.0, np.clip((grid - t[left]) / span, 0.0, 1.0))[:, None]
        a, b = odom[left], odom[right_c]
        xy = a[:, 1:3] + alpha * (b[:, 1:3] - a[:, 1:3])
        dyaw = np.mod(b[:, 3] - a[:, 3] + np.pi, 2 * np.pi) - np.pi
        yaw = np.mod(a[:, 3] + alpha[:, 0] * dyaw + np.pi, 2 * np.pi) - np.pi
        twist = a[:, 4:6] + alpha * (b[:, 4:6] - a[:, 4:6])
        return np.column_stack([xy, yaw]), twist, ok

    # -- pass 2 -----------------------------------------------------------------------------
    def _decode_frames(self, reader, connections, wanted: set[int]) -> dict[int, np.ndarray | str]:
        frames: dict[int, np.ndarray | str] = {}
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
                    self._describe_camera(rgb, getattr(msg, "encoding", "compressed"))
                if self.size_hw is not None and rgb.shape[:2] != tuple(self.size_hw):
                    height, width = int(self.size_hw[0]), int(self.size_hw[1])
                    rgb = (
                        fit_image(rgb, height, self.image_fit)
                        if height == width
                        else cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
                    )
                frames[ordinal] = rgb
            except ImageError as error:
                frames[ordinal] = f"bad_image:{error.reason}"
            except Exception as error:  # undecodable CDR etc.
                frames[ordinal] = f"bad_image:{type(error).__name__}"
        return frames

    # -- episodes ---------------------------------------------------------------------------
    def _arena(self, custom: dict[str, str]) -> ArenaMap | None:
        text = custom.get(META_KEYS["arena"])
        if not text:
            return None
        try:
            return arena_from_json(text)
        except ValueError as error:
            self.report.problems.append(f"{self.path}: arena map in metadata ignored: {error}")
            return None

    def _build(
        self,
        plan: list[dict],
        frames: dict,
        timeline: dict,
        arena: ArenaMap | None,
        custom: dict[str, str],
    ) -> list[Episode]:
        episodes: list[Episode] = []
        frame_shape: tuple | None = None
        layout_seed = custom.get(META_KEYS["layout_seed"])
        for part in plan:
            valid = part["valid"].copy()
            for k in np.flatnonzero(valid):
                frame = frames.get(int(part["image_index"][k]), "bad_image:missing")
                if isinstance(frame, np.ndarray) and frame_shape is None:
                    frame_shape = frame.shape
                if isinstance(frame, str) or frame.shape != frame_shape:
                    self.report.skipped[
                        frame if isinstance(frame, str) else "image_size_changed"
                    ] += 1
                    valid[k] = False
            grid = part["grid"]
            commands, stale = self._commands(timeline, grid)
            contacts = self._contacts(timeline, grid)
            bumper = timeline["extras"].flags_on_grid(grid, self.dt_s)
            # Runs of valid samples become episodes; each cut inside a run counts as a gap.
            edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
            runs = list(zip(edges[::2], edges[1::2], strict=False))
            self.report.gaps += max(0, len(runs) - 1)
            for start, stop in runs:
                if stop - start < self.min_steps:
                    self.report.short_dropped += 1
                    continue
                index = part["image_index"][start:stop]
                self.report.stale_commands += int(stale[start:stop].sum())
                episodes.append(
                    Episode(
                        dt_s=self.dt_s,
                        stamps_s=grid[start:stop].astype(np.float64) * 1e-9,
                        images_thw3=np.stack([frames[int(i)] for i in index]),
                        poses_t3=part["pose"][start:stop].copy(),
                        twists_t2=part["twist"][start:stop].copy(),
                        commands_t2=commands[start:stop].copy(),
                        contacts_t=None if contacts is None else contacts[start:stop].copy(),
                        arena=arena,
                        source=str(self.path),
                        metadata={
                            "bag": str(self.path),
                            "layout_seed": None if layout_seed is None else int(layout_seed),
                            "bag_episode": part["episode"],
                            "topics": asdict(self.topics),
                            **(
                                {"bumper_t": bumper[start:stop].copy()}
                                if bumper is not None
                                else {}
                            ),
                        },
                    )
                )
        if self.doctor is not None and episodes:
            topic = getattr(self, "_image_topic", self.topics.image)
            self.report.doctor.extend(
                check_episode_frames(str(self.path), topic, episodes, self.doctor)
            )
        return episodes

    def _commands(self, timeline: dict, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t, vw = timeline["cmd_t"], timeline["cmd_vw"]
        if len(t) == 0:
            return np.zeros((len(grid), 2)), np.ones(len(grid), bool)
        latest = np.searchsorted(t, grid + 1000, side="right") - 1  # at or before (1 us tolerance)
        have = latest >= 0
        fresh = have & ((grid - t[np.clip(latest, 0, None)]) <= self.timeout_ns)
        commands = np.where(fresh[:, None], vw[np.clip(latest, 0, None)], 0.0)
        return commands, ~fresh

    def _contacts(self, timeline: dict, grid: np.ndarray) -> np.ndarray | None:
        if not timeline["has_contact_topic"] or timeline["contact"] is None:
            return None
        t, flags = timeline["contact_t"], timeline["contact"]
        latest = np.searchsorted(t, grid + 1000, side="right") - 1
        fresh = (latest >= 0) & ((grid - t[np.clip(latest, 0, None)]) <= self.max_gap_ns)
        return np.where(fresh, flags[np.clip(latest, 0, None)], False)
