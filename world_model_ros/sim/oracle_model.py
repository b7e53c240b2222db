"""A reference predictor that knows the map: kinematic motion + ground-truth collision probability.

Not a world model (it reads the simulator's true obstacles, which no robot has); it answers
"how well does the planner do when the collision predictions are right?", so a demo shortfall
can be told apart into planner and model. ``world-model-ros demo --models
latent,kinematic,oracle``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.data.episodes import ArenaMap
from ..core.model.contract import LatentState, Rollout
from ..core.model.kinematic import KinematicConfig, KinematicPredictor
from .arena import signed_distance


class MapOraclePredictor(KinematicPredictor):
    """Unicycle rollouts; collision probability from the true clearance, ramping from 0 at
    ``margin_m`` of clearance to 1 at contact (robot radius)."""

    model_id = "oracle"

    def __init__(
        self,
        config: KinematicConfig = KinematicConfig(),
        device: str | torch.device = "cpu",
        margin_m: float = 0.05,
    ):
        super().__init__(config, device)
        self.margin_m = margin_m
        self.arena: ArenaMap | None = None

    def set_arena(self, arena: ArenaMap) -> None:
        self.arena = arena

    @torch.inference_mode()
    def rollout(self, latent: LatentState, actions_bh2: torch.Tensor) -> Rollout:
        rollout = super().rollout(latent, actions_bh2)
        if self.arena is None:
            raise RuntimeError("MapOraclePredictor needs set_arena() before rollout")
        xy = rollout.poses_bh3[..., :2].reshape(-1, 2).cpu().numpy()
        clearance = signed_distance(self.arena, xy) - self.arena.robot_radius_m
        p = np.clip(1.0 - clearance / self.margin_m, 0.0, 1.0).reshape(rollout.poses_bh3.shape[:2])
        rollout.collision_prob_bh = torch.as_tensor(p, dtype=torch.float32, device=self.device)
        return rollout
