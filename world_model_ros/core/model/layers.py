"""Building blocks of the latent world model (TD-MPC2's ``layers.py`` habit: small, named parts).

Linear -> LayerNorm -> Mish is TD-MPC2's MLP block: LayerNorm keeps the latent's scale stable
when the dynamics are applied twenty times in a row, Mish is a smooth ReLU that trains well
at small sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class NormedLinear(nn.Sequential):
    """Linear -> LayerNorm -> Mish."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(
            nn.Linear(in_features, out_features), nn.LayerNorm(out_features), nn.Mish()
        )


def mlp(in_features: int, hidden: Sequence[int], out_features: int | None) -> nn.Sequential:
    """NormedLinear blocks of the given hidden widths, then a plain Linear to ``out_features``
    (or nothing when it is None: the last hidden activation is the output)."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers.append(NormedLinear(width, size))
        width = size
    if out_features is not None:
        layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """Images [B, 3, S, S] in [-0.5, 0.5] -> features [B, out_features].

    Stride-2 3x3 convolutions halve the image per layer (64 -> 4 with four layers), so the
    last feature map keeps coarse *where* information (left/right, near/far in the image),
    which is what tells the model how far the obstacle ahead is. About 7 MFLOP per 64x64
    image with the default channels: cheap enough for a 2-core CPU at 10 Hz.
    """

    def __init__(self, image_size: int, channels: Sequence[int], out_features: int):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        size = image_size
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1),
                nn.Mish(),
            ]
            in_channels = out_channels
            size = (size + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.project = NormedLinear(in_channels * size * size, out_features)

    def forward(self, images_b3ss: torch.Tensor) -> torch.Tensor:
        return self.project(self.conv(images_b3ss).flatten(1))
