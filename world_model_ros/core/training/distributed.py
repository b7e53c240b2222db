"""Data-parallel training on PyTorch's own engine (torch.distributed + DistributedDataParallel).

``train`` runs unchanged under ``torchrun``: the environment torchrun sets (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR/PORT) starts a process group, gloo on CPU and NCCL on CUDA, one
process per device. What changes with the world size and what does not:

* ``batch_size`` in the config is the **global** batch: each rank draws ``batch_size /
  world_size`` windows and DDP averages the gradients, so a step is the same optimisation
  step at any world size (same learning-rate schedule, same samples per step, same recipe).
* The model starts identical everywhere (same seed; DDP also broadcasts rank 0's weights).
  Sampling and augmentation differ by rank: rank r's generator is seeded from (seed, r), rank
  0 of a single process keeps the plain seed, so one-process runs are what they always were.
* Rank 0 writes the checkpoint (the same format as a single process: the plain model, no DDP
  wrapper) and train_state.pt, which holds every rank's RNG and data-stream state. Resuming
  with the same world size continues exactly; with another world size the model, optimiser,
  step and schedule carry over and the data order and RNGs restart from (seed, step).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def per_rank_batch(self, batch_size: int) -> int:
        if batch_size % self.world_size:
            raise ValueError(
                f"batch_size {batch_size} (the global batch) must be divisible by the world "
                f"size {self.world_size}"
            )
        return batch_size // self.world_size


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the torchrun job when there is one (else rank 0 of 1). On CUDA each process takes
    the GPU of its LOCAL_RANK and NCCL; on CPU, gloo."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 1:
        return DistContext(), device
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world)
    return DistContext(rank, world, local, backend if world > 1 else ""), device


def shutdown(ctx: DistContext) -> None:
    """Leave the process group. Every rank waits for the others first: a gloo rank torn down
    while a peer still has a collective or its last save in flight can abort the peer
    (``terminate called without an active exception``, seen once in the suite). A rank that
    died instead is torchrun's to end the others."""
    if ctx.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s sampling generator (rank 0: ``seed`` itself)."""
    return seed if rank == 0 else seed + 1_000_003 * rank


class _LossModule(nn.Module):
    """model + loss as one module, so DDP's forward (which arms the gradient all-reduce) runs
    the whole loss computation."""

    def __init__(self, model: nn.Module, loss_fn: Callable):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, *args):
        return self.loss_fn(self.model, *args)


def wrap_loss(model: nn.Module, loss_fn: Callable, ctx: DistContext) -> Callable:
    """``loss_fn(model, *args)`` -> a callable(*args) whose backward all-reduces gradients
    across ranks (plain call in a single process)."""
    if not ctx.active:
        return lambda *args: loss_fn(model, *args)
    device = next(model.parameters()).device
    return nn.parallel.DistributedDataParallel(
        _LossModule(model, loss_fn),
        device_ids=[device.index] if device.type == "cuda" else None,
    )


def _reduce(values: list[float], ctx: DistContext, op) -> list[float]:
    if not ctx.active:
        return values
    device = torch.device("cuda", ctx.local_rank) if ctx.backend == "nccl" else None
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=op)
    return tensor.cpu().tolist()


def average_parts(parts: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Loss parts averaged over ranks (each rank's batch is the same size)."""
    if not ctx.active:
        return parts
    names = sorted(parts)
    summed = _reduce([parts[n] for n in names], ctx, dist.ReduceOp.SUM)
    return {n: v / ctx.world_size for n, v in zip(names, summed, strict=True)}


def agree_max(value: float, ctx: DistContext) -> float:
    """The largest of the ranks' values (elapsed time: every rank must stop, and set its
    learning rate, at the same step)."""
    return _reduce([value], ctx, dist.ReduceOp.MAX)[0]


def sum_totals(
    totals: dict[str, float], seen: int, ctx: DistContext
) -> tuple[dict[str, float], int]:
    """Validation sums over the ranks' shares of the windows."""
    if not ctx.active:
        return totals, seen
    names = sorted(set().union(*gather(sorted(totals), ctx)))  # a rank may have had no window
    summed = _reduce([totals.get(n, 0.0) for n in names] + [float(seen)], ctx, dist.ReduceOp.SUM)
    return dict(zip(names, summed[:-1], strict=True)), int(summed[-1])


def gather(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` (on every rank), in rank order."""
    if not ctx.active:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def rank_state(generator: torch.Generator, stream) -> dict[str, Any]:
    """What one rank must keep to continue exactly: its RNGs and its data stream."""
    return {
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "stream": stream.state_dict() if stream is not None else None,
    }


def restore_rank_state(
    state: dict[str, Any],
    ctx: DistContext,
    generator: torch.Generator,
    stream,
    seed: int,
    log: Callable[[str], None],
) -> None:
    """Put this rank's RNGs and stream where train_state.pt left them; under another world
    size, reseed from (seed, step) and start the stream on a fresh epoch."""
    ranks = state.get("ranks") or [
        {"generator": state["generator"], "torch_rng": state["torch_rng"], "stream": None}
    ]
    saved_world = int(state.get("world_size", 1))
    if saved_world == ctx.world_size and len(ranks) == ctx.world_size:
        mine = ranks[ctx.rank]
        generator.set_state(mine["generator"])
        torch.set_rng_state(mine["torch_rng"])
        if stream is not None and mine.get("stream") is not None:
            stream.load_state_dict(mine["stream"])
        return
    step = int(state["step"])
    generator.manual_seed(rank_seed(seed + step, ctx.rank))
    torch.manual_seed(rank_seed(seed + step, ctx.rank))
    if stream is not None:
        epochs = [int(r["stream"]["epoch"]) for r in ranks if r.get("stream")]
        stream.restart(max(epochs, default=0) + 1)
    log(
        f"resume: train_state.pt was written by {saved_world} process(es), this run has "
        f"{ctx.world_size}: weights, optimiser, step and schedule carry over; sampling restarts "
        "from the seed on a fresh pass over the data"
    )
