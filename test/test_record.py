"""``world-model-ros record`` writes a bag the loader reads back with its ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from world_model_ros.cli.main import main
from world_model_ros.cli.record import parse_seeds
from world_model_ros.core.data.bag_format import META_KEYS, read_custom_data
from world_model_ros.core.data.dataset import load_episodes


def record(out: Path, *extra: str) -> int:
    return main(
        [
            "record",
            "--output",
            str(out),
            "--layouts",
            "4",
            "--episodes",
            "2",
            "--episode-seconds",
            "3",
            "--seed",
            "9",
            "--quiet",
            *extra,
        ]
    )


def test_record_writes_a_readable_mcap_bag_with_ground_truth(tmp_path: Path):
    assert record(tmp_path / "set", "--preview", "--image-size", "32") == 0
    bag = tmp_path / "set" / "layout_0004"
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["storage_identifier"] == "mcap"
    with AnyReader([bag]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
    assert topics == {
        "/camera/image_raw": "sensor_msgs/msg/Image",
        "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
        "/odom": "nav_msgs/msg/Odometry",
        "/cmd_vel": "geometry_msgs/msg/Twist",
        "/ground_truth/contact": "std_msgs/msg/Bool",
        "/tf": "tf2_msgs/msg/TFMessage",
    }
    custom = read_custom_data(bag)
    assert custom[META_KEYS["layout_seed"]] == "4"

    episodes, report = load_episodes(bag, dt_s=0.1)
    assert report.problems == [] and report.gaps == 0 and report.stale_commands == 0
    assert [len(e) for e in episodes] == [30, 30]
    assert [e.metadata["bag_episode"] for e in episodes] == [0, 1]
    for episode in episodes:
        assert episode.images_thw3.shape == (30, 32, 32, 3)
        assert episode.arena is not None and episode.arena.layout_seed == 4
        assert episode.contacts_t is not None and episode.contacts_t.dtype == bool
        assert np.abs(episode.commands_t2).max() > 0
        # Odometry in the arena frame: inside the walls.
        assert np.abs(episode.poses_t3[:, :2]).max() < episode.arena.half_size_m
    png = tmp_path / "set" / "preview_layout_0004.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_record_is_deterministic_and_refuses_to_overwrite(tmp_path: Path, capsys):
    assert record(tmp_path / "a") == 0
    assert record(tmp_path / "b") == 0
    a = load_episodes(tmp_path / "a", dt_s=0.1)[0][0]
    b = load_episodes(tmp_path / "b", dt_s=0.1)[0][0]
    np.testing.assert_array_equal(a.poses_t3, b.poses_t3)
    np.testing.assert_array_equal(a.images_thw3, b.images_thw3)
    np.testing.assert_array_equal(a.commands_t2, b.commands_t2)
    assert record(tmp_path / "a") == 2
    assert "use --overwrite" in capsys.readouterr().err
    assert record(tmp_path / "a", "--overwrite") == 0


def test_seed_specs():
    assert parse_seeds(["0:3", "7,9"]) == [0, 1, 2, 7, 9]
    with pytest.raises(Exception, match="repeat"):
        parse_seeds(["0:3", "2"])
    with pytest.raises(Exception, match="bad layout seed"):
        parse_seeds(["x"])


def test_record_with_the_planner_drives_towards_its_goals_and_says_so(tmp_path: Path):
    # On-policy data: the demo's MPPI on the shipped checkpoint drives, to random goals.
    assert record(tmp_path / "p", "--policy", "planner", "--planner-samples", "64") == 0
    bag = tmp_path / "p" / "layout_0004"
    assert '"policy": "planner"' in read_custom_data(bag)[META_KEYS["recorder"]]
    episodes, report = load_episodes(bag, dt_s=0.1)
    assert report.problems == [] and [len(e) for e in episodes] == [30, 30]
    for episode in episodes:  # it starts from rest and drives forward (the camera looks ahead)
        assert episode.commands_t2[0, 0] <= 0.11 and episode.commands_t2[:, 0].max() > 0.15
        assert np.hypot(*(episode.poses_t3[-1, :2] - episode.poses_t3[0, :2])) > 0.3


def test_record_with_the_planner_refuses_a_rate_other_than_the_models_step(tmp_path: Path):
    with pytest.raises(SystemExit, match="rate-hz 10"):
        record(tmp_path / "p", "--policy", "planner", "--rate-hz", "20")


def test_record_with_the_planner_names_a_bad_checkpoint(tmp_path: Path):
    with pytest.raises(SystemExit, match="--checkpoint: .*no such checkpoint folder"):
        record(tmp_path / "p", "--policy", "planner", "--checkpoint", str(tmp_path / "missing"))
