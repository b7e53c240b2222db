"""The training losses: multi-step open-loop terms over the horizon.

One step: encode the frame at t0, roll the latent dynamics open-loop through the H recorded
commands, and score every step at once against what happened:

* ``delta``: per-step body-frame motion (normalised residual over the kinematic prior);
* ``pose``: the composed trajectory (what ADE measures), in metres and radians;
* ``twist``: the measured velocity after each step;
* ``collision``: BCE against the ground-truth contact at each step;
* ``nll``: Gaussian NLL of the accumulated position/yaw error under the predicted variance
  (errors detached: the variance heads learn calibration, not the mean);
* ``consistency``: TD-MPC's latent consistency, the predicted latent at a few steps against the
  (stop-gradient) encoding of the frame that was really seen there;
* ``footprint`` and ``costmap_collision``: predictions against the arena map or the derived
  costmap (core/training/costmap_loss.py).

Apart from the loop (trainer.py) so that the terms read on their own, and so that validation
and the tests score a batch exactly as a training step does. Weights: :class:`LossWeights`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields

import torch
from torch.nn import functional as F

from ..data.windows import ArenaTensors, WindowBatch
from ..geometry import compose_body_deltas, wrap_angle
from ..model.latent_model import LatentDynamicsModel, kinematic_body_delta
from .costmap_loss import imagined_collision_labels
from .train_config import TrainConfig


def compute_losses(
    model: LatentDynamicsModel,
    batch: WindowBatch,
    config: TrainConfig,
    images_bss3: torch.Tensor | None = None,
    twist_b2: torch.Tensor | None = None,
    mirrored_b: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total weighted loss and its parts (floats, plus the window ADE at the horizon in metres).

    ``images_bss3`` / ``twist_b2`` replace the batch's encoder inputs (augmented copies).
    ``mirrored_b``: windows mirrored left-right (training/mirror.py), left out of the terms
    that compare odometry-frame poses with a map or costmap.
    """
    mirrored = (
        mirrored_b
        if mirrored_b is not None
        else torch.zeros(batch.actions_bh2.shape[0], dtype=torch.bool)
    )
    if bool(mirrored.any()) and batch.arena is not None:  # mirrored poses match no map
        batch = dataclasses.replace(
            batch, arena=dataclasses.replace(batch.arena, known_b=batch.arena.known_b & ~mirrored)
        )
    device = model.delta_std.device
    mc = config.model
    images = (images_bss3 if images_bss3 is not None else batch.images_bss3).to(device)
    actions = batch.actions_bh2.to(device)
    history = batch.history_bk4.to(device) if batch.history_bk4 is not None else None
    scan = batch.scan_bn.to(device) if batch.scan_bn is not None else None
    z0 = model.encode(
        images, (twist_b2 if twist_b2 is not None else batch.twist_b2).to(device), history, scan
    )
    imagined = model.imagine(
        z0, actions, keep_latents=config.loss.consistency > 0 and bool(config.consistency_steps)
    )

    target_residual = batch.deltas_bh3.to(device)
    if mc.kinematic_prior:
        target_residual = target_residual - kinematic_body_delta(actions, mc.dt_s)
    target_residual = (target_residual - model.delta_mean) / model.delta_std
    loss_delta = F.smooth_l1_loss(imagined.delta_residual_norm_bh3, target_residual)

    rel_true = batch.rel_poses_bh3.to(device)
    rel_pred = compose_body_deltas(torch.zeros(3, device=device), imagined.deltas_bh3)
    pos_err2 = (rel_pred[..., :2] - rel_true[..., :2]).pow(2).sum(-1)
    pos_err = torch.sqrt(pos_err2 + 1e-8)
    yaw_err = wrap_angle(rel_pred[..., 2] - rel_true[..., 2])
    loss_pose = pos_err.mean() / config.pose_scale_m + yaw_err.abs().mean() / config.yaw_scale_rad

    twist_target = (batch.twists_bh2.to(device) - model.twist_mean) / model.twist_std
    loss_twist = F.mse_loss(imagined.twists_norm_bh2, twist_target)

    known = batch.contact_known_b.to(device)
    if bool(known.any()):
        logits = imagined.collision_logit_bh[known]
        labels = batch.contacts_bh.to(device)[known]
        pos_weight = torch.tensor(config.collision_pos_weight, device=device)
        loss_collision = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)
    else:
        loss_collision = torch.zeros((), device=device)

    pos_var, yaw_var = imagined.position_var_bh, imagined.yaw_var_bh
    nll = (torch.log(pos_var) + pos_err2.detach() / (2 * pos_var)).mean() + (
        0.5 * torch.log(yaw_var) + yaw_err.detach().pow(2) / (2 * yaw_var)
    ).mean()

    if imagined.latents_bhd is not None and batch.future_images_bkss3 is not None:
        ks = torch.as_tensor(config.consistency_steps, dtype=torch.long, device=device)
        future = batch.future_images_bkss3.to(device)
        future_twists = batch.future_twists_bk2
        assert future_twists is not None  # comes with future_images_bkss3
        b, k = future.shape[:2]
        with torch.no_grad():
            future_history = batch.future_history_bkk4
            target_z = model.encode(
                future.reshape(b * k, *future.shape[2:]),
                future_twists.to(device).reshape(b * k, 2),
                None
                if future_history is None
                else future_history.to(device).reshape(b * k, *future_history.shape[2:]),
                None
                if batch.future_scan_bkn is None
                else batch.future_scan_bkn.to(device).reshape(b * k, -1),
            ).reshape(b, k, -1)
        loss_consistency = F.mse_loss(imagined.latents_bhd[:, ks - 1], target_z)
    else:
        loss_consistency = torch.zeros((), device=device)

    arena = batch.arena
    if config.loss.footprint > 0 and arena is not None and bool(arena.known_b.any()):
        # Physically impossible predictions are penalised where the map is known: the footprint
        # of each predicted pose (odom frame) must not overlap an obstacle or wall.
        known_map = arena.known_b.to(device)
        poses_odom = compose_body_deltas(batch.start_pose_b3.to(device), imagined.deltas_bh3)
        clearance = _arena_to(arena, device).clearance(poses_odom[..., :2])
        overlap = (-clearance - config.footprint_tolerance_m).clamp_min(0.0)[known_map]
        loss_footprint = overlap.mean() / config.pose_scale_m
    else:
        loss_footprint = torch.zeros((), device=device)
    if config.loss.footprint > 0 and batch.costmap is not None:
        # No map: the costmap derived from the robot's experience (core/training/costmap_loss.py)
        rows = ~mirrored if arena is None else ~(arena.known_b | mirrored)
        if bool(rows.any()):
            poses_odom = compose_body_deltas(batch.start_pose_b3.to(device), imagined.deltas_bh3)
            penalty = batch.costmap.penalty(
                poses_odom[rows.to(device)][..., :2],
                batch.episode_b[rows],
                config.footprint_tolerance_m,
            )
            loss_footprint = loss_footprint + penalty / config.pose_scale_m

    loss_imagined = torch.zeros((), device=device)
    if config.loss.costmap_collision > 0 and batch.costmap is not None:
        loss_imagined = imagined_collision_loss(model, z0, batch, config, device, mirrored)

    w = config.loss
    total = (
        w.delta * loss_delta
        + w.pose * loss_pose
        + w.twist * loss_twist
        + w.collision * loss_collision
        + w.nll * nll
        + w.consistency * loss_consistency
        + w.footprint * loss_footprint
        + w.costmap_collision * loss_imagined
    )
    parts = {
        "loss": total.item(),
        "delta": loss_delta.item(),
        "pose": loss_pose.item(),
        "twist": loss_twist.item(),
        "collision": loss_collision.item(),
        "nll": nll.item(),
        "consistency": loss_consistency.item(),
        "footprint": loss_footprint.item(),
        "imagined_collision": loss_imagined.item(),
        "ade_m": float(pos_err.detach().mean()),
        "fde_m": float(pos_err.detach()[:, -1].mean()),
    }
    return total, parts


def imagined_collision_loss(
    model: LatentDynamicsModel,
    z0: torch.Tensor,
    batch: WindowBatch,
    config: TrainConfig,
    device: torch.device,
    mirrored_b: torch.Tensor,
) -> torch.Tensor:
    """The collision head under command sequences the robot did not drive (another window's,
    from this window's frame), labelled where the model's own predicted path meets the derived
    costmap: far more near misses and hits than the recorded drives hold."""
    batch_size, costmap = z0.shape[0], batch.costmap
    if batch_size < 2 or costmap is None:
        return torch.zeros((), device=device)
    pos_weight = torch.tensor(config.collision_pos_weight, device=device)
    losses = []
    for shift in range(1, 1 + max(1, min(config.imagined_sequences, batch_size - 1))):
        other = torch.roll(torch.arange(batch_size), shift)
        imagined = model.imagine(z0, batch.actions_bh2[other].to(device))
        with torch.no_grad():
            poses = compose_body_deltas(batch.start_pose_b3.to(device), imagined.deltas_bh3)
            labels, mask = imagined_collision_labels(
                costmap, poses, batch.episode_b, exclude_b=mirrored_b
            )
        if bool(mask.any()):
            losses.append(
                F.binary_cross_entropy_with_logits(
                    imagined.collision_logit_bh[mask], labels[mask], pos_weight=pos_weight
                )
            )
    return torch.stack(losses).mean() if losses else torch.zeros((), device=device)


def _arena_to(arena: ArenaTensors, device: torch.device) -> ArenaTensors:
    return ArenaTensors(*(getattr(arena, f.name).to(device) for f in fields(ArenaTensors)))
