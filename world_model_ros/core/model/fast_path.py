"""The node's hot path around a world model: preallocated buffers, one preprocessing pass, warm-up,
and the CUDA options (autocast precision, CUDA graphs, torch.compile) chosen by configuration.

Why a wrapper rather than changes inside each model: the contract (``encode``/``rollout``) is what
the planner and evaluation call too; what only a real-time loop needs lives here.

* Preprocessing once: for the learned model the camera frame is fitted (aspect kept, exactly as
  in training: ``core.data.camera.fit_image``) straight into a preallocated host buffer, which
  is copied into a preallocated device tensor (pinned memory and a non-blocking copy on CUDA);
  the normalisation to [-0.5, 0.5] happens on the model's device inside the network's
  ``encode``. Resizing *before* the upload moves 12 KB (64 x 64 x 3) instead of 0.9 MB (VGA).
* No per-frame tensors where they are avoidable: the pose/twist/action tensors are preallocated
  and filled in place (they are resized when the horizon changes at run time).
* ``torch.inference_mode`` on everything, and a warm-up (a few dummy encode + rollout passes,
  which also triggers lazy CUDA/cuDNN initialisation and any compilation) before the node says
  it is ready, so the first real frame is not the slow one.
* CUDA options are no-ops on the CPU, each with a note the node logs (never silently).

No rclpy here.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..data.camera import fit_image
from ..data.scan_input import no_scan
from .contract import EncoderInputs, LatentState, Observation, Rollout, WorldModel
from .latent_model import steady_history_np

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class FastPathConfig:
    precision: str = "fp32"  # fp32 | fp16 | bf16 (autocast on CUDA; fp32 on CPU)
    cuda_graphs: bool = False  # torch.compile(mode="reduce-overhead") on CUDA: replays CUDA graphs
    compile: bool = False  # torch.compile (default mode) of the network
    warmup_iterations: int = 3

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision '{self.precision}' is not one of {', '.join(PRECISIONS)}")
        if self.warmup_iterations < 0:
            raise ValueError(f"warmup_iterations must be >= 0; got {self.warmup_iterations}")


class InferenceEngine:
    """``encode``/``rollout`` of one world model for a single newest frame, with the fast paths.

    ``notes`` collects what the engine decided (options ignored on the CPU, compile mode), for
    the node to log once.
    """

    def __init__(
        self,
        model: WorldModel,
        config: FastPathConfig = FastPathConfig(),
        horizon: int | None = None,
    ):
        self.model = model
        self.config = config
        self.device = torch.device(model.device)
        self.notes: list[str] = []
        self.on_cuda = self.device.type == "cuda"
        self._autocast_dtype = PRECISIONS[config.precision] if self.on_cuda else None
        if config.precision != "fp32" and not self.on_cuda:
            self.notes.append(
                f"precision '{config.precision}' requested on {self.device}: ignored, running fp32"
            )
        self._network = getattr(
            model, "model", None
        )  # the nn.Module of a learned model (LatentPredictor)
        self._image_size = getattr(getattr(model, "config", None), "image_size", None)
        self._image_fit = getattr(getattr(model, "config", None), "image_fit", "crop")
        self._uses_camera = (
            bool(getattr(model, "uses_camera", False)) and self._network is not None
        )
        self._cuda_graphs = False
        if config.cuda_graphs or config.compile:
            if not self.on_cuda:
                self.notes.append(
                    f"cuda_graphs/compile requested on {self.device}: ignored (CUDA only)"
                )
            elif self._network is None:
                self.notes.append(
                    "cuda_graphs/compile requested for a model without a network: ignored"
                )
            else:
                mode = "reduce-overhead" if config.cuda_graphs else "default"
                self._cuda_graphs = config.cuda_graphs
                self._network.encode = torch.compile(
                    self._network.encode, mode=mode, dynamic=False
                )
                self._network.imagine = torch.compile(
                    self._network.imagine, mode=mode, dynamic=False
                )
                self.notes.append(f"torch.compile(mode='{mode}') on the encoder and dynamics")
        pin = self.on_cuda
        self._pose_3 = torch.zeros(3, dtype=torch.float32, device=self.device)
        self._twist_12 = torch.zeros(1, 2, dtype=torch.float32, device=self.device)
        self._state_host_5 = torch.zeros(5, dtype=torch.float32, pin_memory=pin)
        if self._uses_camera:
            assert self._image_size is not None  # a camera model's config has one
            size = int(self._image_size)
            self._image_host_ss3 = torch.zeros(size, size, 3, dtype=torch.uint8, pin_memory=pin)
            self._image_host_np = self._image_host_ss3.numpy()
            self._image_dev_1ss3 = torch.zeros(
                1, size, size, 3, dtype=torch.uint8, device=self.device
            )
        inputs = EncoderInputs.of(model)
        self._history_steps = inputs.history_steps
        self._history_host_1k4 = self._history_dev_1k4 = None
        if self._history_steps and self._network is not None:
            shape = (1, self._history_steps, 4)
            self._history_host_1k4 = torch.zeros(shape, dtype=torch.float32, pin_memory=pin)
            self._history_dev_1k4 = torch.zeros(shape, dtype=torch.float32, device=self.device)
        self._scan_sectors = inputs.scan_sectors
        self._scan_host_1n = self._scan_dev_1n = None
        if self._scan_sectors and self._network is not None:
            width = self._scan_sectors + 1
            self._scan_host_1n = torch.zeros(1, width, dtype=torch.float32, pin_memory=pin)
            self._scan_dev_1n = torch.zeros(1, width, dtype=torch.float32, device=self.device)
        self.horizon = 0
        self.resize_horizon(int(horizon or model.horizon))

    def resize_horizon(self, horizon: int) -> None:
        if horizon == self.horizon:
            return
        self.horizon = horizon
        self._actions_host_1h2 = torch.zeros(
            1, horizon, 2, dtype=torch.float32, pin_memory=self.on_cuda
        )
        self._actions_np_h2 = self._actions_host_1h2.numpy()[0]
        self._actions_dev_1h2 = torch.zeros(1, horizon, 2, dtype=torch.float32, device=self.device)

    def _autocast(self):
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self._autocast_dtype)

    @torch.inference_mode()
    def encode(self, observation: Observation) -> LatentState:
        if self._network is None or not hasattr(self._network, "encode"):
            return self.model.encode(observation)  # the kinematic model: nothing to speed up
        if self._cuda_graphs:
            # a new frame: earlier graph outputs may be reused
            torch.compiler.cudagraph_mark_step_begin()
        state = self._state_host_5.numpy()
        state[:3] = observation.pose_xyyaw
        state[3:] = observation.twist_vw
        self._pose_3.copy_(self._state_host_5[:3], non_blocking=True)
        self._twist_12[0].copy_(self._state_host_5[3:], non_blocking=True)
        images = None
        if self._uses_camera:
            image = observation.image_rgb_hw3
            if image is None:
                raise ValueError(
                    f"model '{self.model.model_id}' uses the camera but the observation has no "
                    "image"
                )
            fit_image(
                image,
                self._image_host_np.shape[0],
                self._image_fit,
                dst=self._image_host_np,
            )
            self._image_dev_1ss3.copy_(self._image_host_ss3.unsqueeze(0), non_blocking=True)
            images = self._image_dev_1ss3
        history = None
        if self._history_dev_1k4 is not None and self._history_host_1k4 is not None:
            host = self._history_host_1k4.numpy()[0]
            if observation.history_k4 is None:  # nothing known of the past: steady motion
                host[:] = steady_history_np(observation.twist_vw, self._history_steps)
            else:
                host[:] = np.asarray(observation.history_k4, np.float32)[: self._history_steps]
            self._history_dev_1k4.copy_(self._history_host_1k4, non_blocking=True)
            history = self._history_dev_1k4
        scan = None
        if self._scan_dev_1n is not None and self._scan_host_1n is not None:
            self._scan_host_1n.numpy()[0] = (
                no_scan(self._scan_sectors) if observation.scan_n is None else observation.scan_n
            )
            self._scan_dev_1n.copy_(self._scan_host_1n, non_blocking=True)
            scan = self._scan_dev_1n
        with self._autocast():
            # clone: with CUDA graphs the output buffer belongs to the graph and is reused next
            # replay
            features = (
                self._network.encode(images, self._twist_12, history, scan)[0].float().clone()
            )
        return LatentState(
            pose_3=self._pose_3.clone(), twist_2=self._twist_12[0].clone(), features=features
        )

    def set_actions(self, actions_h2: np.ndarray) -> torch.Tensor:
        """Copy [H, 2] actions into the preallocated [1, H, 2] device tensor and return it."""
        if actions_h2.shape[0] != self.horizon:
            self.resize_horizon(actions_h2.shape[0])
        self._actions_np_h2[...] = actions_h2
        self._actions_dev_1h2.copy_(self._actions_host_1h2, non_blocking=True)
        return self._actions_dev_1h2

    @torch.inference_mode()
    def rollout(self, latent: LatentState, actions_1h2: torch.Tensor) -> dict[str, np.ndarray]:
        """The rollout of one action sequence as NumPy arrays (``Rollout.to_numpy()``)."""
        with self._autocast():
            rollout: Rollout = self.model.rollout(latent, actions_1h2)
        return rollout.to_numpy()

    def warm_up(self, image_hw: tuple[int, int] = (480, 640)) -> float:
        """Run ``warmup_iterations`` dummy cycles; returns the last one's milliseconds."""
        image = np.zeros((*image_hw, 3), np.uint8)
        observation = Observation(0.0, image, np.zeros(3, np.float32), np.zeros(2, np.float32))
        elapsed_ms = float("nan")
        for _ in range(self.config.warmup_iterations):
            start = time.perf_counter()
            latent = self.encode(observation)
            self.rollout(latent, self.set_actions(np.zeros((self.horizon, 2), np.float32)))
            if self.on_cuda:
                torch.cuda.synchronize(self.device)
            elapsed_ms = 1e3 * (time.perf_counter() - start)
        return elapsed_ms
