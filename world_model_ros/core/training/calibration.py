"""Post-hoc calibration of the predicted uncertainty on held-out windows.

The variance heads are trained with a Gaussian NLL, but a model fine-tuned on 20 minutes of a
new robot's data is over-confident on frames unlike its training frames: its 95 % region holds
far fewer than 95 % of the true poses. One scale on the accumulated position variance (and one
on the yaw variance), fitted on the validation windows so that the 95 % region holds
``target`` of their true positions, fixes most of that (temperature scaling, Guo et al. 2017).
Where the windows with a contact (the labels the training used) would still be covered less
than ``min_contact``, the scale grows until they are, as long as all windows stay at or below
``max_all``.

One scale for every window cannot serve both: on a held-out robot the windows with a contact
were covered 6 points less than the rest with the scale that covered all windows 96 % (the
large robot, docs/any_robot.md). Their errors are large because of the contact, and the model
foresees most contacts (its collision head), so the position variance is also grown by
``1 + gain x`` the highest collision probability foreseen so far; the gain is the one of
``GAINS`` whose calibrated scale brings the validation windows nearest ``target`` on all
windows and at least ``min_contact`` on contact windows (the smallest of equals). The scales
and the gain go into the model's config (``position_var_scale``, ``yaw_var_scale``,
``contact_var_gain``), so every user of the checkpoint gets calibrated variances.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.windows import WindowSet
from ..evaluation.metrics import CHI2_2DOF_95, position_errors
from ..geometry import wrap_angle_np
from ..model.latent_model import LatentDynamicsModel
from ..model.latent_predictor import LatentPredictor

CHI2_1DOF_95 = 3.841458820694124
GAINS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)


@torch.no_grad()
def _predict(model: LatentDynamicsModel, windows: WindowSet, chunk: int = 512):
    predictor = LatentPredictor(model, torch.device("cpu"), windows.horizon, model_id="calib")
    errors, variances, yaw_errors, yaw_variances, contact, foreseen = [], [], [], [], [], []
    from ..model.contract import LatentState

    for index in torch.arange(len(windows)).split(chunk):
        batch = windows.gather(index)
        z = predictor.encode_batch(
            batch.images_bss3, batch.twist_b2, batch.history_bk4, batch.scan_bn
        )
        rollout = predictor.rollout(
            LatentState(pose_3=batch.start_pose_b3, twist_2=batch.twist_b2, features=z),
            batch.actions_bh2,
        ).to_numpy()
        true = batch.poses_bh3.numpy()
        errors.append(position_errors(rollout["poses_bh3"], true))
        variances.append(rollout["position_var_bh"])
        yaw_errors.append(np.abs(wrap_angle_np(rollout["poses_bh3"][..., 2] - true[..., 2])))
        yaw_variances.append(rollout["yaw_var_bh"])
        contact.append((batch.contacts_bh.numpy() > 0.5).any(axis=1))
        foreseen.append(np.maximum.accumulate(rollout["collision_prob_bh"], axis=1))
    return tuple(
        np.concatenate(x)
        for x in (errors, variances, yaw_errors, yaw_variances, contact, foreseen)
    )


def _scale_for(ratio_b: np.ndarray, coverage: float) -> float:
    """The smallest scale s with share(ratio <= s) >= coverage (ratio = err^2 / (chi2 var))."""
    if len(ratio_b) == 0:
        return 1.0
    return float(np.quantile(ratio_b, min(max(coverage, 0.0), 1.0)))


def _position_scale(
    ratio_bh: np.ndarray, contact_b: np.ndarray, target: float, min_contact: float, max_all: float
) -> tuple[float, float, float]:
    """The scale for ``target`` on all windows, raised (within ``max_all``) until the contact
    windows reach ``min_contact``; and the coverage it gives on all and on contact windows."""
    ratio, contact_ratio = ratio_bh.reshape(-1), ratio_bh[contact_b].reshape(-1)
    scale = _scale_for(ratio, target)
    if len(contact_ratio) and float(np.mean(contact_ratio <= scale)) < min_contact:
        scale = min(_scale_for(contact_ratio, min_contact), _scale_for(ratio, max_all))
        scale = max(scale, _scale_for(ratio, target))
    contact_coverage = float(np.mean(contact_ratio <= scale)) if len(contact_ratio) else math.nan
    return scale, float(np.mean(ratio <= scale)), contact_coverage


def fit_position_calibration(
    errors_bh: np.ndarray,
    variances_bh: np.ndarray,
    contact_b: np.ndarray,
    foreseen_bh: np.ndarray,
    target: float,
    min_contact: float,
    max_all: float,
    gains: tuple[float, ...] = GAINS,
) -> tuple[float, float, float, float]:
    """(gain, scale, coverage on all windows, on contact windows) for the uncalibrated
    variances ``variances_bh`` and the highest collision probability foreseen by each step."""
    chi2_var = CHI2_2DOF_95 * np.maximum(variances_bh, 1e-12)
    best: tuple[float, ...] | None = None
    for gain in gains:
        ratio = errors_bh**2 / (chi2_var * (1.0 + gain * foreseen_bh))
        scale, coverage, contact_coverage = _position_scale(
            ratio, contact_b, target, min_contact, max_all
        )
        short = 0.0 if math.isnan(contact_coverage) else max(0.0, min_contact - contact_coverage)
        miss = abs(coverage - target) + short
        if best is None or miss < best[0] - 1e-9:
            best = (miss, gain, scale, coverage, contact_coverage)
    assert best is not None, "no gains to choose from"
    return best[1], best[2], best[3], best[4]


def calibrate_variance(
    model: LatentDynamicsModel,
    windows: WindowSet,
    target: float = 0.95,
    min_contact: float = 0.92,
    max_all: float = 0.975,
    gains: tuple[float, ...] = GAINS,
) -> tuple[LatentDynamicsModel, dict]:
    """A copy of ``model`` whose variance scales and contact gain put ``target`` of the
    windows' true poses in the 95 % region (raised for contact windows within ``max_all``);
    and a report."""
    errors, variances, yaw_errors, yaw_variances, contact, foreseen = _predict(
        model.with_variance_calibration(1.0, 1.0, 0.0), windows
    )
    gain, scale, coverage, contact_coverage = fit_position_calibration(
        errors, variances, contact, foreseen, target, min_contact, max_all, gains
    )
    chi2_var = CHI2_2DOF_95 * np.maximum(variances, 1e-12)
    ratio = (errors**2 / chi2_var).reshape(-1)
    contact_ratio = (errors[contact] ** 2 / chi2_var[contact]).reshape(-1)
    yaw_ratio = (yaw_errors**2 / (CHI2_1DOF_95 * np.maximum(yaw_variances, 1e-12))).reshape(-1)
    yaw_scale = _scale_for(yaw_ratio, target)
    calibrated = model.with_variance_calibration(scale, yaw_scale, gain)
    report = {
        "windows": int(len(errors)),
        "contact_windows": int(contact.sum()),
        "position_var_scale": calibrated.config.position_var_scale,
        "yaw_var_scale": calibrated.config.yaw_var_scale,
        "contact_var_gain": gain,
        "coverage_before": float(np.mean(ratio <= 1.0)),
        "coverage_after": coverage,
        "contact_coverage_before": float(np.mean(contact_ratio <= 1.0))
        if len(contact_ratio)
        else math.nan,
        "contact_coverage_after": contact_coverage,
    }
    return calibrated, report
