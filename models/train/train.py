"""CTC training of KwsNet on augmented examples, with SpecAugment; logs to stdout."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from edge.keywords.features import PAD_VALUE
from models.train.data import Augmented
from models.train.net import CONTEXT, KwsNet


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 12
    batch: int = 64
    lr: float = 3e-3
    workers: int = 1
    seed: int = 1234
    max_minutes: float = 75.0  # stop (and say so) rather than overrun the budget
    init: str | None = None  # weights to continue from (fine-tuning, e.g. on a site's recordings)


def _collate(batch):
    """Pad to a common length; CONTEXT frames of edge padding on both sides (as the box pads
    segment edges), half the time silence frames, half the time repeated edge frames."""
    rng = np.random.default_rng(len(batch[0][0]) * 7919 + len(batch))
    lengths = [len(f) for f, _ in batch]
    t_max = max(lengths) + 2 * CONTEXT
    x = np.full((len(batch), t_max, batch[0][0].shape[1]), PAD_VALUE, np.float32)
    for k, (f, _) in enumerate(batch):
        if rng.random() < 0.5:
            f = np.concatenate([np.repeat(f[:1], CONTEXT, 0), f, np.repeat(f[-1:], CONTEXT, 0)])
            x[k, : len(f)] = f
        else:
            x[k, CONTEXT : CONTEXT + len(f)] = f
    labels = np.concatenate([l for _, l in batch])
    return (torch.from_numpy(x), torch.tensor(lengths), torch.from_numpy(labels),
            torch.tensor([len(l) for _, l in batch]))


def spec_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Two frequency masks (≤ 7 bands) and time masks (≤ 10 frames, ~1 per second) per example."""
    b, t, f = x.shape
    x = x.clone()
    fill = x.mean()
    for _ in range(2):
        w = torch.randint(0, 8, (b,), generator=gen)
        f0 = torch.randint(0, f - 7, (b,), generator=gen)
        bins = torch.arange(f)
        mask = (bins[None, :] >= f0[:, None]) & (bins[None, :] < (f0 + w)[:, None])
        x = x.masked_fill(mask[:, None, :].to(x.device), fill)
    for _ in range(max(1, t // 100)):
        w = torch.randint(0, 11, (b,), generator=gen)
        t0 = torch.randint(0, max(1, t - 10), (b,), generator=gen)
        frames = torch.arange(t)
        mask = (frames[None, :] >= t0[:, None]) & (frames[None, :] < (t0 + w)[:, None])
        x = x.masked_fill(mask[:, :, None].to(x.device), fill)
    return x


def _lr(peak: float, progress: float) -> float:
    """Linear warm-up over the first 8 %, then cosine decay to zero."""
    if progress < 0.08:
        return peak * (0.1 + 0.9 * progress / 0.08)
    return peak * 0.5 * (1.0 + math.cos(math.pi * (progress - 0.08) / 0.92))


def feature_stats(data: Augmented, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    feats = np.concatenate([data[i][0] for i in range(0, len(data), max(1, len(data) // n))])
    return feats.mean(0), feats.std(0) + 1e-3


def train(data: Augmented, n_outputs: int, settings: TrainSettings, device: str) -> tuple[KwsNet, dict]:
    torch.manual_seed(settings.seed)
    if settings.init:
        model = KwsNet(n_outputs)
        model.load_state_dict(torch.load(settings.init, map_location="cpu"))
        model = model.to(device)
    else:
        mean, std = feature_stats(data)
        model = KwsNet(n_outputs, mean, std).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=1e-4)
    steps = settings.epochs * ((len(data) + settings.batch - 1) // settings.batch)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    gen = torch.Generator().manual_seed(settings.seed)
    start = time.monotonic()
    log: dict = {"epochs_done": 0, "clips_seen": 0, "loss": [], "stopped_early": False}
    step = 0
    for epoch in range(settings.epochs):
        data.set_epoch(epoch)
        loader = DataLoader(data, batch_size=settings.batch, shuffle=True, collate_fn=_collate,
                            num_workers=settings.workers, generator=torch.Generator().manual_seed(settings.seed + epoch),
                            persistent_workers=False, prefetch_factor=4 if settings.workers else None)
        model.train()
        total, count, cut = 0.0, 0, False
        for x, x_len, y, y_len in loader:
            # Progress is steps or the time budget, whichever is further along, so a run cut
            # short by its budget still ends with an annealed learning rate.
            progress = max(step / steps, (time.monotonic() - start) / 60 / settings.max_minutes)
            if progress >= 1.0:
                cut = True
                break
            for group in opt.param_groups:
                group["lr"] = _lr(settings.lr, progress)
            x = spec_augment(x, gen).to(device)
            logp = model(x).transpose(0, 1)  # [T, B, C] for CTCLoss
            loss = ctc(logp, y.to(device), x_len.to(device), y_len.to(device))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            total += float(loss.detach()) * len(x_len)
            count += len(x_len)
        log["loss"].append(round(total / max(count, 1), 4))
        log["clips_seen"] += count
        log["epochs_done"] = epoch + (0 if cut else 1)
        minutes = (time.monotonic() - start) / 60
        print(f"epoch {epoch + 1}/{settings.epochs}{' (cut short)' if cut else ''} ctc loss {log['loss'][-1]:.3f}"
              f" ({minutes:.1f} min, {count} clips)", flush=True)
        if cut or (minutes >= settings.max_minutes and epoch + 1 < settings.epochs):
            log["stopped_early"] = True
            print(f"stopped in epoch {epoch + 1}: time budget of {settings.max_minutes} min spent", flush=True)
            break
    log["train_minutes"] = round((time.monotonic() - start) / 60, 2)
    return model.eval().cpu(), log
