"""How the training loop draws and perturbs a batch: per-window sampling weights, DrQ-style
image shifts and noise on the measured twist the encoder sees.

Apart from the loop (trainer.py) because these are small pure functions of a generator, each
with its own knob in :class:`~.train_config.TrainConfig`, that the CLI (train_input.py,
streaming from a dataset applies the weights record by record) and the tests call directly.
Mirroring windows left-right lives in mirror.py.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..data.windows import WindowSet


def window_sampling_weights(windows: WindowSet, rest_start_weight: float) -> torch.Tensor | None:
    """Per-window sampling weights, or None for uniform sampling (``rest_start_weight`` 1)."""
    if rest_start_weight == 1.0 or len(windows) == 0:
        return None
    if rest_start_weight <= 0:
        raise ValueError(f"rest_start_weight must be positive; got {rest_start_weight}")
    at_rest = (windows.twists[windows.starts, 0].abs() < 0.05) & (
        windows.commands[windows.starts, 0] > 0.05
    )
    free = windows.contacts[windows.starts] < 0.5  # not already pressed against something
    return torch.where(at_rest & free, rest_start_weight, 1.0).double()


def jitter_twists(
    twist_b2: torch.Tensor, std_v: float, std_w: float, generator: torch.Generator
) -> torch.Tensor:
    """Measured (v, w) plus Gaussian noise of std (``std_v`` m/s, ``std_w`` rad/s); unchanged when
    both are 0."""
    if std_v <= 0 and std_w <= 0:
        return twist_b2
    noise = torch.randn(twist_b2.shape, generator=generator, dtype=twist_b2.dtype)
    return twist_b2 + noise * torch.tensor([std_v, std_w], dtype=twist_b2.dtype)


def shift_images(
    images_bss3: torch.Tensor, max_shift: int, generator: torch.Generator
) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels with edge padding (DrQ), per image."""
    if max_shift <= 0:
        return images_bss3
    batch, size = images_bss3.shape[0], images_bss3.shape[1]
    padded = F.pad(images_bss3.permute(0, 3, 1, 2).float(), (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (batch, 2), generator=generator)
    rows = offsets[:, 0, None] + torch.arange(size)  # [B, S]
    cols = offsets[:, 1, None] + torch.arange(size)
    batch_index = torch.arange(batch)[:, None, None]
    shifted = padded.permute(0, 2, 3, 1)[batch_index, rows[:, :, None], cols[:, None, :]]
    return shifted.round().to(torch.uint8)
