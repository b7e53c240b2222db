"""Evaluation of predictors on held-out windows, side by side with the baselines.

Every predictor sees the same windows (start frame + the recorded commands) and is scored on
the same metrics (core/evaluation/metrics.py): ADE/FDE and heading error at 0.5/1/2 s,
collision-within- horizon AUROC (label: a contact within the horizon; score: the highest predicted
collision probability over it), the interpenetration rate of predicted footprints against the
arena's ground truth, and the 95 % coverage of the predicted position uncertainty. Results are
given on all windows and on the windows with a contact, where vision has to earn its keep.

Baselines: ``constant velocity`` (the measured twist held), ``kinematic`` (the commands
integrated, core/model/kinematic.py) and, when given, the no-camera ablation checkpoint.
The results become Markdown, JSON and plots in report.py (plots.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.windows import WindowSet
from ..geometry import integrate_unicycle
from ..model.contract import LatentState, WorldModel
from ..model.kinematic import KinematicConfig, KinematicPredictor
from ..model.latent_predictor import LatentPredictor
from .metrics import (
    auroc,
    gaussian_coverage_95,
    horizon_summary,
    interpenetrating,
    position_errors,
)

CONSTANT_VELOCITY = "constant velocity"
KINEMATIC = "kinematic"


@dataclass(frozen=True)
class EvalConfig:
    horizon_steps: tuple[int, ...] = (5, 10, 20)  # 0.5, 1, 2 s at dt = 0.1 s
    stride: int = 5  # a window every stride steps (overlapping windows are near duplicates)
    interpenetration_tolerance_m: float = 0.02
    batch_size: int = 1024
    example_rollouts: int = 4


# Issue 4's targets: (name, description, metric key, threshold, "<=" or ">=").
TARGETS = (
    ("ade_vs_kinematic_all", "ADE@2s ≤ 0.6 × kinematic (all windows)", 0.6, "<="),
    ("ade_vs_kinematic_contact", "ADE@2s ≤ 0.35 × kinematic (contact windows)", 0.35, "<="),
    ("collision_auroc", "collision-within-2s AUROC ≥ 0.95", 0.95, ">="),
    ("interpenetration_rate", "interpenetrating predicted poses ≤ 3 %", 0.03, "<="),
    ("ade_vs_no_camera_contact", "ADE@2s ≤ 0.7 × no-camera ablation (contact windows)", 0.7, "<="),
)


@dataclass
class Predictions:
    poses_bh3: np.ndarray  # odom frame
    position_var_bh: np.ndarray | None
    collision_prob_bh: np.ndarray | None


def predict_windows(
    model: WorldModel | str, windows: WindowSet, config: EvalConfig, dt_s: float
) -> Predictions:
    """Run one predictor over every window (batched), from the window's start frame and commands.

    ``model`` is a predictor or the name CONSTANT_VELOCITY (the measured twist held for H steps).
    """
    poses, variances, collisions = [], [], []
    for chunk in torch.arange(len(windows)).split(config.batch_size):
        batch = windows.gather(chunk)
        if isinstance(model, str):  # CONSTANT_VELOCITY
            held = batch.twist_b2[:, None, :].expand(-1, windows.horizon, -1)
            poses.append(integrate_unicycle(batch.start_pose_b3, held, dt_s).numpy())
            continue
        if isinstance(model, LatentPredictor):
            z = model.encode_batch(
                batch.images_bss3, batch.twist_b2, batch.history_bk4, batch.scan_bn
            )
            latent = LatentState(pose_3=batch.start_pose_b3, twist_2=batch.twist_b2, features=z)
        else:
            latent = LatentState(pose_3=batch.start_pose_b3, twist_2=batch.twist_b2)
        rollout = model.rollout(latent, batch.actions_bh2).to_numpy()
        poses.append(rollout["poses_bh3"])
        variances.append(rollout["position_var_bh"])
        collisions.append(rollout["collision_prob_bh"])
    has_collision = not isinstance(model, (str, KinematicPredictor))
    return Predictions(
        np.concatenate(poses) if poses else np.zeros((0, windows.horizon, 3)),
        np.concatenate(variances) if variances else None,
        np.concatenate(collisions) if collisions and has_collision else None,
    )


def score(
    pred: Predictions, windows: WindowSet, mask_b: np.ndarray, config: EvalConfig, dt_s: float
) -> dict[str, Any]:
    """All metrics of one predictor on the windows selected by ``mask_b``."""
    true = windows.gather(torch.arange(len(windows)))
    true_poses = true.poses_bh3.numpy()[mask_b]
    poses = pred.poses_bh3[mask_b]
    out: dict[str, Any] = horizon_summary(poses, true_poses, config.horizon_steps, dt_s)
    labels = (true.contacts_bh.numpy()[mask_b] > 0.5).any(axis=1)
    known = true.contact_known_b.numpy()[mask_b]
    out["collision_auroc"] = (
        auroc(labels[known], pred.collision_prob_bh[mask_b][known].max(axis=1))
        if pred.collision_prob_bh is not None and known.any()
        else None
    )
    out["interpenetration_rate"] = interpenetration_rate(
        poses, true.episode_b.numpy()[mask_b], windows, config
    )
    out["coverage_95"] = (
        gaussian_coverage_95(position_errors(poses, true_poses), pred.position_var_bh[mask_b])
        if pred.position_var_bh is not None and len(poses)
        else None
    )
    return out


def interpenetration_rate(
    poses_bh3: np.ndarray, episode_b: np.ndarray, windows: WindowSet, config: EvalConfig
) -> float | None:
    """Share of predicted poses whose footprint overlaps an obstacle/wall (windows with a map)."""
    hits, total = 0, 0
    for episode in np.unique(episode_b):
        arena = windows.arenas[int(episode)]
        if arena is None:
            continue
        xy = poses_bh3[episode_b == episode][..., :2].reshape(-1, 2)
        hits += int(interpenetrating(xy, arena, config.interpenetration_tolerance_m).sum())
        total += len(xy)
    return hits / total if total else None


def evaluate(
    models: dict[str, WorldModel | str], windows: WindowSet, config: EvalConfig, dt_s: float
) -> dict[str, Any]:
    """Metrics of every model on all windows and on contact windows, plus the targets' ratios."""
    if len(windows) == 0:
        raise ValueError(
            "no evaluation windows: every episode is shorter than horizon + 1 = "
            f"{windows.horizon + 1}"
        )
    everything = windows.gather(torch.arange(len(windows)))
    contact_b = np.asarray((everything.contacts_bh.numpy() > 0.5).any(axis=1))
    subsets = {"all": np.ones(len(windows), bool), "contact": contact_b}
    predictions = {
        name: predict_windows(model, windows, config, dt_s) for name, model in models.items()
    }
    truth = Predictions(everything.poses_bh3.numpy(), None, None)
    results: dict[str, Any] = {
        "subsets": {},
        "windows": {k: int(m.sum()) for k, m in subsets.items()},
    }
    for subset, mask in subsets.items():
        table = {
            name: score(pred, windows, mask, config, dt_s) for name, pred in predictions.items()
        }
        table["ground truth"] = {
            "interpenetration_rate": interpenetration_rate(
                truth.poses_bh3[mask], everything.episode_b.numpy()[mask], windows, config
            )
        }
        results["subsets"][subset] = table
    results["predictions"] = predictions  # kept for plotting; dropped from the JSON
    return results


def target_figures(
    results: dict[str, Any], learned: str, ablation: str | None, dt_s: float, horizon_steps: int
) -> dict[str, Any]:
    """The issue's target table: measured value, threshold, met or not."""
    key = f"ade_{horizon_steps * dt_s:.1f}s"
    all_, contact = results["subsets"]["all"], results["subsets"]["contact"]

    def ratio(table: dict, a: str, b: str | None) -> float | None:
        if b is None or b not in table or table[a][key] is None or not table[b][key]:
            return None
        return float(table[a][key] / table[b][key])

    measured = {
        "ade_vs_kinematic_all": ratio(all_, learned, KINEMATIC),
        "ade_vs_kinematic_contact": ratio(contact, learned, KINEMATIC),
        "collision_auroc": all_[learned]["collision_auroc"],
        "interpenetration_rate": all_[learned]["interpenetration_rate"],
        "ade_vs_no_camera_contact": ratio(contact, learned, ablation),
    }
    rows = []
    for name, text, threshold, sense in TARGETS:
        value = measured[name]
        met = (
            None
            if value is None or value != value
            else (value <= threshold if sense == "<=" else value >= threshold)
        )
        rows.append(
            {
                "target": name,
                "description": text,
                "threshold": threshold,
                "value": value,
                "met": met,
            }
        )
    return {"rows": rows}


def kinematic_baseline(dt_s: float, horizon: int) -> KinematicPredictor:
    return KinematicPredictor(KinematicConfig(dt_s=dt_s, horizon=horizon))
