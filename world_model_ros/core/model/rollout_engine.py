"""The learned model's batched rollout for the planner: the arithmetic of
``LatentDynamicsModel.imagine`` rearranged, exported once and run by ONNX Runtime on the CPU.

Why: the MPPI planner rolls the latent out under 512 command sequences of 20 steps every control
cycle; on the 2-core CPU that rollout was 41 of a 69 ms cycle (``bench/planning.py``, profiled).
Of each step's 1.7 ms, 0.75 ms were the two Mish activations: torch's CPU kernel takes 0.38 ms
for a [512, 192] tensor, nine times its sigmoid kernel. What :class:`FusedRollout` changes (the
function is the same; results agree with ``imagine`` to float rounding,
test/test_latent_model.py):

* Mish as ``x n / (2 - n)`` with ``n = s (2 - s)``, ``s = sigmoid(x)`` (:func:`mish`);
* the command normalisation folded into the first layer's weights: each step starts with one
  product of [latent | commands];
* the latent's update is one product-and-add per step, its bias carried in the first layer's
  bias for that step (see ``forward``), and the eight head outputs one small product: no
  slicing of a joint output inside the loop.

Measured on the 2-core CPU, 512 x 20 (the rollout alone, one thread, p50 / p95 ms, alternating
runs): the reference ``imagine`` 39.8 / 44.4; :class:`FusedRollout` in torch 29.9 / 36.9; the
same in ONNX Runtime 25.6 / 27.9. ONNX Runtime wins on both and by far on the tail: it packs
the constant weights once for its matrix products and reuses its own memory arena, where torch
allocates (and the kernel faults in) fresh activations every step. Not taken:
``torch.compile`` (no faster than the reference after half a minute of compiling with a C++
compiler a robot may not have); bf16 matrix products (collision probabilities off by up to
0.13 and poses by 3 cm: that needs a model trained for it); ONNX Runtime on the reference
graph (65 ms: its Softplus and Tanh kernels are as slow as torch's Mish).

:class:`OnnxRollout` exports the graph for each horizon asked for (0.4 s, on first use; the
node's warm-up does it), with as many threads as torch is given, and again when the network's
weights change (it compares their version counters each call), so a predictor whose weights
are loaded or trained later never runs stale weights.
"""

from __future__ import annotations

import io
import threading
import warnings
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from ..geometry import compose_body_deltas
from .contract import Rollout

if TYPE_CHECKING:  # for the annotation only
    from .latent_model import LatentDynamicsModel

OUTPUTS = ("poses_bh3", "twists_bh2", "position_var_bh", "yaw_var_bh", "collision_prob_bh")


def mish(x: torch.Tensor) -> torch.Tensor:
    """``x * tanh(softplus(x))`` through one sigmoid ``s``: with ``e = exp(x)``,
    ``n = s (2 - s) = (e^2 + 2e) / (1 + e)^2`` and ``tanh(softplus(x)) = (e^2 + 2e) /
    (e^2 + 2e + 2) = n / (2 - n)``. Neither overflows for large x (s = 1, n = 1) nor cancels for
    very negative x (n is about 2s)."""
    s = torch.sigmoid(x)
    n = s * (2.0 - s)
    return x * n / (2.0 - n)


class FusedRollout(nn.Module):
    """``LatentPredictor.rollout``'s function of (latents [1 or B, D], start poses [1 or B, 3],
    commands [B, H, 2]) -> the five [B, H, ...] tensors of a :class:`Rollout`, for one
    :class:`LatentDynamicsModel` (a ``trunk`` of Linear -> LayerNorm -> Mish blocks and an
    ``out`` layer); see the module docstring."""

    network: LatentDynamicsModel

    def __init__(self, network: LatentDynamicsModel):
        super().__init__()
        self.network = network

    def forward(
        self, z_zd: torch.Tensor, pose_p3: torch.Tensor, actions_bh2: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        net = self.network
        latent_dim = net.config.latent_dim
        # Each block is Linear -> LayerNorm -> Mish (layers.NormedLinear).
        trunk = cast(list[nn.Sequential], list(net.trunk))
        blocks = [(cast(nn.Linear, b[0]), cast(nn.LayerNorm, b[1])) for b in trunk]
        first, horizon = blocks[0][0], actions_bh2.shape[1]
        latent_weight_t = first.weight[:, :latent_dim].t()
        change_weight_t, change_bias = net.out.weight[:latent_dim].t(), net.out.bias[:latent_dim]
        head_weight_t, head_bias = net.out.weight[latent_dim:].t(), net.out.bias[latent_dim:]
        # The latent after k steps is y_k + k * change_bias, with y_0 = z and y_{k+1} = y_k +
        # h_k @ change_weight_t: each step's update is then one product-and-add (a Gemm), and
        # the first layer's share of k * change_bias joins its bias for step k. The command
        # normalisation is folded into the first layer's weights.
        command_weight = first.weight[:, latent_dim:] / net.action_std  # [width, 2]
        first_weight_t = torch.cat([first.weight[:, :latent_dim], command_weight], dim=1).t()
        steps_h1 = torch.arange(horizon, dtype=z_zd.dtype).unsqueeze(1)
        first_bias_hw = (
            first.bias
            - command_weight @ net.action_mean
            + steps_h1 * (change_bias @ latent_weight_t)
        )
        actions_hb2 = actions_bh2.transpose(0, 1)  # each step's commands: one contiguous row
        y = z_zd.expand(actions_bh2.shape[0], -1)
        heads = []
        for k in range(horizon):  # recurrent over H; batched over B
            h = torch.addmm(first_bias_hw[k], torch.cat([y, actions_hb2[k]], 1), first_weight_t)
            for index, (linear, norm) in enumerate(blocks):
                if index:
                    h = torch.addmm(linear.bias, h, linear.weight.t())
                h = mish(norm(h))
            heads.append(torch.addmm(head_bias, h, head_weight_t))
            y = torch.addmm(y, h, change_weight_t)
        heads_hbk = torch.stack(heads)
        imagined = net.decode(heads_hbk.transpose(0, 1), actions_bh2)
        return (
            compose_body_deltas(pose_p3, imagined.deltas_bh3),
            imagined.twists_bh2,
            imagined.position_var_bh,
            imagined.yaw_var_bh,
            torch.sigmoid(imagined.collision_logit_bh),
        )


class OnnxRollout:
    """:class:`FusedRollout` of one network in ONNX Runtime on the CPU, one session per
    horizon, rebuilt when the weights change; safe to call from several threads."""

    def __init__(self, network: LatentDynamicsModel):
        import onnxruntime  # a dependency (requirements.txt); imported here, where it is used

        self._ort = onnxruntime
        self.network = network
        self._sessions: dict[tuple[int, int], tuple[tuple, Any]] = {}  # (H, threads)
        self._lock = threading.Lock()

    def _weights_version(self) -> tuple:
        tensors = [*self.network.parameters(), *self.network.buffers()]
        return tuple((t.data_ptr(), t._version) for t in tensors)

    def _session(self, horizon: int) -> Any:
        threads = torch.get_num_threads()  # as many as torch is given (the node's setting)
        version = self._weights_version()
        with self._lock:
            known = self._sessions.get((horizon, threads))
            if known is None or known[0] != version:
                known = (version, self._build(horizon, threads))
                self._sessions[(horizon, threads)] = known
        return known[1]

    def _build(self, horizon: int, threads: int) -> Any:
        from .onnx_backend import OPSET, register_sinc  # loaded when a session is first built

        register_sinc()
        dim = self.network.config.latent_dim
        graph = io.BytesIO()
        # Export traces the network: outside inference mode (the rollout runs inside it).
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on the constants it bakes in
            torch.onnx.export(
                FusedRollout(self.network).eval(),
                (torch.zeros(1, dim), torch.zeros(1, 3), torch.zeros(2, horizon, 2)),
                graph,  # type: ignore[arg-type]  # a file object works; the stubs say path only
                input_names=["z", "pose", "actions"],
                output_names=list(OUTPUTS),
                dynamic_axes={
                    "z": {0: "latents"},
                    "pose": {0: "poses"},
                    "actions": {0: "batch"},
                    **{name: {0: "batch"} for name in OUTPUTS},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if threads > 1:  # idle pool threads would spin on a core another process needs
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return self._ort.InferenceSession(
            graph.getvalue(), options, providers=["CPUExecutionProvider"]
        )

    def rollout(
        self, z_zd: torch.Tensor, pose_p3: torch.Tensor, actions_bh2: torch.Tensor
    ) -> Rollout:
        """Latents [1 or B, D], start poses [1 or B, 3], commands [B, H, 2] (CPU float32)."""
        session = self._session(int(actions_bh2.shape[1]))
        feeds = {
            name: np.ascontiguousarray(tensor.numpy(), dtype=np.float32)
            for name, tensor in (("z", z_zd), ("pose", pose_p3), ("actions", actions_bh2))
        }
        outputs = session.run(list(OUTPUTS), feeds)
        return Rollout(*(torch.from_numpy(array) for array in outputs))
