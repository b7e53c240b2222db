"""Robot files (config/robots/*.yaml, sim/robots.py): validation with one-line errors, the
default robot is the simulator's default, the shipped robots differ from it where the issue
asks, and `record --robot --no-ground-truth` writes bags the way a real robot does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from world_model_ros.cli.main import main
from world_model_ros.core.data.bag_format import read_custom_data
from world_model_ros.sim.robots import (
    RobotFileError,
    available_robots,
    load_robot,
    robot_from_dict,
)
from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

DEFAULT = yaml.safe_load((Path(load_robot("default").source)).read_text())


def variant(**changes) -> dict:
    """The default robot file with ``section.key`` (dotted) set to new values."""
    values = json.loads(json.dumps(DEFAULT))
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        target = values
        for part in path:
            target = target.setdefault(part, {})
        if value is KeyError:
            target.pop(key, None)
        else:
            target[key] = value
    return values


def test_the_default_robot_file_is_the_simulators_default():
    assert load_robot("default").sim_config() == SimConfig()
    assert load_robot(None).name == "default"


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"camera__fovz_deg": 60.0}, "camera.fovz_deg"),
        ({"wheels": 2}, "wheels"),
        ({"camera__width": 4}, "camera.width"),
        ({"camera__encoding": "yuv422"}, "camera.encoding"),
        ({"limits__max_linear_mps": -0.5}, "limits.max_linear_mps"),
        ({"limits__max_linear_mps": "fast"}, "limits.max_linear_mps"),
        ({"footprint__length_m": 0.4, "footprint__width_m": 0.3}, "footprint"),
        ({"footprint__radius_m": KeyError}, "footprint"),
        ({"base__wheel_base_m": 0.6}, "base.wheel_base_m"),
        ({"camera__width": 64.5}, "camera.width"),
        ({"bumper": "yes"}, "bumper"),
        ({"lidar": {"beams": 1}}, "lidar"),
    ],
)
def test_a_bad_robot_file_is_one_line_naming_the_key_and_the_file(changes, key, tmp_path):
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(variant(**changes)))
    with pytest.raises(RobotFileError) as error:
        load_robot(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and f"'{key}'" in message


def test_missing_and_unparsable_robot_files(tmp_path):
    with pytest.raises(RobotFileError, match="not found.*default"):
        load_robot("no_such_robot")
    bad = tmp_path / "bad.yaml"
    bad.write_text("footprint: [unclosed\n")
    with pytest.raises(RobotFileError, match="cannot read"):
        load_robot(bad)
    with pytest.raises(RobotFileError, match="mapping"):
        robot_from_dict([1, 2], "x.yaml")


def test_a_rectangular_robot_builds_and_collides():
    robot = robot_from_dict(
        variant(footprint__radius_m=KeyError, footprint__length_m=0.4, footprint__width_m=0.3)
    )
    footprint = robot.footprint_spec()
    assert footprint.kind == "rectangle" and footprint.circumscribed_radius_m == pytest.approx(
        0.25
    )
    sim = DiffDriveSim(robot.sim_config(), layout_seed=3)
    sim.reset(start_pose=(0.0, 2.0, np.pi / 2))  # facing the +y wall, 0.5 m away
    for _ in range(40):
        sim.step((0.4, 0.0), 0.1)
    assert sim.in_contact()
    assert sim.pose()[1] == pytest.approx(2.5 - 0.2, abs=0.02)  # half the length from the wall


def test_the_shipped_robots_differ_from_the_default_where_it_matters():
    default = load_robot("default")
    others = [load_robot(name) for name in available_robots() if name != "default"]
    assert len(others) >= 2
    for robot in others:
        d, o = default.camera, robot.camera
        assert robot.footprint_spec().circumscribed_radius_m != default.footprint.radius_m
        assert o.height_m != d.height_m and o.fovy_deg != d.fovy_deg
        assert (o.width, o.height) != (d.width, d.height) and o.width != o.height
        assert o.encoding != d.encoding


def read_bag(path: Path) -> dict[str, str]:
    with AnyReader([path]) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def test_record_a_robot_without_ground_truth_writes_what_a_real_robot_would(tmp_path):
    out = tmp_path / "bags"
    common = ["--layouts", "3", "--episodes", "1", "--episode-seconds", "3", "--quiet"]
    assert main(["record", "--robot", "large", "--output", str(out), "--no-ground-truth",
                 "--storage", "sqlite3", *common]) == 0  # fmt: skip
    bag = out / "layout_0003"
    topics = read_bag(bag)
    assert "/ground_truth/contact" not in topics
    assert topics["/cmd_vel"] == "geometry_msgs/msg/TwistStamped"
    assert topics["/scan"] == "sensor_msgs/msg/LaserScan"
    assert list(bag.glob("*.db3")) and not read_custom_data(bag)  # no map, no layout seed
    with AnyReader([bag]) as reader:
        image = next(
            reader.deserialize(raw, c.msgtype)
            for c, _, raw in reader.messages()
            if c.topic == "/camera/image_raw"
        )
    assert (image.width, image.height, image.encoding) == (160, 120, "bgr8")
    # With ground truth: the contact topic and the map, and the robot description.
    assert main(["record", "--robot", "small", "--output", str(tmp_path / "gt"), *common]) == 0
    gt = tmp_path / "gt" / "layout_0003"
    assert "/ground_truth/contact" in read_bag(gt)
    custom = read_custom_data(gt)
    assert json.loads(custom["world_model_ros.robot"])["name"] == "small"
    assert json.loads(custom["world_model_ros.arena"])["robot_radius_m"] == 0.12


def test_record_names_a_bad_robot_file(tmp_path, capsys):
    assert main(["record", "--robot", "nope", "--output", str(tmp_path), "--quiet"]) == 2
    assert "robot file" in capsys.readouterr().err
