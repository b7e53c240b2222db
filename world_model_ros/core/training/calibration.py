"""Post-hoc calibration of the predicted uncertainty on held-out windows.

The variance heads are trained with a Gaussian NLL, but a model fine-tuned on 20 minutes of a
new robot's data is over-confident on frames unlike its training frames: its 95 % region holds
far fewer than 95 % of the true poses. One scale on the accumulated position variance (and one
on the yaw variance), fitted on the validation windows so that the 95 % region holds
``target`` of their true positions, fixes most of that (temperature scaling, Guo et al. 2017).
Where the windows with a contact (the labels the training used) would still be covered less
than ``min_contact``, the scale grows until they are, as long as all windows stay at or below
``max_all``. The scales go into the model's config (``position_var_scale``, ``yaw_var_scale``),
so every user of the checkpoint gets calibrated variances.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ..data.windows import WindowSet
from ..evaluation.metrics import CHI2_2DOF_95, position_errors
from ..geometry import wrap_angle_np
from ..model.latent_model import LatentDynamicsModel
from ..model.latent_predictor import LatentPredictor

CHI2_1DOF_95 = 3.841458820694124


@torch.no_grad()
def _predict(model: LatentDynamicsModel, windows: WindowSet, chunk: int = 512):
    predictor = LatentPredictor(model, torch.device("cpu"), windows.horizon, model_id="calib")
    errors, variances, yaw_errors, yaw_variances, contact = [], [], [], [], []
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
    return (
        np.concatenate(errors),
        np.concatenate(variances),
        np.concatenate(yaw_errors),
        np.concatenate(yaw_variances),
        np.concatenate(contact),
    )


def _scale_for(ratio_b: np.ndarray, coverage: float) -> float:
    """The smallest scale s with share(ratio <= s) >= coverage (ratio = err^2 / (chi2 var))."""
    if len(ratio_b) == 0:
        return 1.0
    return float(np.quantile(ratio_b, min(max(coverage, 0.0), 1.0)))


def calibrate_variance(
    model: LatentDynamicsModel,
    windows: WindowSet,
    target: float = 0.95,
    min_contact: float = 0.92,
    max_all: float = 0.975,
) -> tuple[LatentDynamicsModel, dict]:
    """A copy of ``model`` whose variance scales put ``target`` of the windows' true poses in
    the 95 % region (raised for contact windows within ``max_all``); and a report."""
    errors, variances, yaw_errors, yaw_variances, contact = _predict(model, windows)
    ratio = (errors**2 / (CHI2_2DOF_95 * np.maximum(variances, 1e-12))).reshape(-1)
    contact_ratio = (
        errors[contact] ** 2 / (CHI2_2DOF_95 * np.maximum(variances[contact], 1e-12))
    ).reshape(-1)
    scale = _scale_for(ratio, target)
    if len(contact_ratio) and float(np.mean(contact_ratio <= scale)) < min_contact:
        scale = min(_scale_for(contact_ratio, min_contact), _scale_for(ratio, max_all))
        scale = max(scale, _scale_for(ratio, target))
    yaw_ratio = (yaw_errors**2 / (CHI2_1DOF_95 * np.maximum(yaw_variances, 1e-12))).reshape(-1)
    yaw_scale = _scale_for(yaw_ratio, target)
    old = model.config
    config = dataclasses.replace(
        old,
        position_var_scale=float(old.position_var_scale * scale),
        yaw_var_scale=float(old.yaw_var_scale * yaw_scale),
    )
    calibrated = LatentDynamicsModel(config, model.normalisation())
    calibrated.load_state_dict(model.state_dict())
    report = {
        "windows": int(len(errors)),
        "contact_windows": int(contact.sum()),
        "position_var_scale": config.position_var_scale,
        "yaw_var_scale": config.yaw_var_scale,
        "coverage_before": float(np.mean(ratio <= 1.0)),
        "coverage_after": float(np.mean(ratio <= scale)),
        "contact_coverage_before": float(np.mean(contact_ratio <= 1.0))
        if len(contact_ratio)
        else math.nan,
        "contact_coverage_after": float(np.mean(contact_ratio <= scale))
        if len(contact_ratio)
        else math.nan,
    }
    return calibrated, report
