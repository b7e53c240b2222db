"""The data doctor (core/data/doctor.py) on bags written here, one failure each: a twist in
the odometry frame, a command topic too slow for its timeout, blank and frozen cameras, a gap,
stamps going backwards; --twist-from-poses, and a folder with a bad bag stopping `train`
and `doctor` unless --skip-bad. Also: `train` refuses a collision head without labels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from world_model_ros.cli.main import main
from world_model_ros.core.data.dataset import load_episodes
from world_model_ros.sim.bag_messages import MessageFactory, typestore

NS = 1_000_000_000


def scene(k: int, width: int = 32, height: int = 32) -> np.ndarray:
    """A textured frame that changes with k (a robot driving past stripes)."""
    x = np.arange(width)
    stripes = ((x[None, :] + 2 * k) // 4 % 2 * 120 + 60).astype(np.uint8)
    image = np.repeat(stripes, height, axis=0)[..., None].repeat(3, axis=2)
    image[..., 1] = (np.arange(height)[:, None] * 5 % 255).astype(np.uint8)
    return image


def write_bag(
    path: Path,
    seconds: float = 8.0,
    twist_frame: str = "body",
    command_period_s: float = 0.1,
    camera: str = "ok",
    gap: tuple[float, float] | None = None,
    backwards_at: float | None = None,
    odom_topic: str = "/odom",
    size: tuple[int, int] = (32, 32),
) -> None:
    """A robot driving an arc (v 0.3 m/s, w 0.4 rad/s) at 10 Hz, with one thing wrong."""
    store = typestore()
    factory = MessageFactory(store)
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection(
            "/camera/image_raw", "sensor_msgs/msg/Image", typestore=store
        )
        odom = writer.add_connection(odom_topic, "nav_msgs/msg/Odometry", typestore=store)
        cmd = writer.add_connection("/cmd_vel", "geometry_msgs/msg/Twist", typestore=store)
        next_command = 0.0
        for k in range(int(seconds * 10)):
            t = 1.0 + 0.1 * k
            if gap and gap[0] <= t < gap[1]:
                continue
            stamp = received = int(round(t * NS))
            if backwards_at is not None and abs(t - backwards_at) < 1e-6:
                stamp -= int(0.35 * NS)  # the header stamp jumps back; the bag's order does not
            yaw = 0.4 * (t - 1.0)
            pose = np.array([0.75 * math.sin(yaw), 0.75 * (1 - math.cos(yaw)), yaw])
            twist = np.array([0.3, 0.4])
            if twist_frame == "odom":  # a driver's mistake: the velocity in the odom frame
                twist = np.array([0.3 * math.cos(yaw), 0.4])
            width, height = size
            frame = {
                "ok": scene(k, width, height),
                "blank": np.zeros((height, width, 3), np.uint8),
                "frozen": scene(0, width, height),
                "plain": np.full((height, width, 3), 90, np.uint8),  # a plain wall, unchanged
            }
            writer.write(image, stamp, factory.image(stamp, frame[camera]))
            writer.write(odom, received, factory.odometry(stamp, pose, twist))
            if t + 1e-9 >= next_command:
                writer.write(cmd, stamp, factory.twist(np.array([0.3, 0.4])))
                next_command = t + command_period_s


def problems(path: Path, **load) -> list:
    _, report = load_episodes(path, dt_s=0.1, image_size=32, **load)
    return report.doctor


def test_a_healthy_bag_has_no_problems(tmp_path):
    write_bag(tmp_path / "ok")
    assert problems(tmp_path / "ok") == []


def test_a_twist_in_the_wrong_frame_is_an_error_that_twist_from_poses_fixes(tmp_path):
    write_bag(tmp_path / "bag", twist_frame="odom")
    found = problems(tmp_path / "bag")
    assert [(p.check, p.severity, p.topic) for p in found] == [("twist", "error", "/odom")]
    assert "--twist-from-poses" in found[0].line() and str(tmp_path / "bag") in found[0].line()
    episodes, report = load_episodes(
        tmp_path / "bag", dt_s=0.1, image_size=32, twist_from_poses=True
    )
    assert report.doctor == []
    assert np.allclose(episodes[0].twists_t2[2:-2], [0.3, 0.4], atol=0.01)


def test_a_command_topic_slower_than_its_timeout_is_an_error(tmp_path):
    write_bag(tmp_path / "bag", command_period_s=1.0)
    found = problems(tmp_path / "bag")
    assert any(p.check == "command_rate" and p.severity == "error" for p in found)
    assert "every 1.00 s" in next(p.text for p in found if p.check == "command_rate")


@pytest.mark.parametrize("camera, what", [("blank", "blank"), ("frozen", "frozen")])
def test_a_blank_or_frozen_camera_is_an_error(tmp_path, camera, what):
    write_bag(tmp_path / "bag", camera=camera)
    found = problems(tmp_path / "bag")
    assert [(p.check, p.severity, p.topic) for p in found] == [
        ("images", "error", "/camera/image_raw")
    ]
    assert what in found[0].text


@pytest.mark.parametrize("camera, frozen", [("frozen", True), ("plain", False), ("ok", False)])
def test_letterboxing_a_wide_camera_changes_no_verdict(tmp_path, camera, frozen):
    """A 16:9 camera brought to the model's square with black bars (letterbox) gets the same
    verdict as with a crop: the bars neither make a plain wall look textured (so "frozen")
    nor hide a frozen camera."""
    write_bag(tmp_path / "bag", camera=camera, size=(64, 36))
    for fit in ("crop", "letterbox"):
        found = [p for p in problems(tmp_path / "bag", image_fit=fit) if "frozen" in p.text]
        assert bool(found) is frozen, (fit, [p.text for p in found])


def test_gaps_and_stamps_going_backwards_are_warnings(tmp_path):
    write_bag(tmp_path / "gap", gap=(3.0, 4.5))
    found = problems(tmp_path / "gap")
    assert {(p.check, p.severity) for p in found} == {("gaps", "warning")}
    assert {p.topic for p in found} == {"/camera/image_raw", "/odom"}
    write_bag(tmp_path / "back", backwards_at=5.0)
    found = problems(tmp_path / "back")
    assert ("stamps", "warning") in {(p.check, p.severity) for p in found}


def test_a_folder_with_a_bad_bag_stops_unless_skip_bad(tmp_path, capsys):
    folder = tmp_path / "bags"
    write_bag(folder / "good", seconds=6.0)
    write_bag(folder / "bad", seconds=6.0, twist_frame="odom")
    assert main(["doctor", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "error:" in out and "bad: /odom" in out and "1 of 2 bag(s) unusable" in out
    assert main(["doctor", str(folder), "--skip-bad"]) == 0
    common = ["--out", str(tmp_path / "m"), "--steps", "2", "--batch-size", "4", "--quiet"]
    assert main(["train", str(folder), *common]) == 2
    assert "--skip-bad" in capsys.readouterr().err
    # With --skip-bad the good bag trains; its labels are derived (no contact topic).
    assert main(["train", str(folder), "--skip-bad", *common, "--derive-contacts", "never",
                 "--no-collision-head"]) == 0  # fmt: skip
    assert "left out 1 unusable bag" in capsys.readouterr().out


def test_a_bag_that_cannot_load_is_unusable_and_the_error_names_the_flag(tmp_path, capsys):
    """A driver's own topic name: the bag does not load. That is an unusable bag like any other
    (not silently left out of training), and the error says which topic to pass."""
    folder = tmp_path / "bags"
    write_bag(folder / "good", seconds=6.0)
    write_bag(folder / "filtered", seconds=6.0, odom_topic="/odometry/filtered")
    assert main(["doctor", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "pass --odom-topic odometry/filtered" in out and "1 of 2 bag(s) unusable" in out
    common = ["--out", str(tmp_path / "m"), "--steps", "2", "--batch-size", "4", "--quiet"]
    assert main(["train", str(folder), *common, "--no-collision-head"]) == 2
    assert "--skip-bad" in capsys.readouterr().err
    assert main(["train", str(folder), "--skip-bad", *common, "--no-collision-head"]) == 0


def test_train_refuses_a_collision_head_without_labels(tmp_path, capsys):
    write_bag(tmp_path / "bag", seconds=6.0)
    common = ["--out", str(tmp_path / "m"), "--steps", "2", "--batch-size", "4", "--quiet"]
    assert main(["train", str(tmp_path / "bag"), *common, "--derive-contacts", "never"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no collision labels" in err[0]
    for option in (
        "--contact-topic",
        "--bumper-topic",
        "--derive-contacts",
        "--no-collision-head",
    ):
        assert option in err[0]
    # Derived from motion, but the arc never touches anything: still nothing to learn from.
    assert main(["train", str(tmp_path / "bag"), *common]) == 2
    assert "found none in" in capsys.readouterr().err
