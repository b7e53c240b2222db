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
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import numpy as np

from .bag_format import META_KEYS, BagTopics, arena_from_json, find_bags, read_custom_data
from .bag_reader import BagProblem, decode_frames, pick_connections, read_timeline
from .camera import CameraSpec
from .doctor import (
    DEFAULT_DOCTOR,
    DoctorConfig,
    check_episode_frames,
    check_streams,
    twist_from_poses,
)
from .episodes import ArenaMap, Episode
from .load_report import LoadReport
from .resample import commands_on_grid, contacts_on_grid, plan_grid


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
        except BagProblem as problem:
            report.bags_failed += 1
            report.failed.add(str(bag))
            report.problems.append(str(problem))
        except Exception as error:  # a bag rosbags cannot open or read through: report, go on
            report.bags_failed += 1
            report.failed.add(str(bag))
            report.problems.append(f"{bag}: cannot read ({type(error).__name__}: {error})")
    report.episodes = len(episodes)
    report.samples = sum(len(e) for e in episodes)
    return episodes, report


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
            roles = pick_connections(reader, self.path, self.topics)
            timeline = read_timeline(reader, roles, self.topics.bumper_field, self.report)
            bounds = self._episode_bounds(custom)
            self._check_streams(timeline, roles, bounds)
            plan = plan_grid(
                timeline, bounds, self.dt_s, self.max_gap_ns, self.slop_ns, self.report
            )
            self._raw_change: dict[int, float] = {}
            frames = decode_frames(
                reader,
                roles["image"],
                {int(i) for p in plan for i in p["image_index"][p["valid"]]},
                self.size_hw,
                self.image_fit,
                self._describe_camera,
                self._raw_change if self.doctor is not None else None,
            )
        arena = self._arena(custom)
        return self._build(plan, frames, timeline, arena, custom)

    def _frame_change(self, image_index: np.ndarray) -> np.ndarray:
        """Per sample: the change of its camera frame from the previous one at the camera's
        resolution (NaN: the same frame again, or the first)."""
        change = np.full(len(image_index), np.nan)
        for k in range(1, len(image_index)):
            if image_index[k] != image_index[k - 1]:
                change[k] = self._raw_change.get(int(image_index[k]), np.nan)
        return change

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
        changes: list[np.ndarray] = []  # per episode: its frames' change at camera resolution
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
            commands, stale = commands_on_grid(timeline, grid, self.timeout_ns)
            contacts = contacts_on_grid(timeline, grid, self.max_gap_ns)
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
                changes.append(self._frame_change(index))
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
                check_episode_frames(str(self.path), topic, episodes, self.doctor, changes)
            )
        return episodes
