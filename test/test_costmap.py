"""The map-free training terms (core/training/costmap_loss.py), LaserScans into costmap labels
(core/data/scans.py), the variance calibration and the mirror augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from world_model_ros.cli.main import main
from world_model_ros.core.data.dataset import load_episodes
from world_model_ros.core.data.occupancy_labels import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    LabelGrid,
    build_label_grid,
)
from world_model_ros.core.data.scans import read_scans
from world_model_ros.core.data.windows import WindowSet
from world_model_ros.core.evaluation.metrics import footprint_clearance
from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig
from world_model_ros.core.training.calibration import calibrate_variance, fit_position_calibration
from world_model_ros.core.training.costmap_loss import CostmapFields, imagined_collision_labels
from world_model_ros.core.training.mirror import mirror_batch


def wall_grid() -> LabelGrid:
    """Free for x < 1 m, occupied from x = 1 m, unknown for y > 1 m left of x = 0.9 m."""
    labels = np.full((60, 60), FREE, np.int8)  # y rows -1.5..1.5, x cols -1.5..1.5
    labels[:, 50:] = OCCUPIED
    labels[50:, :48] = UNKNOWN
    return LabelGrid(np.array([-1.5, -1.5]), 0.05, labels)


def test_the_costmap_penalises_overlap_with_a_gradient_and_labels_imagined_collisions():
    fields = CostmapFields.from_grids([wall_grid(), None])
    xy = torch.tensor([[[0.0, 0.0], [0.9, 0.0], [1.2, 0.0]]], requires_grad=True)
    clearance = fields.clearance(xy, torch.tensor([0]))
    clearance = clearance.detach()
    assert clearance[0, 0] > 0.9 and abs(float(clearance[0, 1]) - 0.1) < 0.03
    assert clearance[0, 2] < -0.15
    penalty = fields.penalty(xy, torch.tensor([0]), 0.0)
    penalty.backward()
    assert penalty > 0 and xy.grad[0, 2, 0] > 0  # descending the penalty moves it back
    assert fields.penalty(xy.detach(), torch.tensor([1]), 0.0) == 0  # no costmap: no term
    # A path driving into the wall: contact from the first step that reaches it, and after.
    path = torch.zeros(2, 5, 3)
    path[:, :, 0] = torch.tensor([0.2, 0.5, 0.8, 1.0, 1.1])
    path[1, :, 1] = 1.2  # the second path runs through unknown cells first: not trusted there
    labels, mask = imagined_collision_labels(fields, path, torch.tensor([0, 0]))
    assert labels[0].tolist() == [0, 0, 0, 1, 1] and mask[0].all()
    assert not mask[1, :3].any() and labels[1, 3:].tolist() == [1, 1] and mask[1, 3:].all()


def test_scans_become_costmap_labels_and_a_bag_without_scans_gives_none(tmp_path):
    record = ["record", "--robot", "large", "--output", str(tmp_path / "bags"), "--quiet"]
    assert main([*record, "--layouts", "3", "--episodes", "1", "--episode-seconds", "3"]) == 0
    bag = tmp_path / "bags" / "layout_0003"
    episodes, _ = load_episodes(bag, dt_s=0.1, image_size=8)
    scans = read_scans(bag, "scan", episodes)
    assert len(scans) >= 25 and len(scans[0].ranges_n) == 360
    assert read_scans(bag, "no_such_scan", episodes) == []
    radius = 0.22
    grid = build_label_grid(episodes, radius, scans)
    arena = episodes[0].arena
    ys, xs = np.mgrid[0 : grid.labels_yx.shape[0], 0 : grid.labels_yx.shape[1]]
    centres = grid.origin_2 + (np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) * grid.resolution_m
    truth = footprint_clearance(centres, arena) < 0
    labels = grid.labels_yx.ravel()
    inside = np.abs(centres).max(1) < arena.half_size_m
    free, occupied = (labels == FREE) & inside, (labels == OCCUPIED) & inside
    assert free.sum() > 500 and occupied.sum() > 200
    assert (~truth[free]).mean() > 0.97 and truth[occupied].mean() > 0.85


def tiny_windows() -> WindowSet:
    from synthetic_episodes import make_episode

    return WindowSet([make_episode(seed, steps=40) for seed in range(3)], 32, 10)


def test_calibration_scales_the_variance_to_the_target_coverage():
    windows = tiny_windows()
    torch.manual_seed(0)
    config = LatentModelConfig(
        image_size=32, encoder_channels=(8, 8), latent_dim=8, hidden_dim=16, horizon=10
    )
    calibrated, report = calibrate_variance(LatentDynamicsModel(config), windows, target=0.9)
    assert report["coverage_after"] == pytest.approx(0.9, abs=0.02)
    scale = calibrated.config.position_var_scale
    assert scale > 0 and scale != 1.0
    again, report2 = calibrate_variance(calibrated, windows, target=0.9)
    assert again.config.position_var_scale == pytest.approx(scale, rel=0.05)


def test_foreseen_contacts_widen_the_region_where_one_scale_cannot_cover_them():
    """Contact windows whose errors are three times the rest, foreseen by the collision head:
    one scale covers them far less than 95 %, a gain on the foreseen contact covers both."""
    rng = np.random.default_rng(0)
    windows, steps = 2000, 10
    contact = rng.random(windows) < 0.2
    sigma_bh = np.where(contact[:, None], 3.0, 1.0) * np.ones((windows, steps))
    errors = np.hypot(*rng.normal(size=(2, windows, steps))) * sigma_bh
    foreseen = np.where(contact[:, None], 0.9, 0.02) * np.ones((windows, steps))
    variances = np.ones((windows, steps))
    gain, _, coverage, contact_coverage = fit_position_calibration(
        errors, variances, contact, foreseen, 0.95, 0.95, 0.975, gains=(0.0,)
    )
    assert gain == 0.0 and contact_coverage < 0.9
    gain, scale, coverage, contact_coverage = fit_position_calibration(
        errors, variances, contact, foreseen, 0.95, 0.95, 0.975
    )
    assert gain > 0 and scale > 0
    assert coverage == pytest.approx(0.95, abs=0.01) and contact_coverage >= 0.95
    # the same errors on every window: nothing for a gain to fix, the smallest (0) stays
    alike = np.hypot(*rng.normal(size=(2, windows, steps)))
    gain, _, coverage, contact_coverage = fit_position_calibration(
        alike, variances, contact, foreseen, 0.95, 0.9, 0.975
    )
    assert gain == 0.0 and coverage == pytest.approx(0.95, abs=0.01)


def test_the_contact_gain_grows_the_variance_by_the_contact_foreseen_so_far():
    torch.manual_seed(0)
    config = LatentModelConfig(
        image_size=32, encoder_channels=(8, 8), latent_dim=8, hidden_dim=16, horizon=10
    )
    plain = LatentDynamicsModel(config)
    heads = torch.randn(4, 10, plain.out.out_features - config.latent_dim) * 3
    actions = torch.randn(4, 10, 2)
    base = plain.decode(heads, actions).position_var_bh
    gained = plain.with_variance_calibration(1.0, 1.0, 2.0).decode(heads, actions)
    foreseen = torch.cummax(torch.sigmoid(gained.collision_logit_bh), dim=1).values
    assert torch.allclose(gained.position_var_bh - 1e-6, (base - 1e-6) * (1 + 2 * foreseen))
    assert torch.equal(gained.yaw_var_bh, plain.decode(heads, actions).yaw_var_bh)


def test_a_mirrored_window_is_the_same_physics_seen_in_a_mirror():
    windows = tiny_windows()
    batch = windows.gather(torch.arange(6), (5,))
    mirrored, which = mirror_batch(batch, 1.0, torch.Generator().manual_seed(0))
    assert which.all()
    assert torch.equal(mirrored.images_bss3, batch.images_bss3.flip(2))
    assert torch.equal(mirrored.actions_bh2[..., 1], -batch.actions_bh2[..., 1])
    assert torch.equal(mirrored.rel_poses_bh3[..., 1:], -batch.rel_poses_bh3[..., 1:])
    assert torch.equal(mirrored.contacts_bh, batch.contacts_bh)
    same, none = mirror_batch(batch, 0.0, torch.Generator().manual_seed(0))
    assert same is batch and not none.any()
