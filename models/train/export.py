"""Trained weights → ONNX (float, dynamic frame count)."""

from __future__ import annotations

from pathlib import Path

import torch

from edge.keywords.model_info import UNITS
from models.train.net import RECEPTIVE_FIELD, KwsNet


def load_net(weights: Path) -> KwsNet:
    model = KwsNet(len(UNITS) + 1)
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    return model.eval()


def export_onnx(weights: Path, out: Path) -> None:
    model = load_net(weights)
    example = torch.zeros(1, RECEPTIVE_FIELD + 19, 40)
    torch.onnx.export(
        model, (example,), str(out), input_names=["features"], output_names=["log_probs"],
        dynamic_axes={"features": {1: "frames"}, "log_probs": {1: "out_frames"}}, opset_version=17, dynamo=False,
    )
