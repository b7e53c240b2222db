"""The learned model behind the world-model contract (core/model/contract.py):
:class:`LatentPredictor`, what the node, the planner and eval call.

Apart from the network (latent_model.py) because this is the serving side: device placement,
the rollout engine (onnxruntime on the CPU, core/model/rollout_engine.py, or the reference
``imagine``), the optional occupancy head, and what the checkpoint says it was trained for
(camera, footprint). Training never needs it; a checkpoint loads into it
(core/model/checkpoint.py).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.camera import CameraSpec, Footprint
from ..geometry import compose_body_deltas
from .checkpoint_robot import RobotLimits
from .contract import LatentState, Observation, Rollout, check_actions
from .latent_model import LatentDynamicsModel, prepare_image
from .occupancy_head import OccupancyHead
from .rollout_engine import OnnxRollout


class LatentPredictor:
    """The learned model behind the contract (core/model/contract.py): what node, planner and eval
    call."""

    def __init__(
        self,
        model: LatentDynamicsModel,
        device: torch.device,
        horizon: int | None = None,
        model_id: str = "latent",
        occupancy_head: OccupancyHead | None = None,
        weights_sha256: str = "",
        rollout_engine: str = "auto",
        camera: CameraSpec | None = None,
        footprint: Footprint | None = None,
        limits: RobotLimits | None = None,
    ):
        """``rollout_engine``: ``onnxruntime`` (core/model/rollout_engine.py, CPU only), ``torch``
        (the reference ``imagine``) or ``auto`` (the first on the CPU, the second on a GPU)."""
        on_cpu = torch.device(device).type == "cpu"
        allowed = ("auto", "torch", "onnxruntime") if on_cpu else ("auto", "torch")
        if rollout_engine not in allowed:
            raise ValueError(f"rollout_engine '{rollout_engine}' on {device}: use {allowed}")
        self.model = model.to(device).eval()
        self._engine = OnnxRollout(self.model) if on_cpu and rollout_engine != "torch" else None
        self.occupancy_head = (
            occupancy_head.to(device).eval() if occupancy_head is not None else None
        )
        self.config = model.config
        self.device = torch.device(device)
        self.dt_s = model.config.dt_s
        self.horizon = int(horizon or model.config.horizon)
        self.model_id = model_id
        self.weights_sha256 = weights_sha256  # what a twin's state names (msg/WorldModelState)
        # What the checkpoint says it was trained for (None when it does not say): the camera
        # (core/data/camera.camera_mismatch warns about another one) and the robot's footprint
        # (the planner's collision checks and the occupancy head are for that size)
        self.camera = camera
        self.footprint = footprint
        self.limits = limits  # the base's speed/acceleration limits the bags were driven within
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1; got {self.horizon}")

    @property
    def uses_camera(self) -> bool:
        return self.config.use_camera

    @torch.inference_mode()
    def encode(self, observation: Observation) -> LatentState:
        pose = torch.as_tensor(
            np.asarray(observation.pose_xyyaw, dtype=np.float32), device=self.device
        )
        twist = torch.as_tensor(
            np.asarray(observation.twist_vw, dtype=np.float32), device=self.device
        )
        images = None
        if self.config.use_camera:
            if observation.image_rgb_hw3 is None:
                raise ValueError(
                    f"model '{self.model_id}' uses the camera but the observation has no image"
                )
            image = prepare_image(
                observation.image_rgb_hw3, self.config.image_size, self.config.image_fit
            )
            images = torch.from_numpy(image).to(self.device).unsqueeze(0)
        history = None
        if self.config.history_steps and observation.history_k4 is not None:
            history = torch.as_tensor(
                np.asarray(observation.history_k4, dtype=np.float32), device=self.device
            )[None, : self.config.history_steps]
        scan = None
        if self.config.scan_sectors and observation.scan_n is not None:
            scan = torch.as_tensor(
                np.asarray(observation.scan_n, dtype=np.float32), device=self.device
            )[None]
        features = self.model.encode(images, twist.reshape(1, 2), history, scan)[0]
        return LatentState(pose_3=pose, twist_2=twist, features=features)

    @torch.inference_mode()
    def encode_batch(
        self,
        images_bss3: torch.Tensor | None,
        twists_b2: torch.Tensor,
        history_bk4: torch.Tensor | None = None,
        scan_bn: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Evaluation helper: already-resized uint8 images [B, S, S, 3] + twists [B, 2] (+ the
        history before and the scan, WindowBatch.history_bk4 / scan_bn) -> z [B, D]."""
        images = (
            None
            if images_bss3 is None or not self.config.use_camera
            else images_bss3.to(self.device)
        )
        history = None if history_bk4 is None else history_bk4.to(self.device, torch.float32)
        scan = None if scan_bn is None else scan_bn.to(self.device, torch.float32)
        return self.model.encode(images, twists_b2.to(self.device, torch.float32), history, scan)

    @torch.inference_mode()
    def occupancy(self, latent: LatentState) -> tuple[torch.Tensor, torch.Tensor] | None:
        """What this frame says about the floor around the robot (core/model/occupancy_head.py):
        the grid's cell centres [C, 2] (robot frame, m) and their occupancy logits [C]; None
        without a head."""
        if self.occupancy_head is None or latent.features is None:
            return None
        z = latent.features.to(self.device, torch.float32).reshape(1, -1)
        return self.occupancy_head.cells_c2, self.occupancy_head(z)[0]

    @torch.inference_mode()
    def advance(self, latent: LatentState, actions_k2: torch.Tensor) -> torch.Tensor:
        """The latent features [D] after executing ``actions_k2`` [K, 2] from ``latent``, as the
        model imagines them: an older frame's view carried forward to now
        (core/planning/past_view.py)."""
        if latent.features is None:
            raise ValueError(
                "latent has no features: it was not made by a learned model's encode()"
            )
        actions = actions_k2.to(self.device, torch.float32).reshape(1, -1, 2)
        check_actions(actions)
        z = latent.features.to(self.device, torch.float32).reshape(1, -1)
        latents_bhd = self.model.imagine(z, actions, keep_latents=True).latents_bhd
        assert latents_bhd is not None  # keep_latents=True
        return latents_bhd[0, -1]

    @torch.inference_mode()
    def rollout(self, latent: LatentState, actions_bh2: torch.Tensor) -> Rollout:
        """One latent ([D], shared by all rows) or one per row ([B, D]) + actions [B, H, 2]."""
        check_actions(actions_bh2)
        actions = actions_bh2.to(self.device, torch.float32)
        batch = actions.shape[0]
        if latent.features is None:
            raise ValueError(
                "latent has no features: it was not made by a learned model's encode()"
            )
        z = latent.features.to(self.device, torch.float32)
        if z.shape not in ((self.config.latent_dim,), (batch, self.config.latent_dim)):
            raise ValueError(
                f"latent features must be [{self.config.latent_dim}] or [{batch}, "
                f"{self.config.latent_dim}]; got {tuple(latent.features.shape)}"
            )
        if self._engine is not None:  # one latent (or pose) may serve every row: broadcast
            pose_p3 = latent.pose_3.to(self.device, torch.float32).reshape(-1, 3)
            return self._engine.rollout(z.reshape(-1, self.config.latent_dim), pose_p3, actions)
        imagined = self.model.imagine(z.expand(batch, -1), actions)
        pose = latent.pose_3.to(self.device, torch.float32)
        return Rollout(
            poses_bh3=compose_body_deltas(pose, imagined.deltas_bh3),
            twists_bh2=imagined.twists_bh2,
            position_var_bh=imagined.position_var_bh,
            yaw_var_bh=imagined.yaw_var_bh,
            collision_prob_bh=torch.sigmoid(imagined.collision_logit_bh),
        )
