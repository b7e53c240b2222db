"""The any-robot chain end to end on a few seconds of data: bags a real robot would record (no
contact topic, no map) -> `adapt` -> a checkpoint that knows its robot -> `eval` and
`demo --robot` with it. The figures come from full-size runs (docs/any_robot.md); this checks
that every step runs and hands the next what it needs."""

from __future__ import annotations

import json

import pytest

from world_model_ros.cli.main import main
from world_model_ros.core.training.calibration import GAINS

pytestmark = pytest.mark.slow


def test_bags_without_ground_truth_to_a_deployable_checkpoint(tmp_path, capsys):
    bags, ckpt = tmp_path / "bags", tmp_path / "large"
    record = ["record", "--robot", "large", "--output", str(bags), "--no-ground-truth"]
    assert main([*record, "--layouts", "0:4", "--episodes", "1", "--episode-seconds", "20",
                 "--storage", "sqlite3", "--quiet"]) == 0  # fmt: skip
    assert main(["adapt", str(bags), "--robot", "large", "--out", str(ckpt), "--steps", "20",
                 "--occupancy-steps", "20", "--threads", "1", "--quiet"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "derived from motion" in said  # the label source is named
    assert {"model.safetensors", "occupancy.safetensors", "config.json"} <= {
        p.name for p in ckpt.iterdir()
    }
    config = json.loads((ckpt / "config.json").read_text())
    assert config["robot"]["footprint"]["radius_m"] == pytest.approx(0.22)
    assert (config["camera"]["width"], config["camera"]["height"]) == (160, 120)
    assert "contact gain" in said  # the calibration, written into the model's config
    assert (
        config["model"]["contact_var_gain"] in GAINS and config["model"]["position_var_scale"] > 0
    )

    from world_model_ros.core.model.registry import ModelSpec, load_world_model

    model = load_world_model(ModelSpec(kind="latent", checkpoint=str(ckpt)))
    assert model.footprint.circumscribed_radius_m == pytest.approx(0.22)
    assert model.limits.max_linear_mps == pytest.approx(0.4)  # the robot file's: the planner's cap
    assert model.occupancy_head is not None  # trained without any map

    # No robot file, only the size: the limits the labels were derived with (seen in the bags)
    unnamed = tmp_path / "unnamed"
    assert main(["adapt", str(bags), "--footprint-radius", "0.22", "--out", str(unnamed),
                 "--steps", "5", "--occupancy-steps", "5", "--threads", "1",
                 "--quiet"]) == 0  # fmt: skip
    robot = json.loads((unnamed / "config.json").read_text())["robot"]
    assert "estimated from the bags" in robot["source"]
    assert 0.05 <= robot["limits"]["max_linear_mps"] <= 0.4 + 0.05  # no faster than it drove

    assert main(["eval", str(bags), "--checkpoint", str(ckpt), "--out",
                 str(tmp_path / "eval"), "--ablation", "none"]) == 0  # fmt: skip
    assert "contact" in capsys.readouterr().out  # says what it cannot score without labels
    assert main(["demo", "--robot", "large", "--checkpoint", str(ckpt), "--episodes", "1",
                 "--no-compare", "--no-bag", "--no-progress", "--max-episode-s", "5",
                 "--out", str(tmp_path / "demo")]) == 0  # fmt: skip
    assert (tmp_path / "demo" / "summary.json").exists()
