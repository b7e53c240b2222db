"""Prediction metrics: displacement and heading errors per horizon, collision AUROC, footprint
interpenetration against the simulator's ground-truth arena, and uncertainty calibration.

All functions take NumPy arrays and are pure, so they are checked on hand-made cases.
Horizons are given in steps (k = 5 is 0.5 s at dt = 0.1 s); step k is the pose k steps after
the observation, i.e. index k - 1 of an [.., H, ..] prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from ..data.episodes import ArenaMap
from ..geometry import wrap_angle_np

# Squared radius of the 95 % region of a 2-D isotropic Gaussian, in units of its per-axis
# variance: chi-square with 2 degrees of freedom at 0.95 = -2 ln(0.05).
CHI2_2DOF_95 = float(-2.0 * np.log(0.05))


def position_errors(pred_bh3: np.ndarray, true_bh3: np.ndarray) -> np.ndarray:
    """Euclidean position error [B, H] (metres)."""
    return np.linalg.norm(np.asarray(pred_bh3)[..., :2] - np.asarray(true_bh3)[..., :2], axis=-1)


def heading_errors(pred_bh3: np.ndarray, true_bh3: np.ndarray) -> np.ndarray:
    """Absolute wrapped yaw error [B, H] (radians)."""
    return np.abs(wrap_angle_np(np.asarray(pred_bh3)[..., 2] - np.asarray(true_bh3)[..., 2]))


def ade_fde(errors_bh: np.ndarray, steps: int) -> tuple[float, float]:
    """Average displacement over steps 1..k and final displacement at step k, averaged over B."""
    if not 1 <= steps <= errors_bh.shape[1]:
        raise ValueError(f"horizon step {steps} outside 1..{errors_bh.shape[1]}")
    if errors_bh.shape[0] == 0:
        return float("nan"), float("nan")
    return float(errors_bh[:, :steps].mean()), float(errors_bh[:, steps - 1].mean())


def auroc(labels_b: np.ndarray, scores_b: np.ndarray) -> float:
    """Area under the ROC curve (sklearn); NaN when only one class is present."""
    labels = np.asarray(labels_b).astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(scores_b, dtype=np.float64)))


def footprint_clearance(xy_n2: np.ndarray, arena: ArenaMap) -> np.ndarray:
    """Signed clearance [N] (metres) between the robot's circular footprint and the nearest
    obstacle or wall: negative where the footprint overlaps one (the penetration depth).

    Walls are the inner faces at |x|, |y| = arena.half_size_m; boxes use the exact signed
    distance of a rotated rectangle, cylinders of a circle.
    """
    xy = np.asarray(xy_n2, dtype=np.float64).reshape(-1, 2)
    wall = arena.half_size_m - np.abs(xy).max(axis=1)  # distance to the nearest wall (inside)
    nearest = wall
    for obstacle in arena.obstacles:
        d = xy - np.array([obstacle.x, obstacle.y])
        if obstacle.kind == "cylinder":
            distance = np.linalg.norm(d, axis=1) - obstacle.hx
        elif obstacle.kind == "box":
            cos, sin = np.cos(obstacle.yaw), np.sin(obstacle.yaw)
            local = np.stack(
                [cos * d[:, 0] + sin * d[:, 1], -sin * d[:, 0] + cos * d[:, 1]], axis=1
            )
            q = np.abs(local) - np.array([obstacle.hx, obstacle.hy])
            distance = np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)
        else:
            raise ValueError(
                f"unknown obstacle kind '{obstacle.kind}' (expected 'box' or 'cylinder')"
            )
        nearest = np.minimum(nearest, distance)
    return nearest - arena.robot_radius_m


def interpenetrating(xy_n2: np.ndarray, arena: ArenaMap, tolerance_m: float) -> np.ndarray:
    """Bool [N]: the footprint at each position overlaps an obstacle or wall by more than
    ``tolerance_m`` (a small tolerance so the touching poses of a real contact, which the soft
    contacts of a simulator push a few millimetres in, are not counted)."""
    return footprint_clearance(xy_n2, arena) < -tolerance_m


def gaussian_coverage_95(errors_bh: np.ndarray, position_var_bh: np.ndarray) -> float:
    """Share of position errors inside the predicted 95 % region (0.95 when calibrated)."""
    var = np.maximum(np.asarray(position_var_bh, dtype=np.float64), 1e-12)
    return float(np.mean(np.asarray(errors_bh) ** 2 <= CHI2_2DOF_95 * var))


def horizon_summary(
    pred_bh3: np.ndarray, true_bh3: np.ndarray, horizon_steps: Sequence[int], dt_s: float
) -> dict[str, float]:
    """ADE/FDE (m) and mean heading error (deg) at each horizon, keyed like 'ade_2.0s'."""
    errors = position_errors(pred_bh3, true_bh3)
    headings = heading_errors(pred_bh3, true_bh3)
    out: dict[str, float] = {"windows": float(errors.shape[0])}
    for steps in horizon_steps:
        label = f"{steps * dt_s:.1f}s"
        ade, fde = ade_fde(errors, steps)
        out[f"ade_{label}"] = ade
        out[f"fde_{label}"] = fde
        out[f"heading_deg_{label}"] = (
            float(np.degrees(headings[:, steps - 1].mean())) if len(headings) else float("nan")
        )
    return out
