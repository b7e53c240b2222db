"""Record the simulator into rosbag2 (MCAP) bags through ``rosbags``, in lockstep, without ROS.

Bag layout (one bag per layout seed; topics written at the recording rate, all with the same
stamp per sample, bag time = header stamp = simulated time):

| topic | type | notes |
|---|---|---|
| /camera/image_raw | sensor_msgs/msg/Image | rgb8, frame camera_optical_frame |
| /camera/camera_info | sensor_msgs/msg/CameraInfo | pinhole, no distortion |
| /odom | nav_msgs/msg/Odometry | frame odom, child base_link (true pose unless noise is on) |
| /cmd_vel | geometry_msgs/msg/Twist | the command held from this stamp to the next |
| /ground_truth/contact | std_msgs/msg/Bool | robot touching a wall/obstacle at this stamp |
| /ground_truth/odom | nav_msgs/msg/Odometry | only when odometry noise is on: the true pose |
| /tf | tf2_msgs/msg/TFMessage | odom -> base_link |
| /scan | sensor_msgs/msg/LaserScan | only for a robot with a LiDAR (sim/robots.py) |
| /bumper | std_msgs/msg/Bool | only for a robot with a bumper |

A robot file (:class:`RecordOptions`) sets the image encoding and whether commands are
TwistStamped. ``ground_truth=False`` writes what a real robot's bag holds: no contact topic, no
true odometry, no layout seed, arena map or episode list in the metadata (sqlite3 storage if
asked).

Episodes are separated by a time gap of ``EPISODE_GAP_S`` and listed in the metadata.
``metadata.yaml`` ``custom_data`` (all values strings; keys in :data:`META_KEYS`): the layout seed,
the ArenaMap as JSON (odom frame), the obstacle colours, the episode list
``[{"index", "start_ns", "end_ns"}]`` (end inclusive), and the simulator and recorder settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from ..core.data.bag_format import META_KEYS, arena_to_json
from .bag_messages import TOPICS, MessageFactory, typestore
from .explore import ExplorationPolicy, ExploreConfig
from .simulator import DiffDriveSim

EPISODE_GAP_S = 5.0
BAG_FORMAT_VERSION = "1"


@dataclass(frozen=True)
class RecordOptions:
    """How the bag is written (robot file and ``record`` flags)."""

    encoding: str = "rgb8"
    cmd_stamped: bool = False
    ground_truth: bool = True  # contact topic, true odometry and the simulator's metadata
    storage: str = "mcap"  # or "sqlite3"
    robot: dict | None = None  # the robot description, stored with the ground truth

    def __post_init__(self) -> None:
        if self.storage not in ("mcap", "sqlite3"):
            raise ValueError(f"storage must be mcap or sqlite3; got {self.storage!r}")


class Policy(Protocol):
    """What drives a recording: sim/explore.py's blind policy or sim/planner_policy.py's MPPI."""

    def reset(self) -> None: ...

    def command(self, dt_s: float, touching: bool) -> np.ndarray: ...


@dataclass
class RecordedEpisode:
    """What the preview needs of an episode (kept only when asked: images cost memory)."""

    poses_t3: np.ndarray
    contacts_t: np.ndarray
    frames: list[np.ndarray] = field(default_factory=list)


@dataclass
class BagSummary:
    path: Path
    layout_seed: int
    samples: int
    contact_fraction: float
    episodes: list[RecordedEpisode]


def record_layout(
    sim: DiffDriveSim,
    bag_path: Path,
    layout_seed: int,
    episodes: int,
    episode_seconds: float,
    rate_hz: float,
    rng: np.random.Generator,
    explore: ExploreConfig = ExploreConfig(),
    keep_for_preview: int = 0,
    progress: Callable[[int], None] | None = None,
    policy: Policy | None = None,
    policy_name: str = "explore",
    options: RecordOptions = RecordOptions(),
) -> BagSummary:
    """Drive ``episodes`` episodes in layout ``layout_seed`` and write them to a new MCAP bag.

    ``rng`` draws the start poses and the exploration noise, so (layout seed, rng seed) fixes
    the bag's content. ``keep_for_preview`` keeps up to that many camera frames per episode for
    the contact sheet. ``progress(n)`` is called with the number of samples just written.
    ``policy`` drives (default: the exploration policy on ``rng``); ``policy_name`` is written to
    the bag's metadata. ``options``: encoding, command type, ground truth and storage.
    """
    if episodes < 1 or episode_seconds <= 0 or rate_hz <= 0:
        raise ValueError(
            f"need episodes >= 1, episode_seconds > 0, rate_hz > 0; got {episodes}, "
            f"{episode_seconds}, {rate_hz}"
        )
    dt_s = 1.0 / rate_hz
    steps = max(1, int(round(episode_seconds * rate_hz)))
    store = typestore()
    messages = MessageFactory(store)
    noisy = sim.config.odom_noise_linear_frac > 0 or sim.config.odom_noise_angular_frac > 0
    policy = ExplorationPolicy(explore, rng) if policy is None else policy
    truth = options.ground_truth
    lidar = sim.config.lidar
    storage = StoragePlugin.MCAP if options.storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(bag_path, version=8, storage_plugin=storage)
    episode_index: list[dict] = []
    recorded: list[RecordedEpisode] = []
    contacts_total = 0
    cmd_type = (
        "geometry_msgs/msg/TwistStamped" if options.cmd_stamped else "geometry_msgs/msg/Twist"
    )
    with writer:
        connection = {
            name: writer.add_connection(topic, msgtype, typestore=store)
            for name, topic, msgtype in [
                ("image", TOPICS["image"], "sensor_msgs/msg/Image"),
                ("camera_info", TOPICS["camera_info"], "sensor_msgs/msg/CameraInfo"),
                ("odom", TOPICS["odom"], "nav_msgs/msg/Odometry"),
                ("cmd_vel", TOPICS["cmd_vel"], cmd_type),
                ("tf", TOPICS["tf"], "tf2_msgs/msg/TFMessage"),
            ]
            + ([("contact", TOPICS["contact"], "std_msgs/msg/Bool")] if truth else [])
            + (
                [("true_odom", TOPICS["true_odom"], "nav_msgs/msg/Odometry")]
                if noisy and truth
                else []
            )
            + ([("scan", TOPICS["scan"], "sensor_msgs/msg/LaserScan")] if lidar else [])
            + ([("bumper", TOPICS["bumper"], "std_msgs/msg/Bool")] if sim.config.bumper else [])
        }
        intrinsics = sim.camera_intrinsics()
        width, height = sim.config.camera_width, sim.config.camera_height
        sim.reset(layout_seed=layout_seed, start_pose=(0.0, 0.0, 0.0))  # build the layout first
        stamp_offset_s = -sim.time_s  # each bag's clock starts at 0 (1 s before its first sample)
        for episode in range(episodes):
            sim.reset(start_pose=sim.sample_free_pose(rng))
            policy.reset()
            stamp_offset_s += EPISODE_GAP_S if episode else 1.0
            keep_every = max(1, steps // keep_for_preview) if keep_for_preview else 0
            poses, contacts, frames = np.zeros((steps, 3)), np.zeros(steps, bool), []
            first_ns = last_ns = 0
            for k in range(steps):
                stamp_ns = int(round((stamp_offset_s + sim.time_s) * 1e9))
                first_ns = stamp_ns if k == 0 else first_ns
                last_ns = stamp_ns
                image = sim.render()
                pose, twist = sim.odometry()
                touching = sim.in_contact()
                command = policy.command(dt_s, touching)
                writer.write(
                    connection["image"],
                    stamp_ns,
                    messages.image(stamp_ns, image, options.encoding),
                )
                writer.write(
                    connection["camera_info"],
                    stamp_ns,
                    messages.camera_info(stamp_ns, width, height, intrinsics),
                )
                writer.write(
                    connection["odom"], stamp_ns, messages.odometry(stamp_ns, pose, twist)
                )
                writer.write(
                    connection["cmd_vel"],
                    stamp_ns,
                    messages.twist_stamped(stamp_ns, command)
                    if options.cmd_stamped
                    else messages.twist(command),
                )
                writer.write(connection["tf"], stamp_ns, messages.tf(stamp_ns, pose))
                if truth:
                    writer.write(connection["contact"], stamp_ns, messages.contact(touching))
                if lidar is not None:
                    writer.write(
                        connection["scan"], stamp_ns, messages.scan(stamp_ns, sim.scan(), lidar)
                    )
                if sim.config.bumper:
                    writer.write(
                        connection["bumper"], stamp_ns, messages.contact(sim.bumper_pressed())
                    )
                if noisy and truth:
                    writer.write(
                        connection["true_odom"],
                        stamp_ns,
                        messages.odometry(stamp_ns, sim.pose(), sim.twist()),
                    )
                poses[k], contacts[k] = sim.pose(), touching
                if keep_every and k % keep_every == 0 and len(frames) < keep_for_preview:
                    frames.append(image)
                sim.step(command, dt_s)
                if progress is not None and (k % 50 == 49 or k == steps - 1):
                    progress(k % 50 + 1)
            episode_index.append({"index": episode, "start_ns": first_ns, "end_ns": last_ns})
            contacts_total += int(contacts.sum())
            recorded.append(RecordedEpisode(poses, contacts, frames))
        arena = sim.arena_map()
        custom = (
            {}
            if not truth
            else {
                "format": BAG_FORMAT_VERSION,
                "layout_seed": str(layout_seed),
                "arena": arena_to_json(arena),
                "colours": json.dumps([list(c) for c in sim.layout.colours_rgb]),
                "episodes": json.dumps(episode_index),
                "sim_config": json.dumps(asdict(sim.config)),
                "recorder": json.dumps(
                    {
                        "rate_hz": rate_hz,
                        "episode_seconds": episode_seconds,
                        "explore": asdict(explore),
                        "episode_gap_s": EPISODE_GAP_S,
                        "policy": policy_name,
                    }
                ),
            }
        )
        if truth and options.robot is not None:
            custom["robot"] = json.dumps(options.robot)
        for key, value in custom.items():
            writer.set_custom_data(META_KEYS[key], value)
    return BagSummary(
        bag_path, layout_seed, steps * episodes, contacts_total / (steps * episodes), recorded
    )
