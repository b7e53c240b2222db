"""ONNX export of the learned model and an onnxruntime engine for the node's hot path.

Two graphs, so the node's stage timings keep their meaning and an encoded frame can be rolled
out under many action sequences (the planner's use):

* ``encoder``: uint8 image [1, S, S, 3] + measured twist [1, 2] -> latent z [1, D]
* ``rollout``: z [B, D] + start pose [B, 3] + actions [B, H, 2] -> poses [B, H, 3], twists
  [B, H, 2], position variance [B, H], yaw variance [B, H], collision probability [B, H]

The rollout is unrolled over a fixed horizon H (the model's transition is a Python loop over
steps), with a dynamic batch. Export goes through the public ``LatentDynamicsModel`` methods
(``encode``, ``imagine``) and the same pose composition as ``LatentPredictor.rollout``; the
files are what TensorRT's ``trtexec --onnx=...`` takes (docs/realtime.md). The exporter used is
torch's TorchScript-based one (``dynamo=False``): it needs no extra package.

No rclpy here.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.camera import fit_image
from ..data.scan_input import no_scan
from ..geometry import compose_body_deltas
from .contract import LatentState, Observation
from .latent_model import LatentDynamicsModel, steady_history_np

OPSET = 17
_SINC_REGISTERED = False


def register_sinc() -> None:
    """ONNX has no sinc (used by the exact unicycle chord): sin(pi x) / (pi x), 1 at x = 0."""
    global _SINC_REGISTERED
    if _SINC_REGISTERED:
        return

    def sinc(g, x):
        one = g.op("Constant", value_t=torch.tensor(1.0))
        zero = g.op("Equal", x, g.op("Constant", value_t=torch.tensor(0.0)))
        pix = g.op(
            "Where", zero, one, g.op("Mul", x, g.op("Constant", value_t=torch.tensor(math.pi)))
        )
        return g.op("Where", zero, one, g.op("Div", g.op("Sin", pix), pix))

    torch.onnx.register_custom_op_symbolic("aten::sinc", sinc, OPSET)
    _SINC_REGISTERED = True


class _Encoder(nn.Module):
    """The encoder with the inputs its model takes: image, twist, then history and scan when
    the model has them."""

    def __init__(self, network: LatentDynamicsModel):
        super().__init__()
        self.network = network

    def forward(
        self, images_1ss3: torch.Tensor, twist_12: torch.Tensor, *extra: torch.Tensor
    ) -> torch.Tensor:
        rest = list(extra)
        history = rest.pop(0) if self.network.config.history_steps else None
        scan = rest.pop(0) if self.network.config.scan_sectors else None
        return self.network.encode(images_1ss3, twist_12, history, scan)


class _Rollout(nn.Module):
    def __init__(self, network: LatentDynamicsModel):
        super().__init__()
        self.network = network

    def forward(self, z_bd: torch.Tensor, pose_b3: torch.Tensor, actions_bh2: torch.Tensor):
        imagined = self.network.imagine(z_bd, actions_bh2)
        poses = compose_body_deltas(pose_b3, imagined.deltas_bh3)
        return (
            poses,
            imagined.twists_bh2,
            imagined.position_var_bh,
            imagined.yaw_var_bh,
            torch.sigmoid(imagined.collision_logit_bh),
        )


@dataclass(frozen=True)
class OnnxGraphs:
    encoder: bytes
    rollout: bytes
    horizon: int
    image_size: int
    latent_dim: int


def export_graphs(network: LatentDynamicsModel, horizon: int) -> OnnxGraphs:
    """The learned network (``LatentPredictor.model``) as two ONNX graphs (CPU, fp32)."""
    config = network.config
    if not config.use_camera:
        raise ValueError("ONNX export supports camera models only (use_camera: true)")
    register_sinc()
    network = network.to("cpu").eval()
    size, dim = config.image_size, config.latent_dim
    images = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    twist = torch.zeros(1, 2)
    # a model with a history or scan input takes them as inputs "history" [1, K, 4] and
    # "scan" [1, N + 1]
    names, inputs = ["image", "twist"], [images, twist]
    if config.history_steps:
        names.append("history")
        inputs.append(torch.zeros(1, config.history_steps, 4))
    if config.scan_sectors:
        names.append("scan")
        inputs.append(torch.zeros(1, config.scan_sectors + 1))
    encoder, rollout = io.BytesIO(), io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # tracer notes on constants (normalisation scales): expected
        torch.onnx.export(
            _Encoder(network),
            tuple(inputs),
            encoder,  # type: ignore[arg-type]  # a file object works; the stubs say path only
            input_names=names,
            output_names=["z"],
            opset_version=OPSET,
            dynamo=False,
        )
        torch.onnx.export(
            _Rollout(network),
            (torch.zeros(1, dim), torch.zeros(1, 3), torch.zeros(1, horizon, 2)),
            rollout,  # type: ignore[arg-type]
            input_names=["z", "pose", "actions"],
            output_names=["poses", "twists", "position_var", "yaw_var", "collision_prob"],
            dynamic_axes={
                name: {0: "batch"}
                for name in (
                    "z",
                    "pose",
                    "actions",
                    "poses",
                    "twists",
                    "position_var",
                    "yaw_var",
                    "collision_prob",
                )
            },
            opset_version=OPSET,
            dynamo=False,
        )
    return OnnxGraphs(encoder.getvalue(), rollout.getvalue(), horizon, size, dim)


def save_graphs(graphs: OnnxGraphs, folder: str | Path) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "encoder.onnx", folder / f"rollout_h{graphs.horizon}.onnx")
    paths[0].write_bytes(graphs.encoder)
    paths[1].write_bytes(graphs.rollout)
    return paths


class OnnxEngine:
    """Same interface as ``fast_path.InferenceEngine`` (encode / set_actions / rollout / warm_up),
    running the exported graphs in onnxruntime on the CPU. The horizon is fixed at export: a
    different one re-exports (a few hundred ms, once)."""

    def __init__(
        self, model, horizon: int | None = None, threads: int = 1, warmup_iterations: int = 3
    ):
        import onnxruntime as ort

        if torch.device(model.device).type != "cpu":
            raise ValueError(
                f"backend 'onnxruntime' runs on the CPU; the model is on {model.device}"
            )
        self._ort = ort
        self.model = model
        self.device = torch.device("cpu")
        self.notes: list[str] = [f"onnxruntime {ort.__version__} (CPU, {threads} thread(s))"]
        self._network = model.model
        self._threads = threads
        self._warmup_iterations = warmup_iterations
        self.horizon = 0
        size = self._network.config.image_size
        self._image_1ss3 = np.zeros((1, size, size, 3), np.uint8)
        self._image_fit = self._network.config.image_fit
        self._twist_12 = np.zeros((1, 2), np.float32)
        self._pose_13 = np.zeros((1, 3), np.float32)
        self._history_steps = self._network.config.history_steps
        self._history_1k4 = np.zeros((1, self._history_steps, 4), np.float32)
        self._scan_sectors = self._network.config.scan_sectors
        self._scan_1n = np.zeros((1, self._scan_sectors + 1), np.float32)
        self.resize_horizon(int(horizon or model.horizon))

    def _session(self, graph: bytes):
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self._ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def resize_horizon(self, horizon: int) -> None:
        if horizon == self.horizon:
            return
        graphs = export_graphs(self._network, horizon)
        self._encoder = self._session(graphs.encoder)
        self._rollout = self._session(graphs.rollout)
        self.horizon = horizon
        self._actions_1h2 = np.zeros((1, horizon, 2), np.float32)

    def encode(self, observation: Observation) -> LatentState:
        image = observation.image_rgb_hw3
        if image is None:
            raise ValueError(
                f"model '{self.model.model_id}' uses the camera but the observation has no image"
            )
        fit_image(image, self._image_1ss3.shape[1], self._image_fit, dst=self._image_1ss3[0])
        self._twist_12[0] = observation.twist_vw
        self._pose_13[0] = observation.pose_xyyaw
        feeds = {"image": self._image_1ss3, "twist": self._twist_12}
        if self._history_steps:
            if observation.history_k4 is None:  # nothing known of the past: steady motion
                self._history_1k4[0] = steady_history_np(self._twist_12[0], self._history_steps)
            else:
                self._history_1k4[0] = observation.history_k4[: self._history_steps]
            feeds["history"] = self._history_1k4
        if self._scan_sectors:
            self._scan_1n[0] = (
                no_scan(self._scan_sectors) if observation.scan_n is None else observation.scan_n
            )
            feeds["scan"] = self._scan_1n
        (z,) = self._encoder.run(["z"], feeds)
        return LatentState(
            pose_3=torch.from_numpy(self._pose_13[0].copy()),
            twist_2=torch.from_numpy(self._twist_12[0].copy()),
            features=torch.from_numpy(z[0]),
        )

    def set_actions(self, actions_h2: np.ndarray) -> np.ndarray:
        if actions_h2.shape[0] != self.horizon:
            self.resize_horizon(actions_h2.shape[0])
        self._actions_1h2[0] = actions_h2
        return self._actions_1h2

    def rollout(self, latent: LatentState, actions_1h2: np.ndarray) -> dict[str, np.ndarray]:
        if latent.features is None:
            raise ValueError("latent has no features: it was not made by a learned model")
        z = latent.features.numpy().reshape(1, -1).astype(np.float32, copy=False)
        pose = latent.pose_3.numpy().reshape(1, 3).astype(np.float32, copy=False)
        poses, twists, position_var, yaw_var, collision = self._rollout.run(
            None, {"z": z, "pose": pose, "actions": actions_1h2}
        )
        return {
            "poses_bh3": poses,
            "twists_bh2": twists,
            "position_var_bh": position_var,
            "yaw_var_bh": yaw_var,
            "collision_prob_bh": collision,
        }

    def warm_up(self, image_hw: tuple[int, int] = (480, 640)) -> float:
        observation = Observation(
            0.0, np.zeros((*image_hw, 3), np.uint8), np.zeros(3), np.zeros(2)
        )
        elapsed_ms = float("nan")
        for _ in range(self._warmup_iterations):
            start = time.perf_counter()
            self.rollout(
                self.encode(observation), self.set_actions(np.zeros((self.horizon, 2), np.float32))
            )
            elapsed_ms = 1e3 * (time.perf_counter() - start)
        return elapsed_ms
