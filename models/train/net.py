"""The acoustic model: a small dilated depthwise-separable TCN with "valid" convolutions,
log-mel frames in, per-frame CTC log-posteriors over blank + toneless pinyin units out.

Valid convolutions make streaming exact: a window of RECEPTIVE_FIELD - 1 + n frames gives
n output frames, each centred CONTEXT frames after the window's start, whatever the chunking.
"""

from __future__ import annotations

import torch
from torch import nn

N_MELS = 40
CHANNELS = 192
KERNEL = 5
DILATIONS = (1, 2, 3, 1, 2)
RECEPTIVE_FIELD = KERNEL + sum((KERNEL - 1) * d for d in DILATIONS)
CONTEXT = RECEPTIVE_FIELD // 2  # frames of look-ahead (and look-back) per output frame


class Block(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.crop = (KERNEL - 1) * dilation // 2
        self.depthwise = nn.Conv1d(channels, channels, KERNEL, dilation=dilation, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.pointwise = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.depthwise(x)))
        y = torch.relu(self.bn2(self.pointwise(y)))
        return y + x[:, :, self.crop : x.shape[2] - self.crop]


class KwsNet(nn.Module):
    """[batch, frames, N_MELS] log-mel → [batch, frames - RECEPTIVE_FIELD + 1, n_outputs] log-probs."""

    def __init__(self, n_outputs: int, feat_mean=None, feat_std=None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(N_MELS) if feat_mean is None else torch.as_tensor(feat_mean).float())
        self.register_buffer("std", torch.ones(N_MELS) if feat_std is None else torch.as_tensor(feat_std).float())
        self.inp = nn.Conv1d(N_MELS, CHANNELS, KERNEL, bias=False)
        self.bn = nn.BatchNorm1d(CHANNELS)
        self.blocks = nn.ModuleList(Block(CHANNELS, d) for d in DILATIONS)
        self.out = nn.Conv1d(CHANNELS, n_outputs, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = ((feats - self.mean) / self.std).transpose(1, 2)
        x = torch.relu(self.bn(self.inp(x)))
        for block in self.blocks:
            x = block(x)
        return torch.log_softmax(self.out(x), dim=1).transpose(1, 2)
