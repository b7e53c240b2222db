"""The model contract every predictor implements (docs/architecture.md, "The model contract").

``encode(observation) -> LatentState`` and ``rollout(latent, actions[B, H, 2]) -> Rollout``,
batched on one device with no Python loop over the batch. The kinematic baseline, the learned
world model and anything a user plugs in implement this one protocol, so the node, the MPPI
planner and evaluation never ask which model they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import torch

if TYPE_CHECKING:
    from ..data.camera import CameraSpec, Footprint
    from .checkpoint_robot import RobotLimits


@dataclass(frozen=True)
class Observation:
    """One synchronised input: a camera frame and the odometry at its stamp.

    image_rgb_hw3: uint8 RGB, any size (the model resizes), or None for models without vision.
    pose_xyyaw: (3,) metres / radians in the odometry frame. twist_vw: (2,) measured body-frame
    forward speed (m/s) and yaw rate (rad/s). history_k4: the model steps before the stamp,
    most recent first, (commanded v, w, measured v, w) each (core/live/motion_history.py),
    for models that take it; None when the caller keeps none. scan_n: the LaserScan input
    (core/data/scan_input.py) for models that take one; None: no scan known.
    """

    stamp_s: float
    image_rgb_hw3: np.ndarray | None
    pose_xyyaw: np.ndarray
    twist_vw: np.ndarray
    history_k4: np.ndarray | None = None
    scan_n: np.ndarray | None = None


@dataclass(frozen=True)
class EncoderInputs:
    """What a predictor's encoder takes besides the frame and the measured twist
    (core/model/latent_model.py): steps of command and speed history, and the LaserScan's
    sectors, range and mount. All off for a model that takes neither (the kinematic one)."""

    history_steps: int = 0
    scan_sectors: int = 0
    scan_range_m: float = 3.0
    scan_forward_m: float = 0.0

    @classmethod
    def of(cls, model: object) -> "EncoderInputs":
        config = getattr(model, "config", None)
        return cls(
            int(getattr(config, "history_steps", 0) or 0),
            int(getattr(config, "scan_sectors", 0) or 0),
            float(getattr(config, "scan_range_m", 3.0)),
            float(getattr(config, "scan_forward_m", 0.0)),
        )


@dataclass
class LatentState:
    """Where a rollout starts: the pose it is anchored to plus the model's own features."""

    pose_3: torch.Tensor  # [3] odometry frame
    twist_2: torch.Tensor  # [2] measured body-frame (v, w)
    features: torch.Tensor | None = None  # [D] learned latent; None for the kinematic model


@dataclass
class Rollout:
    """Predicted states after each of H steps for each of B action sequences.

    Pose i is the state (i + 1) * dt after the observation. Variances are of x/y position
    (m^2, isotropic) and yaw (rad^2); collision_prob is the probability of being in contact
    with an obstacle at that step.
    """

    poses_bh3: torch.Tensor
    twists_bh2: torch.Tensor
    position_var_bh: torch.Tensor
    yaw_var_bh: torch.Tensor
    collision_prob_bh: torch.Tensor

    @property
    def batch(self) -> int:
        return self.poses_bh3.shape[0]

    @property
    def horizon(self) -> int:
        return self.poses_bh3.shape[1]

    def to_numpy(self) -> dict[str, np.ndarray]:
        return {
            name: getattr(self, name).detach().float().cpu().numpy()
            for name in (
                "poses_bh3",
                "twists_bh2",
                "position_var_bh",
                "yaw_var_bh",
                "collision_prob_bh",
            )
        }


@runtime_checkable
class WorldModel(Protocol):
    """What the node, the planner and evaluation need from a predictor.

    ``uses_camera``: whether ``encode`` looks at ``observation.image_rgb_hw3`` (callers skip
    rendering or waiting for frames when it does not). ``weights_sha256``: the SHA-256 of the
    learned weights behind the latents it makes ("" for a model without weights), so a latent
    is never rolled out by other weights than the ones that encoded it.
    """

    model_id: str
    dt_s: float
    horizon: int
    device: torch.device
    weights_sha256: str

    @property
    def uses_camera(self) -> bool: ...

    def encode(self, observation: Observation) -> LatentState: ...

    def rollout(self, latent: LatentState, actions_bh2: torch.Tensor) -> Rollout: ...


# Optional capabilities: a model has them or not, and callers ask with isinstance() against
# these protocols (as nav2 asks a motion model isHolonomic()), never by probing attributes.


@runtime_checkable
class CarriesLatent(Protocol):
    """Can carry a latent forward under executed commands (the planner's past view)."""

    def advance(self, latent: LatentState, actions_k2: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class SeesOccupancy(Protocol):
    """Says which cells around the robot are blocked (the planner's occupancy map):
    ``occupancy(latent) -> (cell centres [C, 2] robot frame, logits [C])`` or None when this
    checkpoint has no occupancy head."""

    def occupancy(self, latent: LatentState) -> tuple[torch.Tensor, torch.Tensor] | None: ...


@runtime_checkable
class KnowsArena(Protocol):
    """A reference model told the true map of each simulated episode (sim/oracle_model.py)."""

    def set_arena(self, arena: object) -> None: ...


@runtime_checkable
class KnowsItsRobot(Protocol):
    """Trained for one robot: the camera it expects, the robot's footprint and its base's
    limits, each None when the checkpoint does not say (the twin warns about another camera,
    the planner sizes its contact memory by the footprint and caps its speeds at the limits;
    core/planning/robot_fit.py)."""

    camera: CameraSpec | None
    footprint: Footprint | None
    limits: RobotLimits | None


def check_actions(actions_bh2: torch.Tensor) -> None:
    """Reject action tensors that are not [B, H, 2] or hold NaN/inf, naming the problem."""
    if actions_bh2.ndim != 3 or actions_bh2.shape[-1] != 2:
        raise ValueError(
            f"actions must have shape [B, H, 2] (v m/s, w rad/s); got {tuple(actions_bh2.shape)}"
        )
    if not torch.isfinite(actions_bh2).all():
        raise ValueError("actions contain NaN or inf")
