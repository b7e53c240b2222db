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
from rosbags.typesys import Stores, get_typestore

from ..core.data.dataset import META_KEYS, arena_to_json
from ..core.data.images import encode_raw
from ..core.geometry import yaw_to_quaternion
from .explore import ExplorationPolicy, ExploreConfig
from .simulator import DiffDriveSim

EPISODE_GAP_S = 5.0
BAG_FORMAT_VERSION = "1"


class Policy(Protocol):
    """What drives a recording: sim/explore.py's blind policy or sim/planner_policy.py's MPPI."""

    def reset(self) -> None: ...

    def command(self, dt_s: float, touching: bool) -> np.ndarray: ...


TOPICS = {
    "image": "/camera/image_raw",
    "camera_info": "/camera/camera_info",
    "odom": "/odom",
    "cmd_vel": "/cmd_vel",
    "contact": "/ground_truth/contact",
    "true_odom": "/ground_truth/odom",
    "tf": "/tf",
}
FRAMES = {"odom": "odom", "base": "base_link", "camera": "camera_optical_frame"}


def typestore():
    """The ROS 2 message definitions bags are written with (Kilted where rosbags knows it)."""
    return get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST))


class MessageFactory:
    """Builds the rosbags message objects of one sample and serialises them to CDR."""

    def __init__(self, store):
        self.store = store
        t = store.types
        self.Time, self.Header = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]
        self.Image, self.CameraInfo = t["sensor_msgs/msg/Image"], t["sensor_msgs/msg/CameraInfo"]
        self.RegionOfInterest = t["sensor_msgs/msg/RegionOfInterest"]
        self.Odometry, self.Twist = t["nav_msgs/msg/Odometry"], t["geometry_msgs/msg/Twist"]
        self.Vector3, self.Point = t["geometry_msgs/msg/Vector3"], t["geometry_msgs/msg/Point"]
        self.Quaternion, self.Pose = t["geometry_msgs/msg/Quaternion"], t["geometry_msgs/msg/Pose"]
        self.PoseCov, self.TwistCov = (
            t["geometry_msgs/msg/PoseWithCovariance"],
            t["geometry_msgs/msg/TwistWithCovariance"],
        )
        self.Transform, self.TransformStamped = (
            t["geometry_msgs/msg/Transform"],
            t["geometry_msgs/msg/TransformStamped"],
        )
        self.TFMessage, self.Bool = t["tf2_msgs/msg/TFMessage"], t["std_msgs/msg/Bool"]
        # Diagonal covariances: small for a simulated, near-perfect odometry.
        self.pose_cov = np.diag([1e-4, 1e-4, 1e6, 1e6, 1e6, 1e-3]).reshape(-1)
        self.twist_cov = np.diag([1e-4, 1e6, 1e6, 1e6, 1e6, 1e-3]).reshape(-1)

    def header(self, stamp_ns: int, frame: str):
        return self.Header(
            stamp=self.Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
            frame_id=frame,
        )

    def image(self, stamp_ns: int, rgb_hw3: np.ndarray) -> bytes:
        height, width, step, data = encode_raw(rgb_hw3, "rgb8")
        msg = self.Image(
            header=self.header(stamp_ns, FRAMES["camera"]),
            height=height,
            width=width,
            encoding="rgb8",
            is_bigendian=0,
            step=step,
            data=np.frombuffer(data, dtype=np.uint8),
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def camera_info(
        self, stamp_ns: int, width: int, height: int, intrinsics: tuple[float, float, float, float]
    ) -> bytes:
        fx, fy, cx, cy = intrinsics
        msg = self.CameraInfo(
            header=self.header(stamp_ns, FRAMES["camera"]),
            height=height,
            width=width,
            distortion_model="plumb_bob",
            d=np.zeros(5),
            k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1.0]),
            r=np.eye(3).reshape(-1),
            p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1.0, 0]),
            binning_x=0,
            binning_y=0,
            roi=self.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def odometry(self, stamp_ns: int, pose_3: np.ndarray, twist_2: np.ndarray) -> bytes:
        qx, qy, qz, qw = yaw_to_quaternion(float(pose_3[2]))
        msg = self.Odometry(
            header=self.header(stamp_ns, FRAMES["odom"]),
            child_frame_id=FRAMES["base"],
            pose=self.PoseCov(
                pose=self.Pose(
                    position=self.Point(x=float(pose_3[0]), y=float(pose_3[1]), z=0.0),
                    orientation=self.Quaternion(x=qx, y=qy, z=qz, w=qw),
                ),
                covariance=self.pose_cov,
            ),
            twist=self.TwistCov(twist=self.twist_msg(twist_2), covariance=self.twist_cov),
        )
        return self.store.serialize_cdr(msg, msg.__msgtype__)

    def twist_msg(self, vw: np.ndarray):
        return self.Twist(
            linear=self.Vector3(x=float(vw[0]), y=0.0, z=0.0),
            angular=self.Vector3(x=0.0, y=0.0, z=float(vw[1])),
        )

    def twist(self, vw: np.ndarray) -> bytes:
        return self.store.serialize_cdr(self.twist_msg(vw), "geometry_msgs/msg/Twist")

    def contact(self, touching: bool) -> bytes:
        return self.store.serialize_cdr(self.Bool(data=bool(touching)), "std_msgs/msg/Bool")

    def tf(self, stamp_ns: int, pose_3: np.ndarray) -> bytes:
        qx, qy, qz, qw = yaw_to_quaternion(float(pose_3[2]))
        transform = self.TransformStamped(
            header=self.header(stamp_ns, FRAMES["odom"]),
            child_frame_id=FRAMES["base"],
            transform=self.Transform(
                translation=self.Vector3(x=float(pose_3[0]), y=float(pose_3[1]), z=0.0),
                rotation=self.Quaternion(x=qx, y=qy, z=qz, w=qw),
            ),
        )
        return self.store.serialize_cdr(
            self.TFMessage(transforms=[transform]), "tf2_msgs/msg/TFMessage"
        )


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
) -> BagSummary:
    """Drive ``episodes`` episodes in layout ``layout_seed`` and write them to a new MCAP bag.

    ``rng`` draws the start poses and the exploration noise, so (layout seed, rng seed) fixes
    the bag's content. ``keep_for_preview`` keeps up to that many camera frames per episode for
    the contact sheet. ``progress(n)`` is called with the number of samples just written.
    ``policy`` drives (default: the exploration policy on ``rng``); ``policy_name`` is written to
    the bag's metadata.
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
    writer = Writer(bag_path, version=8, storage_plugin=StoragePlugin.MCAP)
    episode_index: list[dict] = []
    recorded: list[RecordedEpisode] = []
    contacts_total = 0
    with writer:
        connection = {
            name: writer.add_connection(topic, msgtype, typestore=store)
            for name, topic, msgtype in [
                ("image", TOPICS["image"], "sensor_msgs/msg/Image"),
                ("camera_info", TOPICS["camera_info"], "sensor_msgs/msg/CameraInfo"),
                ("odom", TOPICS["odom"], "nav_msgs/msg/Odometry"),
                ("cmd_vel", TOPICS["cmd_vel"], "geometry_msgs/msg/Twist"),
                ("contact", TOPICS["contact"], "std_msgs/msg/Bool"),
                ("tf", TOPICS["tf"], "tf2_msgs/msg/TFMessage"),
            ]
            + ([("true_odom", TOPICS["true_odom"], "nav_msgs/msg/Odometry")] if noisy else [])
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
                writer.write(connection["image"], stamp_ns, messages.image(stamp_ns, image))
                writer.write(
                    connection["camera_info"],
                    stamp_ns,
                    messages.camera_info(stamp_ns, width, height, intrinsics),
                )
                writer.write(
                    connection["odom"], stamp_ns, messages.odometry(stamp_ns, pose, twist)
                )
                writer.write(connection["cmd_vel"], stamp_ns, messages.twist(command))
                writer.write(connection["contact"], stamp_ns, messages.contact(touching))
                writer.write(connection["tf"], stamp_ns, messages.tf(stamp_ns, pose))
                if noisy:
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
        custom = {
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
        for key, value in custom.items():
            writer.set_custom_data(META_KEYS[key], value)
    return BagSummary(
        bag_path, layout_seed, steps * episodes, contacts_total / (steps * episodes), recorded
    )
