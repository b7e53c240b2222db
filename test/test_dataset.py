"""The bag loader on bags written here directly with rosbags, not by our recorder: other topic
names, sqlite3 storage, compressed and padded raw images, TwistStamped and Twist, a time gap,
corrupt messages and a bag missing a topic."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from world_model_ros.core.data.bag_format import BagTopics
from world_model_ros.core.data.dataset import load_episodes

STORE = get_typestore(Stores.ROS2_HUMBLE)  # a different distro's definitions than the recorder's
T = STORE.types
NS = 1_000_000_000
T0_NS = 1_700_000_000 * NS  # wall-clock epoch stamps, as a real robot's bag has


def header(stamp_ns: int, frame: str):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // NS, nanosec=stamp_ns % NS),
        frame_id=frame,
    )


def odometry(stamp_ns: int, x: float, y: float, yaw: float, v: float, w: float) -> bytes:
    V3, Q = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    msg = T["nav_msgs/msg/Odometry"](
        header=header(stamp_ns, "odom"),
        child_frame_id="base_footprint",
        pose=T["geometry_msgs/msg/PoseWithCovariance"](
            pose=T["geometry_msgs/msg/Pose"](
                position=T["geometry_msgs/msg/Point"](x=x, y=y, z=0.0),
                orientation=Q(x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
            ),
            covariance=np.zeros(36),
        ),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](
            twist=T["geometry_msgs/msg/Twist"](
                linear=V3(x=v, y=0.0, z=0.0), angular=V3(x=0.0, y=0.0, z=w)
            ),
            covariance=np.zeros(36),
        ),
    )
    return STORE.serialize_cdr(msg, msg.__msgtype__)


def twist(v: float, w: float):
    V3 = T["geometry_msgs/msg/Vector3"]
    return T["geometry_msgs/msg/Twist"](
        linear=V3(x=v, y=0.0, z=0.0), angular=V3(x=0.0, y=0.0, z=w)
    )


def frame_rgb(k: int, size: int = 24) -> np.ndarray:
    """A frame whose colour encodes its index: red = 10 * (k % 25), green = 200, blue = 30."""
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10 * (k % 25), 200, 30
    return image


def truth(t_s: float) -> tuple[float, float, float]:
    """Ground-truth trajectory of the foreign robot: constant v = 0.5, w = 0.2 from the origin."""
    yaw = 0.2 * t_s
    return 2.5 * math.sin(yaw), 2.5 * (1 - math.cos(yaw)), yaw


def write_sqlite_bag(path: Path) -> None:
    """20 Hz PNG CompressedImage, 50 Hz odometry, 10 Hz TwistStamped; seconds 4..6 missing (a gap);
    one truncated odometry message and one undecodable image at t = 1.0 s."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        cam = writer.add_connection(
            "/robot/front_cam/compressed", "sensor_msgs/msg/CompressedImage", typestore=STORE
        )
        odo = writer.add_connection("/robot/odometry", "nav_msgs/msg/Odometry", typestore=STORE)
        cmd = writer.add_connection(
            "/robot/cmd", "geometry_msgs/msg/TwistStamped", typestore=STORE
        )
        events = []
        for k in range(200):  # 10 s of camera at 20 Hz
            t = k * 0.05
            if 4.0 <= t < 6.0:
                continue
            stamp = T0_NS + int(round(t * NS))
            ok, png = cv2.imencode(".png", cv2.cvtColor(frame_rgb(k), cv2.COLOR_RGB2BGR))
            data = png.reshape(-1) if k != 20 else np.frombuffer(b"not a png at all", np.uint8)
            msg = T["sensor_msgs/msg/CompressedImage"](
                header=header(stamp, "cam"), format="png", data=data
            )
            events.append((stamp + 3_000_000, cam, STORE.serialize_cdr(msg, msg.__msgtype__)))
        for k in range(500):
            t = k * 0.02
            if 4.0 <= t < 6.0:
                continue
            stamp = T0_NS + int(round(t * NS))
            raw = odometry(stamp, *truth(t), 0.5, 0.2)
            events.append((stamp + 1_000_000, odo, raw[: len(raw) // 2] if k == 50 else raw))
        for k in range(100):
            t = k * 0.1
            if 4.0 <= t < 6.0:
                continue
            stamp = T0_NS + int(round(t * NS))
            msg = T["geometry_msgs/msg/TwistStamped"](
                header=header(stamp, "base"), twist=twist(0.5, 0.2)
            )
            events.append((stamp + 2_000_000, cmd, STORE.serialize_cdr(msg, msg.__msgtype__)))
        for receive_ns, connection, raw in sorted(events, key=lambda e: e[0]):
            writer.write(connection, receive_ns, raw)


def test_sqlite3_compressed_twiststamped_gap_and_corrupt_messages(tmp_path: Path):
    bag = tmp_path / "foreign_sqlite"
    write_sqlite_bag(bag)
    topics = BagTopics(
        image="/robot/front_cam/image_raw",
        compressed_image="/robot/front_cam/compressed",
        odom="/robot/odometry",
        command="/robot/cmd",
        command_stamped=True,
        contact=None,
    )
    episodes, report = load_episodes(bag, topics, dt_s=0.1)

    assert report.bags == 1 and not report.problems
    assert report.skipped["undecodable:/robot/odometry"] == 1
    assert report.skipped["bad_image:bad_encoding"] == 1
    assert report.gaps == 2  # the 2 s hole, and the cut at the bad frame
    # [0, 0.9] | bad frame at 1.0 | [1.1, 3.9] | hole | [6.0, 9.9]
    assert [len(e) for e in episodes] == [10, 29, 40]
    assert report.episodes == 3 and report.samples == 79
    for episode in episodes:
        t = episode.stamps_s - T0_NS / NS
        assert np.all(np.diff(t) == pytest.approx(0.1, abs=1e-6))
        expected = np.array([truth(s) for s in t])
        np.testing.assert_allclose(
            episode.poses_t3[:, :2], expected[:, :2], atol=2e-3
        )  # interpolated at 50 Hz
        np.testing.assert_allclose(episode.poses_t3[:, 2], expected[:, 2], atol=2e-3)
        np.testing.assert_allclose(episode.commands_t2, [[0.5, 0.2]] * len(episode))
        np.testing.assert_allclose(episode.twists_t2, [[0.5, 0.2]] * len(episode))
        assert episode.contacts_t is None and episode.arena is None
        frame_index = np.rint(t / 0.05).astype(int)  # grid times hit camera frames exactly
        assert episode.images_thw3.shape[1:] == (24, 24, 3)
        np.testing.assert_array_equal(
            episode.images_thw3[:, 0, 0, 0], 10 * (frame_index % 25)
        )  # RGB order kept
        assert np.all(episode.images_thw3[:, 0, 0, 1] == 200)


def write_mcap_bag(path: Path, with_odometry: bool = True) -> None:
    """10 Hz bgr8 Image with padded rows (step > width * 3), 30 Hz odometry, 5 Hz plain Twist whose
    receive times are the only stamps it has; the robot stands still."""
    width, height, step = 20, 10, 64
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        cam = writer.add_connection("/cam/color", "sensor_msgs/msg/Image", typestore=STORE)
        odo = (
            writer.add_connection("/wheel_odom", "nav_msgs/msg/Odometry", typestore=STORE)
            if with_odometry
            else None
        )
        cmd = writer.add_connection("/teleop", "geometry_msgs/msg/Twist", typestore=STORE)
        events = []
        for k in range(30):
            stamp = T0_NS + k * NS // 10
            rows = np.zeros((height, step), np.uint8)
            rows[:, : width * 3] = np.tile(
                np.array([255, 0, k], np.uint8), width
            )  # B=255, G=0, R=k
            rows[:, width * 3 :] = 77  # padding garbage that must not leak into the image
            msg = T["sensor_msgs/msg/Image"](
                header=header(stamp, "cam"),
                height=height,
                width=width,
                encoding="bgr8",
                is_bigendian=0,
                step=step,
                data=rows.reshape(-1),
            )
            events.append((stamp, cam, STORE.serialize_cdr(msg, msg.__msgtype__)))
        for k in range(90 if odo else 0):
            stamp = T0_NS + k * NS // 30
            events.append((stamp, odo, odometry(stamp, 1.0, -1.0, 3.0, 0.0, 0.0)))
        for k in range(15):
            stamp = T0_NS + k * NS // 5
            events.append(
                (stamp, cmd, STORE.serialize_cdr(twist(0.1 * k, -0.3), "geometry_msgs/msg/Twist"))
            )
        for receive_ns, connection, raw in sorted(events, key=lambda e: e[0]):
            writer.write(connection, receive_ns, raw)


def test_mcap_padded_bgr_images_unstamped_twist_and_resize(tmp_path: Path):
    bag = tmp_path / "foreign_mcap"
    write_mcap_bag(bag)
    topics = BagTopics(image="cam/color", odom="wheel_odom", command="teleop")
    episodes, report = load_episodes([bag], topics, dt_s=0.1, image_size=(5, 8))
    assert report.problems == [] and report.gaps == 0
    assert [len(e) for e in episodes] == [30]
    episode = episodes[0]
    assert episode.images_thw3.shape == (30, 5, 8, 3) and episode.images_thw3.dtype == np.uint8
    np.testing.assert_array_equal(
        episode.images_thw3[:, 2, 3], [[k, 0, 255] for k in range(30)]
    )  # bgr8 -> RGB
    np.testing.assert_allclose(episode.poses_t3, [[1.0, -1.0, 3.0]] * 30, atol=1e-9)
    # A 5 Hz Twist holds for two 10 Hz samples: command k covers samples 2k and 2k + 1.
    np.testing.assert_allclose(episode.commands_t2[:, 0], [0.1 * (k // 2) for k in range(30)])
    assert report.stale_commands == 0


def test_stale_commands_are_zeroed_and_counted(tmp_path: Path):
    bag = tmp_path / "foreign_mcap"
    write_mcap_bag(bag)
    topics = BagTopics(image="cam/color", odom="wheel_odom", command="teleop")
    episodes, report = load_episodes(bag, topics, dt_s=0.1, command_timeout_s=0.15)
    assert report.stale_commands == 0  # 0.2 s apart: the second sample is 0.1 s after the command
    episodes, report = load_episodes(bag, topics, dt_s=0.1, command_timeout_s=0.05)
    assert report.stale_commands == 15  # every second sample is 0.1 s after its 5 Hz command
    stale = np.flatnonzero(np.all(episodes[0].commands_t2 == 0, axis=1))
    np.testing.assert_array_equal(stale, np.arange(1, 30, 2))


def test_missing_topic_wrong_type_and_missing_bag_are_reported_not_raised(tmp_path: Path):
    no_odom = tmp_path / "no_odom"
    write_mcap_bag(no_odom, with_odometry=False)
    wrong = tmp_path / "wrong_type"
    write_mcap_bag(wrong)
    episodes, report = load_episodes(
        [no_odom, tmp_path / "does_not_exist"],
        BagTopics(image="cam/color", odom="wheel_odom", command="teleop"),
    )
    assert episodes == [] and report.bags == 2 and report.bags_failed == 2
    assert (
        "no odometry topic 'wheel_odom'" in report.problems[0]
        and "does_not_exist" in report.problems[1]
    )
    episodes, report = load_episodes(
        wrong, BagTopics(image="cam/color", odom="teleop", command="teleop")
    )
    assert episodes == [] and "has type geometry_msgs/msg/Twist" in report.problems[0]
    episodes, report = load_episodes(
        wrong,
        BagTopics(image="cam/color", odom="wheel_odom", command="teleop", command_stamped=True),
    )
    assert episodes == [] and "command_stamped=True" in report.problems[0]


def test_folder_of_bags_and_argument_checks(tmp_path: Path):
    write_mcap_bag(tmp_path / "set" / "a")
    write_mcap_bag(tmp_path / "set" / "b")
    episodes, report = load_episodes(
        tmp_path / "set", BagTopics(image="cam/color", odom="wheel_odom", command="teleop")
    )
    assert report.bags == 2 and [Path(e.source).name for e in episodes] == ["a", "b"]
    with pytest.raises(ValueError, match="dt_s"):
        load_episodes(tmp_path / "set", dt_s=0)


def test_bags_are_found_through_links_and_as_bare_mcap_files(tmp_path):
    """Bags linked in from another disk, and MCAP files written without metadata.yaml, are
    found; a bag's own storage files are not extra bags, and a link loop ends."""
    from world_model_ros.core.data.bag_format import find_bags

    elsewhere = tmp_path / "other_disk" / "run_1"
    elsewhere.mkdir(parents=True)
    (elsewhere / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (elsewhere / "run_1_0.mcap").write_bytes(b"")
    folder = tmp_path / "bags"
    (folder / "day_2").mkdir(parents=True)
    (folder / "run_1").symlink_to(elsewhere)
    (folder / "day_2" / "bare.mcap").write_bytes(b"")
    (folder / "day_2" / "notes.txt").write_text("not a bag")
    (folder / "day_2" / "loop").symlink_to(folder)
    assert find_bags(folder) == [folder / "day_2" / "bare.mcap", folder / "run_1"]
