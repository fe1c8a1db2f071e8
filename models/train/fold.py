"""Trained KwsNet weights → plain arrays with feature normalisation and batch norms folded
into the convolutions, in the (kernel, in, out) layout Keras uses. Shared by the TFLite export."""

from __future__ import annotations

import numpy as np
import torch

from models.train.net import DILATIONS


def _bn(sd, name):
    scale = sd[f"{name}.weight"] / torch.sqrt(sd[f"{name}.running_var"] + 1e-5)
    return scale.numpy(), (sd[f"{name}.bias"] - sd[f"{name}.running_mean"] * scale).numpy()


def fold(state_dict: dict) -> dict[str, np.ndarray]:
    sd = {k: v.detach().float().cpu() for k, v in state_dict.items()}
    mean, std = sd["mean"].numpy(), sd["std"].numpy()
    w = sd["inp.weight"].numpy() / std[None, :, None]  # [out, in, k]
    b = -(w * mean[None, :, None]).sum(axis=(1, 2))
    s, t = _bn(sd, "bn")
    out = {"inp.kernel": (w * s[:, None, None]).transpose(2, 1, 0), "inp.bias": b * s + t}
    for i, _ in enumerate(DILATIONS):
        s1, t1 = _bn(sd, f"blocks.{i}.bn1")
        dw = sd[f"blocks.{i}.depthwise.weight"].numpy()  # [C, 1, k]
        out[f"b{i}.dw.kernel"] = (dw[:, 0, :] * s1[:, None]).T[:, :, None]  # [k, C, 1]
        out[f"b{i}.dw.bias"] = t1
        s2, t2 = _bn(sd, f"blocks.{i}.bn2")
        pw = sd[f"blocks.{i}.pointwise.weight"].numpy()[:, :, 0]  # [out, in]
        out[f"b{i}.pw.kernel"] = (pw * s2[:, None]).T[None]  # [1, in, out]
        out[f"b{i}.pw.bias"] = t2
    out["out.kernel"] = sd["out.weight"].numpy()[:, :, 0].T[None]
    out["out.bias"] = sd["out.bias"].numpy()
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}
