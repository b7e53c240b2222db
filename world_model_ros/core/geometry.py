"""Planar (SE(2)) geometry shared by every predictor, the planner and evaluation.

Poses are (x, y, yaw): metres and radians in a fixed frame (REP-105 "odom"), yaw about +z
(REP-103). Twists are (v, w): body-frame forward speed in m/s and yaw rate in rad/s.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def wrap_angle(angle: torch.Tensor) -> torch.Tensor:
    """Wrap radians into [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2.0 * math.pi) - math.pi


def wrap_angle_np(angle: np.ndarray | float) -> np.ndarray:
    """NumPy twin of :func:`wrap_angle`."""
    return np.mod(np.asarray(angle) + np.pi, 2.0 * np.pi) - np.pi


def yaw_to_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by ``yaw`` about +z."""
    half = 0.5 * yaw
    return 0.0, 0.0, math.sin(half), math.cos(half)


def quaternion_to_yaw(x: float, y: float, z: float, w: float) -> float:
    """Yaw (rotation about +z) of a quaternion; roll and pitch are ignored (planar robot)."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def integrate_unicycle(
    pose_3: torch.Tensor, actions_bh2: torch.Tensor, dt_s: float
) -> torch.Tensor:
    """Poses after each step of holding each (v, w) for ``dt_s``, exactly (constant-curvature
    arcs).

    pose_3: [3] or [B, 3] start pose; actions_bh2: [B, H, 2]. Returns [B, H, 3].
    The chord of an arc of angle ``w dt`` is ``v dt sinc(w dt / 2)`` and points along the mean
    heading, which avoids the 1/w singularity of the textbook form; no loop over the horizon.
    """
    v = actions_bh2[..., 0]
    w = actions_bh2[..., 1]
    start = pose_3.reshape(-1, 3).to(actions_bh2)
    dtheta = w * dt_s
    yaw_after = start[:, 2:3] + torch.cumsum(dtheta, dim=1)
    yaw_mid = yaw_after - 0.5 * dtheta
    chord = v * dt_s * torch.sinc(dtheta / (2.0 * math.pi))
    x = start[:, 0:1] + torch.cumsum(chord * torch.cos(yaw_mid), dim=1)
    y = start[:, 1:2] + torch.cumsum(chord * torch.sin(yaw_mid), dim=1)
    return torch.stack([x, y, wrap_angle(yaw_after)], dim=-1)


def compose_body_deltas(pose_3: torch.Tensor, deltas_bh3: torch.Tensor) -> torch.Tensor:
    """Chain per-step body-frame motions (dx forward, dy left, dyaw) onto a start pose.

    pose_3: [3] or [B, 3]; deltas_bh3: [B, H, 3], each expressed in the frame of the pose
    before that step. Returns absolute poses [B, H, 3]. A learned model predicts deltas in the
    body frame so its output does not depend on where the odometry frame's origin happens to be.
    """
    start = pose_3.reshape(-1, 3).to(deltas_bh3)
    yaw_after = start[:, 2:3] + torch.cumsum(deltas_bh3[..., 2], dim=1)
    yaw_before = yaw_after - deltas_bh3[..., 2]
    cos, sin = torch.cos(yaw_before), torch.sin(yaw_before)
    dx = cos * deltas_bh3[..., 0] - sin * deltas_bh3[..., 1]
    dy = sin * deltas_bh3[..., 0] + cos * deltas_bh3[..., 1]
    x = start[:, 0:1] + torch.cumsum(dx, dim=1)
    y = start[:, 1:2] + torch.cumsum(dy, dim=1)
    return torch.stack([x, y, wrap_angle(yaw_after)], dim=-1)


def body_deltas_from_poses(poses_t3: np.ndarray) -> np.ndarray:
    """Inverse of :func:`compose_body_deltas` for one trajectory: [T, 3] poses -> [T-1, 3]
    deltas."""
    poses = np.asarray(poses_t3, dtype=np.float64)
    d = poses[1:] - poses[:-1]
    yaw = poses[:-1, 2]
    cos, sin = np.cos(yaw), np.sin(yaw)
    forward = cos * d[:, 0] + sin * d[:, 1]
    left = -sin * d[:, 0] + cos * d[:, 1]
    return np.stack([forward, left, wrap_angle_np(d[:, 2])], axis=-1)
