"""The kinematic (unicycle) predictor: the baseline every learned model is measured against.

It integrates the commanded (v, w) exactly, sees nothing (no camera, no obstacles), and so
predicts that the robot drives through walls. That blindness is what a learned model must
beat; it is also the explicit fallback a user can choose (``model: kinematic``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..geometry import integrate_unicycle
from .contract import LatentState, Observation, Rollout, check_actions


@dataclass(frozen=True)
class KinematicConfig:
    dt_s: float = 0.1
    horizon: int = 20
    # Growth of the predictive standard deviation with time: a plain random-walk model.
    position_std_m_per_s: float = 0.05
    yaw_std_rad_per_s: float = 0.05


class KinematicPredictor:
    """Unicycle integration of the given commands from the observed pose."""

    model_id = "kinematic"
    uses_camera = False
    weights_sha256 = ""

    def __init__(
        self, config: KinematicConfig = KinematicConfig(), device: str | torch.device = "cpu"
    ):
        if config.dt_s <= 0 or config.horizon < 1:
            raise ValueError(
                f"dt_s must be > 0 and horizon >= 1; got dt_s={config.dt_s}, "
                f"horizon={config.horizon}"
            )
        self.config = config
        self.dt_s = config.dt_s
        self.horizon = config.horizon
        self.device = torch.device(device)

    @torch.inference_mode()
    def encode(self, observation: Observation) -> LatentState:
        return LatentState(
            pose_3=torch.as_tensor(
                observation.pose_xyyaw, dtype=torch.float32, device=self.device
            ),
            twist_2=torch.as_tensor(observation.twist_vw, dtype=torch.float32, device=self.device),
        )

    @torch.inference_mode()
    def rollout(self, latent: LatentState, actions_bh2: torch.Tensor) -> Rollout:
        check_actions(actions_bh2)
        actions = actions_bh2.to(self.device, torch.float32)
        poses = integrate_unicycle(latent.pose_3, actions, self.dt_s)
        batch, horizon = actions.shape[:2]
        t = self.dt_s * torch.arange(1, horizon + 1, device=self.device, dtype=torch.float32)
        position_var = (self.config.position_std_m_per_s * t) ** 2
        yaw_var = (self.config.yaw_std_rad_per_s * t) ** 2
        return Rollout(
            poses_bh3=poses,
            twists_bh2=actions.clone(),
            position_var_bh=position_var.expand(batch, horizon).clone(),
            yaw_var_bh=yaw_var.expand(batch, horizon).clone(),
            collision_prob_bh=torch.zeros(batch, horizon, device=self.device),
        )


def hold_actions(twist_vw: torch.Tensor, batch: int, horizon: int) -> torch.Tensor:
    """[B, H, 2] actions that hold one (v, w): the constant-velocity assumption."""
    return twist_vw.reshape(1, 1, 2).expand(batch, horizon, 2).clone()
