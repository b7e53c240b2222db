"""`dataset build` on a real robot's kind of bags (no contact topic): contact labels derived
from the motion (with a robot file's limits or estimated ones) or from a bumper, named per
record, and `train DIR` then trains a collision head; without labels, or with a dataset whose
image fit is not the model's, `train DIR` refuses in one line. A malformed robot file is one
line too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from world_model_ros.cli.main import main
from world_model_ros.core.data.bag_format import BagTopics
from world_model_ros.core.data.dataset import load_episodes
from world_model_ros.core.data.manifest import ShardDataset
from world_model_ros.sim.robots import load_robot

TRAIN = ["--steps", "2", "--batch-size", "4", "--threads", "1", "--quiet"]


def record(root: Path, layout: int, seconds: int, *extra: str) -> Path:
    assert main(["record", "--robot", "small", "--output", str(root), "--layouts", str(layout),
                 "--episodes", "1", "--episode-seconds", str(seconds), "--quiet",
                 *extra]) == 0  # fmt: skip
    return root / f"layout_{layout:04d}"


@pytest.fixture(scope="module")
def real_bags(tmp_path_factory) -> dict[str, Path]:
    """Bags of the small robot as a real robot writes them (no contact topic, no map): layout 1
    runs into things in its 10 s, layout 3 touches nothing in 6 s."""
    root = tmp_path_factory.mktemp("real")
    return {
        "contacts": record(root, 1, 10, "--no-ground-truth"),
        "none": record(root, 3, 6, "--no-ground-truth"),
    }


def build(bags, out: Path, *extra: str) -> int:
    return main(["dataset", "build", *map(str, bags), "--out", str(out), "--quiet", *extra])


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def test_derived_labels_go_into_the_shards_and_train_a_collision_head(real_bags, tmp_path, capsys):
    out = tmp_path / "ds"
    assert build([real_bags["contacts"]], out, "--robot", "small") == 0
    said = capsys.readouterr().out
    assert "labels: 1 episode(s) derived from motion (" in said and "estimated" not in said
    dataset = ShardDataset(out)
    (record_,) = dataset.records
    assert record_["label_sources"]["contacts_t"] == "derived from motion"
    assert record_["robot"] == "small" and record_["contact_steps"] > 0
    small = load_robot("small").limits
    assert dataset.bags[0]["labels"]["limits"]["max_linear_mps"] == small.max_linear_mps
    (episode,) = dataset.load_episodes()
    assert episode.contacts_t.sum() == record_["contact_steps"]
    assert f"({record_['contact_steps']} contact steps)" in said
    assert main(["train", str(out), "--out", str(tmp_path / "ckpt"), *TRAIN]) == 0
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert (
        config["collision_head"] == "trained"
        and config["training"]["config"]["loss"]["collision"] > 0
    )


def test_a_plain_robot_name_gets_limits_estimated_from_each_bag(real_bags, tmp_path, capsys):
    out = tmp_path / "ds"
    assert build(real_bags.values(), out, "--robot", "rover_7", "--workers", "2") == 0
    said = capsys.readouterr().out
    assert said.count("estimated from each bag (2 bag(s)") == 1
    assert "labels: 2 episode(s) derived from motion" in said
    dataset = ShardDataset(out)
    assert {r["robot"] for r in dataset.records} == {"rover_7"}
    assert [b["labels"]["limits_from"] for b in dataset.bags] == ["estimated from this bag"] * 2
    limits = [b["labels"]["limits"]["max_linear_mps"] for b in dataset.bags]
    assert limits[0] != limits[1]  # each bag's own


def test_without_labels_train_names_the_options(real_bags, tmp_path, capsys):
    out = tmp_path / "never"
    assert build([real_bags["contacts"]], out, "--derive-contacts", "never") == 0
    assert "labels: 1 episode(s) without contact labels" in capsys.readouterr().out
    assert "contacts_t" not in ShardDataset(out).records[0]["label_sources"]
    assert main(["train", str(out), "--out", str(tmp_path / "ckpt"), *TRAIN]) == 2
    (error,) = lines(capsys.readouterr().err)
    for option in ("--derive-contacts", "--bumper-topic", "--no-collision-head"):
        assert option in error
    # Derived, but nothing in these bags was touched: no contact to learn from either.
    assert build([real_bags["none"]], tmp_path / "none", "--robot", "small") == 0
    assert "(0 contact steps)" in capsys.readouterr().out
    assert main(["train", str(tmp_path / "none"), "--out", str(tmp_path / "c"), *TRAIN]) == 2
    (error,) = lines(capsys.readouterr().err)
    assert "found none in 60 samples" in error and "--bumper-topic" in error


def test_a_bumper_gives_the_labels(tmp_path, capsys):
    """The simulator's contact flags (std_msgs/Bool) read as a bumper: the labels are its."""
    bag = record(tmp_path / "sim", 1, 10)
    out = tmp_path / "ds"
    flags = ["--contact-topic", "", "--bumper-topic", "ground_truth/contact"]
    assert build([bag], out, *flags, "--derive-contacts", "never") == 0
    assert "1 episode(s) bumper ground_truth/contact" in capsys.readouterr().out
    dataset = ShardDataset(out)
    assert dataset.records[0]["label_sources"]["contacts_t"] == "bumper ground_truth/contact"
    (truth,), _ = load_episodes([bag], image_size=64)
    (built,) = dataset.load_episodes()
    assert truth.contacts_t.any() and np.array_equal(built.contacts_t, truth.contacts_t)
    assert "bumper_t" not in built.metadata


def test_the_image_fit_is_recorded_and_must_be_the_models(real_bags, tmp_path, capsys):
    out = tmp_path / "letterbox"
    assert build([real_bags["contacts"]], out, "--image-fit", "letterbox") == 0
    dataset = ShardDataset(out)
    assert dataset.settings.image_fit == "letterbox"
    (built,) = dataset.load_episodes()
    (boxed,), _ = load_episodes(
        [real_bags["contacts"]], BagTopics(), image_size=64, image_fit="letterbox"
    )
    (cropped,), _ = load_episodes([real_bags["contacts"]], BagTopics(), image_size=64)
    assert np.array_equal(built.images_thw3, boxed.images_thw3)
    assert not np.array_equal(built.images_thw3, cropped.images_thw3)  # a 16:9 camera
    capsys.readouterr()
    assert main(["train", str(out), "--out", str(tmp_path / "ckpt"), *TRAIN]) == 2
    (error,) = lines(capsys.readouterr().err)
    assert "image fit letterbox" in error and "image_fit is crop" in error
    # A manifest from before the setting existed was built with crop.
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["settings"]["image_fit"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert ShardDataset(out).settings.image_fit == "crop"


def test_a_malformed_robot_file_is_one_line(real_bags, tmp_path, capsys):
    robot = tmp_path / "rover.yaml"
    robot.write_text("name: rover\nlimits:\n  max_linear_mps: fast\n")
    assert build([real_bags["contacts"]], tmp_path / "ds", "--robot", str(robot)) == 2
    (error,) = lines(capsys.readouterr().err)
    assert error.startswith("dataset build: robot file") and str(robot) in error
    assert not (tmp_path / "ds").exists()


def test_a_bag_the_data_doctor_rejects_is_not_built_in_unless_skip_bad(tmp_path, capsys):
    """A driver publishing its twist in the odometry frame poisons derived labels and dynamics:
    like `train BAGS`, the build leaves that bag out and exits non-zero naming it (the good bag
    is added), --skip-bad accepts that; --twist-from-poses repairs the bag instead."""
    from test_doctor import write_bag

    bags = tmp_path / "bags"
    write_bag(bags / "good", seconds=6.0)
    write_bag(bags / "odom_frame_twist", seconds=6.0, twist_frame="odom")
    build = ["dataset", "build", str(bags), "--workers", "1", "--quiet", "--image-size", "32"]
    assert main([*build, "--out", str(tmp_path / "ds")]) == 1
    err = capsys.readouterr()
    assert "odom_frame_twist" in err.out and "twist" in err.out and "--skip-bad" in err.err
    assert [Path(b["path"]).name for b in ShardDataset(tmp_path / "ds").bags] == ["good"]
    assert main([*build, "--out", str(tmp_path / "ds2"), "--skip-bad"]) == 0
    assert main([*build, "--out", str(tmp_path / "ds3"), "--twist-from-poses"]) == 0
    dataset = ShardDataset(tmp_path / "ds3")
    assert len(dataset.bags) == 2 and dataset.settings.twist_from_poses
