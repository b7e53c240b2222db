"""Mirror augmentation: a window seen in a mirror is another window the robot could have driven.

A differential-drive robot with a centred forward camera is left-right symmetric: flip the
image about its vertical axis, negate every angular rate and every lateral offset and heading
change, and the window still obeys the same physics (an obstacle on the left becomes one on the
right, a left turn a right turn, contacts stay contacts). On a new robot's 20 minutes of bags
that doubles the views the collision head learns from. Poses in the odometry frame cannot be
mirrored against a map, so mirrored windows are left out of the map and costmap terms
(``mirrored_b``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..data.windows import WindowBatch

_ANGULAR = torch.tensor([1.0, -1.0])  # (v, w) -> (v, -w)
_BODY = torch.tensor([1.0, -1.0, -1.0])  # (x, y, yaw) -> (x, -y, -yaw)
_HISTORY = torch.tensor([1.0, -1.0, 1.0, -1.0])  # commanded and measured (v, w) -> (v, -w)


def mirror_batch(
    batch: WindowBatch, probability: float, generator: torch.Generator
) -> tuple[WindowBatch, torch.Tensor]:
    """The batch with a random share ``probability`` of its windows mirrored, and which ones
    (bool [B])."""
    size = batch.actions_bh2.shape[0]
    if probability <= 0:  # off: the generator is not touched (runs stay as they were)
        return batch, torch.zeros(size, dtype=torch.bool)
    mirrored = torch.rand(size, generator=generator) < probability
    if not bool(mirrored.any()):
        return batch, mirrored

    def pick(original: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
        shape = (size,) + (1,) * (original.ndim - 1)
        return torch.where(mirrored.reshape(shape), flipped, original)

    future = batch.future_images_bkss3
    changes: dict[str, Any] = {
        "images_bss3": pick(batch.images_bss3, batch.images_bss3.flip(2)),
        "twist_b2": pick(batch.twist_b2, batch.twist_b2 * _ANGULAR),
        "actions_bh2": pick(batch.actions_bh2, batch.actions_bh2 * _ANGULAR),
        "deltas_bh3": pick(batch.deltas_bh3, batch.deltas_bh3 * _BODY),
        "rel_poses_bh3": pick(batch.rel_poses_bh3, batch.rel_poses_bh3 * _BODY),
        "twists_bh2": pick(batch.twists_bh2, batch.twists_bh2 * _ANGULAR),
    }
    if future is not None:
        changes["future_images_bkss3"] = pick(future, future.flip(3))
    future_twists = batch.future_twists_bk2
    if future_twists is not None:
        changes["future_twists_bk2"] = pick(future_twists, future_twists * _ANGULAR)
    for name in ("history_bk4", "future_history_bkk4"):
        history = getattr(batch, name)
        if history is not None:
            changes[name] = pick(history, history * _HISTORY)
    for name in ("scan_bn", "future_scan_bkn"):  # sectors run round from behind: reversed
        scan = getattr(batch, name)
        if scan is not None:
            changes[name] = pick(scan, torch.cat([scan[..., :-1].flip(-1), scan[..., -1:]], -1))
    return dataclasses.replace(batch, **changes), mirrored
