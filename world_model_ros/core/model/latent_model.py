"""The learned latent world model: TD-MPC-style latent dynamics with multi-step consistency.

Why this architecture (and not an RSSM or a JEPA):

* The consumer is an MPPI planner that rolls out 512-4096 candidate command sequences of 20
  steps inside a 200 ms cycle on a CPU. TD-MPC/TD-MPC2 (Hansen et al. 2022, 2024) show that a
  *deterministic* MLP latent transition ``z' = z + d(z, a)``, trained open-loop over the
  horizon with a latent-consistency loss towards the encoder of the future frames, is enough
  for model-predictive control from pixels, and it is the cheapest thing to roll out: one small
  MLP per step, batched over the candidates.
* Dreamer's RSSM adds a stochastic posterior/prior pair, a GRU and an image decoder. Those
  serve long imagined trajectories for policy learning; here they would cost latency and an
  image reconstruction loss that spends capacity on floor texture rather than on "will I hit
  that box". A JEPA-style predictor is what the consistency loss already is (predict the
  *embedding* of the future frame, not its pixels), so we keep that part.
* Uncertainty that a planner can use comes from heteroscedastic heads trained with a Gaussian
  negative log-likelihood on the *accumulated* pose error, so the reported variance at step k
  is calibrated for step k (per-step variances summed as if independent would be far too small
  when the robot stops at a wall and every later step is wrong the same way).

What is predicted, per step k (pose k is (k + 1) dt after the observation):

* body-frame motion (dx forward, dy left, dyaw) during the step, as a residual over the
  motion of the commanded (v, w) (the kinematic prior) so free-space driving is right from
  the start and the network spends itself on what the kinematic model cannot know: walls,
  obstacles, acceleration lag. Poses come from :func:`geometry.compose_body_deltas`, so they
  compose in any odometry frame;
* the body-frame twist (v, w) after the step;
* increments of the position and yaw variance (softplus, accumulated over the horizon);
* a collision logit (contact with an obstacle or wall at that step).

Shapes: B batch (candidate sequences), H horizon steps, D latent size, S image side. The
predictor that puts this network behind the world-model contract (what the node, the planner
and eval call) is :class:`~.latent_predictor.LatentPredictor`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.camera import FIT_MODES, fit_image
from ..data.scan_input import no_scan
from .contact_gain import with_contact_gain
from .layers import ConvEncoder, mlp

# Outputs of the per-step head, in this order.
HEAD_DELTA = slice(0, 3)  # normalised residual of (dx, dy, dyaw)
HEAD_TWIST = slice(3, 5)  # normalised (v, w) after the step
HEAD_POS_VAR = 5  # softplus -> position variance increment (units of the delta scale squared)
HEAD_YAW_VAR = 6
HEAD_COLLISION = 7
HEAD_SIZE = 8
MAX_HISTORY_STEPS = 50
MAX_SCAN_SECTORS = 360


@dataclass(frozen=True)
class LatentModelConfig:
    """Architecture of the model; saved in the checkpoint's config.json and checked on load."""

    use_camera: bool = True  # False: the no-camera ablation (odometry + commands only)
    image_size: int = 64  # the encoder's input side S; any camera image is resized to S x S
    encoder_channels: tuple[int, ...] = (16, 32, 64, 64)
    image_features: int = 128
    latent_dim: int = 64  # D
    hidden_dim: int = 128  # width of the dynamics MLP
    dynamics_layers: int = 2
    dt_s: float = 0.1  # the step the model was trained at
    horizon: int = 20  # the horizon it was trained over (it can roll out longer, less accurately)
    kinematic_prior: bool = True  # predict motion as a residual over the commanded motion
    # How a camera frame becomes the S x S input (core/data/camera.fit_image): "crop" (centred
    # square) or "letterbox"; the same in training and at run time, never a squash
    image_fit: str = "crop"
    # The last K steps' commands and measured (v, w) as an encoder input (0: none). A stall,
    # motion commanded that the base does not make, is a contact the frame may not show; one
    # frame and one speed cannot tell it from a start from rest (core/live/motion_history.py)
    history_steps: int = 0
    # A planar LiDAR as an encoder input (0: none): the nearest return in each of N sectors
    # around the robot within scan_range_m, seen from base_link at the frame's time; the sensor
    # sits scan_forward_m ahead of base_link (core/data/scan_input.py)
    scan_sectors: int = 0
    scan_range_m: float = 3.0
    scan_forward_m: float = 0.0
    # Post-hoc calibration of the predicted variances (core/training/calibration.py): the
    # accumulated position / yaw variance is multiplied by these (1 = as trained)
    position_var_scale: float = 1.0
    yaw_var_scale: float = 1.0
    # ... and the position variance at each step by (1 + gain x the highest collision
    # probability predicted up to that step): where the model foresees a contact, what follows
    # (a stop, a slide along the box, a bounce) is what its mean gets least right (0 = off)
    contact_var_gain: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.image_size < 16:
            problems.append(f"image_size={self.image_size} (< 16)")
        if self.latent_dim < 1 or self.hidden_dim < 1 or self.dynamics_layers < 1:
            problems.append(
                f"latent_dim={self.latent_dim}, hidden_dim={self.hidden_dim}, "
                f"dynamics_layers={self.dynamics_layers} (must be >= 1)"
            )
        if self.dt_s <= 0 or self.horizon < 1:
            problems.append(f"dt_s={self.dt_s}, horizon={self.horizon}")
        if not (
            self.position_var_scale > 0 and self.yaw_var_scale > 0 and self.contact_var_gain >= 0
        ):
            problems.append(
                f"position_var_scale={self.position_var_scale}, "
                f"yaw_var_scale={self.yaw_var_scale} (must be > 0), "
                f"contact_var_gain={self.contact_var_gain} (must be >= 0)"
            )
        if not 0 <= self.scan_sectors <= MAX_SCAN_SECTORS or not self.scan_range_m > 0:
            problems.append(
                f"scan_sectors={self.scan_sectors} (0..{MAX_SCAN_SECTORS}), scan_range_m="
                f"{self.scan_range_m} (> 0)"
            )
        if not 0 <= self.history_steps <= MAX_HISTORY_STEPS:
            problems.append(f"history_steps={self.history_steps} (0..{MAX_HISTORY_STEPS})")
        if self.image_fit not in FIT_MODES:
            problems.append(f"image_fit={self.image_fit!r} (one of {', '.join(FIT_MODES)})")
        if problems:
            raise ValueError("invalid latent model config: " + "; ".join(problems))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["encoder_channels"] = list(self.encoder_channels)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "LatentModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        values = dict(values)
        if "encoder_channels" in values:
            values["encoder_channels"] = tuple(int(c) for c in values["encoder_channels"])
        return cls(**values)


@dataclass
class Normalisation:
    """Data statistics the model standardises with (saved as buffers and in config.json)."""

    twist_mean: list[float] = field(default_factory=lambda: [0.0, 0.0])
    twist_std: list[float] = field(default_factory=lambda: [1.0, 1.0])
    action_mean: list[float] = field(default_factory=lambda: [0.0, 0.0])
    action_std: list[float] = field(default_factory=lambda: [1.0, 1.0])
    delta_mean: list[float] = field(
        default_factory=lambda: [0.0, 0.0, 0.0]
    )  # of the residual target
    delta_std: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])


NORMALISATION_NAMES = tuple(f.name for f in fields(Normalisation))


def kinematic_body_delta(actions_bh2: torch.Tensor, dt_s: float) -> torch.Tensor:
    """Body-frame motion (dx, dy, dyaw) of holding each (v, w) for dt_s: [..., 2] -> [..., 3].

    The chord of the arc points along the mean heading (half the turn), as in
    :func:`geometry.integrate_unicycle`, so composing these reproduces it exactly.
    """
    v, w = actions_bh2[..., 0], actions_bh2[..., 1]
    dyaw = w * dt_s
    chord = v * dt_s * torch.sinc(dyaw / (2.0 * math.pi))
    return torch.stack(
        [chord * torch.cos(0.5 * dyaw), chord * torch.sin(0.5 * dyaw), dyaw], dim=-1
    )


def prepare_image(image_rgb_hw3: np.ndarray, size: int, fit: str = "crop") -> np.ndarray:
    """Any-size uint8 RGB -> uint8 [size, size, 3]: :func:`core.data.camera.fit_image`
    (aspect kept: a centred crop or a letterbox, then INTER_AREA).

    Training (the bag loader, windows.py) and inference (encode, the fast path, the ONNX
    backend) all go through fit_image, so a frame reaches the network the same way in both.
    """
    return fit_image(image_rgb_hw3, size, fit)


@dataclass
class Imagined:
    """Everything one open-loop rollout of the network produces, [B, H, ...]."""

    deltas_bh3: torch.Tensor  # metric body-frame motion per step
    delta_residual_norm_bh3: torch.Tensor  # what the delta loss compares (normalised residual)
    twists_bh2: torch.Tensor  # metric (v, w) after each step
    twists_norm_bh2: torch.Tensor
    position_var_bh: torch.Tensor  # m^2, accumulated
    yaw_var_bh: torch.Tensor  # rad^2, accumulated
    collision_logit_bh: torch.Tensor
    latents_bhd: torch.Tensor | None  # z after each step (training only: consistency loss)


HISTORY_CHANNELS = 4  # commanded v, w; measured v, w


def steady_history(twists_b2: torch.Tensor, steps: int) -> torch.Tensor:
    """The history [B, K, 4] of a robot that has been commanded and moving at its measured
    twist: what the encoder assumes before the first K steps have been seen."""
    return twists_b2.repeat(1, 2)[:, None, :].expand(-1, steps, -1)


def steady_history_np(twist_vw: np.ndarray, steps: int) -> np.ndarray:
    """:func:`steady_history` of one twist, [K, 4] float32 (the runtime engines' buffers)."""
    return steady_history(torch.as_tensor(twist_vw, dtype=torch.float32)[None], steps)[0].numpy()


def _zero_last(branch: nn.Sequential) -> None:
    last = branch[-1]
    assert isinstance(last, nn.Linear)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


class LatentDynamicsModel(nn.Module):
    """Encoder (image + measured twist -> z), latent transition and per-step heads."""

    # Normalisation buffers (register_buffer below), declared for the type checker.
    twist_mean: torch.Tensor
    twist_std: torch.Tensor
    action_mean: torch.Tensor
    action_std: torch.Tensor
    delta_mean: torch.Tensor
    delta_std: torch.Tensor
    image_encoder: ConvEncoder | None

    def __init__(self, config: LatentModelConfig, normalisation: Normalisation | None = None):
        super().__init__()
        self.config = config
        norm = normalisation or Normalisation()
        for name in NORMALISATION_NAMES:
            self.register_buffer(name, torch.tensor(getattr(norm, name), dtype=torch.float32))
        state_in = 2
        if config.use_camera:
            self.image_encoder = ConvEncoder(
                config.image_size, config.encoder_channels, config.image_features
            )
            state_in += config.image_features
        else:
            self.image_encoder = None
        self.to_latent = nn.Sequential(
            mlp(state_in, [config.hidden_dim], config.latent_dim), nn.LayerNorm(config.latent_dim)
        )
        # The history enters as a correction before the latent's LayerNorm, its last layer zero:
        # a model fine-tuned from one without history starts exactly where that one was.
        self.history_in: nn.Sequential | None = None
        if config.history_steps:
            self.history_in = mlp(
                HISTORY_CHANNELS * config.history_steps, [config.hidden_dim], config.latent_dim
            )
            _zero_last(self.history_in)
        self.scan_in: nn.Sequential | None = None
        if config.scan_sectors:  # the same way in: a model without it is where it starts
            self.scan_in = mlp(config.scan_sectors + 1, [config.hidden_dim], config.latent_dim)
            _zero_last(self.scan_in)
        self.trunk = mlp(config.latent_dim + 2, [config.hidden_dim] * config.dynamics_layers, None)
        # One output layer for the latent change and the heads: one matmul per step.
        self.out = nn.Linear(config.hidden_dim, config.latent_dim + HEAD_SIZE)
        with torch.no_grad():  # start as "latent unchanged, kinematic motion, small variance"
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
            self.out.bias[config.latent_dim + HEAD_POS_VAR] = -4.0
            self.out.bias[config.latent_dim + HEAD_YAW_VAR] = -4.0
            self.out.bias[config.latent_dim + HEAD_COLLISION] = -4.0

    def normalisation(self) -> Normalisation:
        return Normalisation(
            **{name: getattr(self, name).tolist() for name in NORMALISATION_NAMES}
        )

    def with_variance_calibration(
        self, position_scale: float, yaw_scale: float, contact_gain: float
    ) -> "LatentDynamicsModel":
        """A copy with the same weights and these calibration settings (LatentModelConfig)."""
        config = replace(
            self.config,
            position_var_scale=float(position_scale),
            yaw_var_scale=float(yaw_scale),
            contact_var_gain=float(contact_gain),
        )
        calibrated = LatentDynamicsModel(config, self.normalisation())
        calibrated.load_state_dict(self.state_dict())
        return calibrated.train(self.training)

    def set_normalisation(self, norm: Normalisation) -> None:
        for name in NORMALISATION_NAMES:
            getattr(self, name).copy_(torch.tensor(getattr(norm, name), dtype=torch.float32))

    @staticmethod
    def images_to_input(images_bss3: torch.Tensor) -> torch.Tensor:
        """uint8 [B, S, S, 3] -> float [B, 3, S, S] in [-0.5, 0.5]."""
        return images_bss3.permute(0, 3, 1, 2).float().div(255.0).sub(0.5)

    def encode(
        self,
        images_bss3: torch.Tensor | None,
        twists_b2: torch.Tensor,
        history_bk4: torch.Tensor | None = None,
        scan_bn: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """uint8 images [B, S, S, 3] (ignored without camera) + measured (v, w) [B, 2] -> z [B,
        D]. ``history_bk4``: the K steps before, most recent first, (commanded v, w, measured
        v, w) each (core/live/motion_history.py); ignored by a model without history, taken as
        steady motion at the measured twist when None (nothing known of the past). ``scan_bn``:
        the LaserScan input (core/data/scan_input.py), "no scan" when None."""
        parts = [(twists_b2 - self.twist_mean) / self.twist_std]
        if self.image_encoder is not None:
            if images_bss3 is None:
                raise ValueError("this model uses the camera: an image is required")
            parts.insert(0, self.image_encoder(self.images_to_input(images_bss3)))
        pre = self.to_latent[0](torch.cat(parts, dim=-1))
        if self.history_in is not None:
            steps = self.config.history_steps
            if history_bk4 is None:
                history_bk4 = steady_history(twists_b2, steps)
            history_bk4 = history_bk4[:, :steps]  # a longer one (kept for another model) is cut
            if history_bk4.shape[1:] != (steps, HISTORY_CHANNELS):
                raise ValueError(
                    f"this model takes a history of {steps} steps x {HISTORY_CHANNELS}; got "
                    f"{list(history_bk4.shape[1:])}"
                )
            norm = torch.cat([self.action_mean, self.twist_mean])
            scale = torch.cat([self.action_std, self.twist_std])
            pre = pre + self.history_in(((history_bk4 - norm) / scale).flatten(1))
        if self.scan_in is not None:
            width = self.config.scan_sectors + 1
            if scan_bn is None:
                unknown = torch.from_numpy(no_scan(self.config.scan_sectors))
                scan_bn = unknown.to(twists_b2.device).expand(twists_b2.shape[0], -1)
            if scan_bn.shape[1:] != (width,):
                raise ValueError(
                    f"this model takes a scan of {width - 1} sectors + 1; got "
                    f"{list(scan_bn.shape[1:])}"
                )
            pre = pre + self.scan_in(scan_bn)
        return self.to_latent[1](pre)

    def imagine(
        self, z_bd: torch.Tensor, actions_bh2: torch.Tensor, keep_latents: bool = False
    ) -> Imagined:
        """Open-loop rollout of H steps from z under the commands: the multi-step predictor
        (the reference: the planner's rollout runs it rearranged, core/model/rollout_engine.py)."""
        horizon = actions_bh2.shape[1]
        latent_dim = self.config.latent_dim
        actions_norm = (actions_bh2 - self.action_mean) / self.action_std
        outputs, latents = [], []
        z = z_bd
        for k in range(horizon):  # recurrent over H; batched over B
            hidden = self.trunk(torch.cat([z, actions_norm[:, k]], dim=-1))
            out = self.out(hidden)
            z = z + out[:, :latent_dim]
            outputs.append(out[:, latent_dim:])
            if keep_latents:
                latents.append(z)
        heads = torch.stack(outputs, dim=1)  # [B, H, HEAD_SIZE]
        return self.decode(
            heads, actions_bh2, torch.stack(latents, dim=1) if keep_latents else None
        )

    def decode(
        self, heads: torch.Tensor, actions_bh2: torch.Tensor, latents: torch.Tensor | None = None
    ) -> Imagined:
        """The per-step head outputs [B, H, HEAD_SIZE] in metric units, under the commands."""
        residual_norm = heads[..., HEAD_DELTA]
        deltas = residual_norm * self.delta_std + self.delta_mean
        if self.config.kinematic_prior:
            deltas = deltas + kinematic_body_delta(actions_bh2, self.config.dt_s)
        twists_norm = heads[..., HEAD_TWIST]
        position_scale = float(self.delta_std[:2].pow(2).mean()) * self.config.position_var_scale
        yaw_scale = float(self.delta_std[2].pow(2)) * self.config.yaw_var_scale
        position_var_bh = with_contact_gain(
            torch.cumsum(F.softplus(heads[..., HEAD_POS_VAR]), dim=1) * position_scale,
            torch.sigmoid(heads[..., HEAD_COLLISION]),
            self.config.contact_var_gain,
        )
        return Imagined(
            deltas_bh3=deltas,
            delta_residual_norm_bh3=residual_norm,
            twists_bh2=twists_norm * self.twist_std + self.twist_mean,
            twists_norm_bh2=twists_norm,
            position_var_bh=position_var_bh + 1e-6,
            yaw_var_bh=torch.cumsum(F.softplus(heads[..., HEAD_YAW_VAR]), dim=1) * yaw_scale
            + 1e-8,
            collision_logit_bh=heads[..., HEAD_COLLISION],
            latents_bhd=latents,
        )
