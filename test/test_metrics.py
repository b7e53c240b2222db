"""Evaluation metrics on hand-made cases, and the evaluation/report pipeline on synthetic data."""

import json
import math

import numpy as np
import pytest
import torch
from synthetic_episodes import make_episode

from world_model_ros.core.data.episodes import ArenaMap, Obstacle
from world_model_ros.core.data.windows import WindowSet
from world_model_ros.core.evaluation.evaluate import (
    CONSTANT_VELOCITY,
    KINEMATIC,
    EvalConfig,
    evaluate,
    kinematic_baseline,
    target_figures,
)
from world_model_ros.core.evaluation.metrics import (
    ade_fde,
    auroc,
    footprint_clearance,
    gaussian_coverage_95,
    heading_errors,
    horizon_summary,
    interpenetrating,
    position_errors,
)
from world_model_ros.core.evaluation.report import write_report
from world_model_ros.core.model.contract import LatentState, Rollout


def straight(horizon: int, speed: float = 0.5, dt: float = 0.1, offset=(0.0, 0.0)) -> np.ndarray:
    t = dt * np.arange(1, horizon + 1)
    return np.stack(
        [speed * t + offset[0], np.full(horizon, offset[1]), np.zeros(horizon)], axis=-1
    )[None]


def test_constant_offset_gives_known_ade_and_fde():
    errors = position_errors(straight(20, offset=(0.0, 0.1)), straight(20))
    assert ade_fde(errors, 20) == pytest.approx((0.1, 0.1))


def test_growing_error_gives_known_ade_and_fde():
    truth = straight(20, speed=0.5)
    prediction = straight(20, speed=0.6)  # error 0.01 m per step: 0.01 k at step k
    summary = horizon_summary(prediction, truth, (5, 10, 20), 0.1)
    assert summary["fde_0.5s"] == pytest.approx(0.05)
    assert summary["ade_0.5s"] == pytest.approx(0.03)  # mean of 0.01 .. 0.05
    assert summary["fde_2.0s"] == pytest.approx(0.20)
    assert summary["ade_2.0s"] == pytest.approx(0.105)  # mean of 0.01 .. 0.20
    assert summary["heading_deg_2.0s"] == pytest.approx(0.0)


def test_heading_error_wraps():
    a = np.array([[[0, 0, math.radians(179)]]])
    b = np.array([[[0, 0, math.radians(-179)]]])
    assert np.degrees(heading_errors(a, b))[0, 0] == pytest.approx(2.0)


def test_auroc_on_known_rankings():
    labels = np.array([0, 0, 1, 1])
    assert auroc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(1.0)
    assert auroc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == pytest.approx(0.0)
    assert auroc(labels, np.array([0.1, 0.8, 0.4, 0.9])) == pytest.approx(
        0.75
    )  # one of four pairs misordered
    assert math.isnan(auroc(np.array([1, 1]), np.array([0.1, 0.2])))


def arena() -> ArenaMap:
    return ArenaMap(
        half_size_m=2.0,
        robot_radius_m=0.2,
        obstacles=[
            Obstacle(
                "box", 1.0, 0.0, math.pi / 2, 0.5, 0.1
            ),  # rotated: spans x 0.9..1.1, y -0.5..0.5
            Obstacle("cylinder", -1.0, -1.0, 0.0, 0.3, 0.3),
        ],
    )


def test_clearance_and_interpenetration_known_cases():
    xy = np.array(
        [
            [0.0, 0.0],  # free: box face at x = 0.9 -> clearance 0.9 - 0.2
            [0.75, 0.0],  # footprint reaches x = 0.95: 5 cm into the box
            [0.7, 0.0],  # exactly touching the box face
            [-1.0, -0.55],  # 5 cm into the cylinder (0.45 from its centre)
            [1.85, 1.0],  # 5 cm into the wall at x = 2
            [1.0, 0.0],  # centre inside the box
        ]
    )
    clearance = footprint_clearance(xy, arena())
    np.testing.assert_allclose(clearance[:5], [0.7, -0.05, 0.0, -0.05, -0.05], atol=1e-9)
    assert clearance[5] < -0.2
    np.testing.assert_array_equal(
        interpenetrating(xy, arena(), tolerance_m=0.02), [False, True, False, True, True, True]
    )
    np.testing.assert_array_equal(
        interpenetrating(xy, arena(), tolerance_m=0.06), [False, False, False, False, False, True]
    )


def test_coverage_of_a_calibrated_gaussian():
    rng = np.random.default_rng(0)
    sigma = 0.3
    errors = np.linalg.norm(rng.normal(0, sigma, (20000, 2)), axis=1)[:, None]
    assert gaussian_coverage_95(errors, np.full_like(errors, sigma**2)) == pytest.approx(
        0.95, abs=0.01
    )


class Oracle:
    """Predicts exactly what was recorded (looked up by start pose): every error must be 0."""

    model_id, dt_s, horizon, device = "oracle", 0.1, 20, torch.device("cpu")

    def __init__(self, windows: WindowSet):
        everything = windows.gather(torch.arange(len(windows)))
        self.table = {tuple(p.tolist()): i for i, p in enumerate(everything.start_pose_b3)}
        self.poses, self.contacts = everything.poses_bh3, everything.contacts_bh

    def encode(self, observation):
        raise NotImplementedError

    def rollout(self, latent: LatentState, actions_bh2: torch.Tensor) -> Rollout:
        rows = torch.tensor([self.table[tuple(p.tolist())] for p in latent.pose_3])
        b, h = actions_bh2.shape[:2]
        return Rollout(
            self.poses[rows],
            actions_bh2.clone(),
            torch.full((b, h), 1e-4),
            torch.full((b, h), 1e-4),
            self.contacts[rows],
        )


def test_evaluate_and_report_on_synthetic_episodes(tmp_path):
    episodes = [make_episode(seed, steps=80) for seed in range(3)]
    windows = WindowSet(episodes, 32, 20, stride=5)
    config = EvalConfig(stride=5, example_rollouts=2)
    models = {
        CONSTANT_VELOCITY: CONSTANT_VELOCITY,
        KINEMATIC: kinematic_baseline(0.1, 20),
        "oracle": Oracle(windows),
    }
    results = evaluate(models, windows, config, 0.1)
    assert results["windows"]["all"] == len(windows)
    oracle = results["subsets"]["all"]["oracle"]
    assert oracle["ade_2.0s"] == pytest.approx(0.0, abs=1e-6)
    assert oracle["collision_auroc"] == pytest.approx(1.0)
    assert (
        oracle["interpenetration_rate"]
        == results["subsets"]["all"]["ground truth"]["interpenetration_rate"]
    )
    assert results["subsets"]["all"][KINEMATIC]["ade_2.0s"] > 0.0
    assert results["subsets"]["all"][KINEMATIC]["collision_auroc"] is None  # no collision head
    targets = target_figures(results, "oracle", None, 0.1, 20)
    rows = {row["target"]: row for row in targets["rows"]}
    assert rows["ade_vs_kinematic_all"]["value"] == pytest.approx(0.0, abs=1e-5)
    assert rows["ade_vs_kinematic_all"]["met"] is True
    assert rows["ade_vs_no_camera_contact"]["met"] is None  # no ablation given
    paths = write_report(
        results, targets, tmp_path, {"checkpoint": "oracle"}, windows, config, 0.1, "oracle"
    )
    report = json.loads(paths["json"].read_text())
    assert report["subsets"]["all"]["oracle"]["ade_2.0s"] == pytest.approx(0.0, abs=1e-6)
    assert "| oracle |" in paths["markdown"].read_text()
    assert (
        paths["horizon_plot"].stat().st_size > 1000 and paths["rollout_plot"].stat().st_size > 1000
    )


def test_training_footprint_clearance_matches_the_metric():
    """The differentiable clearance the training loss uses agrees with the evaluation metric."""
    episodes = [make_episode(seed, steps=40) for seed in range(2)]
    windows = WindowSet(episodes, 32, 20, stride=10)
    batch = windows.gather(torch.arange(len(windows)))
    rng = np.random.default_rng(0)
    xy = torch.tensor(rng.uniform(-1.6, 1.6, (len(windows), 20, 2)), dtype=torch.float32)
    clearance = batch.arena.clearance(xy).numpy()
    for row in range(len(windows)):
        expected = footprint_clearance(xy[row].numpy(), episodes[int(batch.episode_b[row])].arena)
        np.testing.assert_allclose(clearance[row], expected, atol=1e-5)
