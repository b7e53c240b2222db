"""The multi-robot base: randomised robot files the simulator can build, and `pretrain` from
them to a base that `adapt` starts from. The figures come from full-size runs
(docs/any_robot.md); this checks the draws and that every step hands the next what it needs."""

from __future__ import annotations

import json
import random

import pytest

from world_model_ros.cli.main import main
from world_model_ros.core.model.checkpoint import load_checkpoint
from world_model_ros.sim.random_robots import (
    HEAVY_BASE,
    LIGHT_BASE,
    random_robot_values,
    write_random_robots,
)
from world_model_ros.sim.robots import load_robot


def test_random_robots_are_buildable_varied_and_seeded(tmp_path):
    robots = write_random_robots(tmp_path / "a", 24, seed=3)
    again = write_random_robots(tmp_path / "b", 24, seed=3)
    assert [p.read_text() for p, _ in robots] == [p.read_text() for p, _ in again]
    other = write_random_robots(tmp_path / "c", 24, seed=4)
    assert [p.read_text() for p, _ in robots] != [p.read_text() for p, _ in other]
    for path, robot in robots:
        assert load_robot(path) == robot  # the file on disk is the robot that was checked
        robot.sim_config()  # and the simulator can build it
        radius = robot.footprint.radius_m
        assert radius >= 0.08 and robot.base.wheel_base_m < 2 * radius
        assert 0.07 <= robot.camera.height_m <= 0.55 and robot.camera.forward_m < radius
        assert robot.lidar is None and not robot.bumper
    cameras = {(r.camera.width, r.camera.height, r.camera.encoding) for _, r in robots}
    heights = [r.camera.height_m for _, r in robots]
    assert len(cameras) >= 8 and max(heights) - min(heights) > 0.25  # cameras of every kind
    sizes = [r.footprint.radius_m for _, r in robots]
    assert min(sizes) < LIGHT_BASE["radius_m"] and max(sizes) > HEAVY_BASE["radius_m"]


def test_a_size_draw_keeps_the_base_in_proportion():
    rng = random.Random(0)
    draws = [random_robot_values(rng, f"r{i}") for i in range(60)]
    unclamped = sorted(
        (d for d in draws if d["footprint"]["radius_m"] > 0.08),
        key=lambda d: d["footprint"]["radius_m"],
    )
    # the wheels, mass and torque grow with the body, as between the anchors: a big body on a
    # small motor would not drive
    for key in ("mass_kg", "wheel_max_torque_nm", "wheel_radius_m"):
        for smaller, larger in zip(unclamped, unclamped[1:], strict=False):
            if larger["footprint"]["radius_m"] - smaller["footprint"]["radius_m"] > 0.002:
                assert larger["base"][key] > smaller["base"][key], key
    assert LIGHT_BASE["mass_kg"] < HEAVY_BASE["mass_kg"]


@pytest.mark.slow
def test_pretrain_then_adapt_from_the_base(tmp_path, capsys):
    base, data = tmp_path / "base", tmp_path / "data"
    assert main(["pretrain", "--out", str(base), "--data", str(data), "--robots", "2",
                 "--layouts-per-robot", "1", "--episode-seconds", "8", "--steps", "5",
                 "--threads", "1", "--quiet"]) == 0  # fmt: skip
    assert "episodes of 2 robots" in capsys.readouterr().out
    assert sorted(p.name for p in (data / "robots").iterdir()) == ["rand00.yaml", "rand01.yaml"]
    model, config = load_checkpoint(base)
    # the recipe's inputs: adapt fine-tunes it without changing its architecture
    assert model.config.history_steps == 10 and model.config.image_fit == "letterbox"
    assert "robot" not in config and config["pretrain"]["robots"] == 2
    assert config["training"]["data"]["robots"] == ["rand00", "rand01"]

    # the bags are kept: training again need not record again
    stamp = {p: p.stat().st_mtime_ns for p in (data / "bags").rglob("*.mcap")}
    assert main(["pretrain", "--out", str(tmp_path / "base2"), "--data", str(data), "--robots",
                 "2", "--layouts-per-robot", "1", "--steps", "2", "--threads", "1",
                 "--reuse-bags", "--quiet"]) == 0  # fmt: skip
    assert stamp and stamp == {p: p.stat().st_mtime_ns for p in stamp}

    bags, adapted = tmp_path / "small_bags", tmp_path / "small"
    assert main(["record", "--robot", "small", "--output", str(bags), "--no-ground-truth",
                 "--layouts", "0:3", "--episodes", "1", "--episode-seconds", "15",
                 "--quiet"]) == 0  # fmt: skip
    assert main(["adapt", str(bags), "--robot", "small", "--init", str(base), "--out",
                 str(adapted), "--steps", "5", "--occupancy-steps", "5", "--threads", "1",
                 "--quiet"]) == 0  # fmt: skip
    adapted_config = json.loads((adapted / "config.json").read_text())
    assert adapted_config["training"]["data"]["init_checkpoint"] == str(base)
    assert adapted_config["robot"]["footprint"]["radius_m"] == pytest.approx(0.12)


def test_pretrain_refuses_nonsense_counts(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path / "b"), "--robots", "0"]) == 2
    assert "--robots >= 1" in capsys.readouterr().err


def test_the_shipped_base_is_what_adapt_starts_from():
    from world_model_ros.cli.adapt import BASE_CHECKPOINT

    base, config = load_checkpoint(BASE_CHECKPOINT)
    default, _ = load_checkpoint(None)
    # the default robot's architecture with the recipe's inputs: no LiDAR (the adapted robot's
    # own scan input starts at zero), the last second of commands, whole frames letterboxed
    assert (base.config.latent_dim, base.config.hidden_dim) == (
        default.config.latent_dim,
        default.config.hidden_dim,
    )
    assert base.config.history_steps == 10 and base.config.scan_sectors == 0
    assert base.config.image_fit == "letterbox"
    assert config["pretrain"]["robots"] == 32 and "robot" not in config
    assert config["training"]["data"]["command"].startswith("world-model-ros pretrain")
