"""A call's timeline as a PNG for a QA reviewer: who spoke when, where they spoke at once,
where nobody spoke (dead air) and where the customer was on hold, pitch and level over time,
live alerts, and the items that cost points.

matplotlib (Agg) is imported here only, so scoring without pictures never loads it.
"""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edge.pipeline import ScoredCall
from edge.scoring.callscore import ItemVerdict, score_pct

COLOURS = {"agent": "#1f77b4", "customer": "#e07b00", "overtalk": "#d62728", "dead_air": "#7f7f7f", "hold": "#17becf",
           "alert_red": "#d62728", "alert_amber": "#ff9f1c", "raised": "#9467bd"}
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Droid Sans Fallback")
LANES = {"agent": 2.0, "customer": 1.0}


def _fonts(plt) -> bool:
    """Use a CJK font for the rubric's Chinese names when one is installed."""
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [f for f in CJK_FONTS if f in have]
    plt.rcParams["font.family"] = ["DejaVu Sans", *cjk]
    return bool(cjk)


def _label(item: ItemVerdict, cjk: bool) -> str:
    # Without a CJK font the Chinese half of a name would print as boxes: keep the rest.
    name = item.name if cjk else "".join(c for c in item.name if ord(c) < 0x2E80).strip() or item.id
    return name


def _when(evidence: Mapping[str, Any]) -> list[float]:
    """Times (s from the call's start) an item's evidence points at."""
    times = [float(e[0]) for e in evidence.get("events", [])]
    times += [float(h["start"]) for h in evidence.get("hits", [])]
    times += [float(t) for t in evidence.get("unanswered", [])]
    return times


def _values(evidence: Mapping[str, Any]) -> str:
    """The evidence's plain values (no lists), e.g. 'talk_listen_ratio 2.68, min 0.4, max 2.5'."""
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in evidence.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool))


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) < n:
        return x
    return np.convolve(x, np.ones(n) / n, mode="same")


def write_timeline(call: ScoredCall, out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    cjk = _fonts(plt)
    s = call.score
    dur = max(s.duration_s, 1.0)
    lost = [i for i in s.items if i.deduction > 0]
    fig = plt.figure(figsize=(15, 8.5 + 0.22 * len(lost)), dpi=100, layout="constrained")
    grid = fig.add_gridspec(4, 1, height_ratios=[2.2, 1.3, 1.3, 0.9 + 0.2 * len(lost)])
    ax_talk = fig.add_subplot(grid[0])
    ax_pitch = fig.add_subplot(grid[1], sharex=ax_talk)
    ax_level = fig.add_subplot(grid[2], sharex=ax_talk)
    ax_items = fig.add_subplot(grid[3])

    verdict = "PASSED" if s.passed else ("FAILED (fatal)" if s.fatal else "FAILED")
    kept = score_pct(s.score, s.max_score)
    pct = "n/a" if kept is None else f"{kept:.0f}%"
    flags = f"   flags: {', '.join(s.flags)}" if s.flags else ""
    total = sum(i.points for i in s.items)
    start = s.start.astimezone(timezone.utc)
    fig.suptitle(f"{s.call_id}   {start:%Y-%m-%d %H:%M:%S} UTC   {dur:.0f} s   line {s.line}{flags}\n"
                 f"score {s.score:g}/{s.max_score:g} = {pct} (pass {s.pass_mark:g}%)  {verdict}"
                 f"   — judged on {s.max_score:g} of {total:g} points",
                 fontsize=12, fontweight="bold", color="#2a7d2a" if s.passed else "#b22222")

    # --- who spoke when -------------------------------------------------------------------
    m = s.metrics
    for side, y in LANES.items():
        segs = call.segments.get(side)
        if segs is None:
            ax_talk.text(dur / 2, y, "customer side absent (mono line)", ha="center", va="center", color="grey")
            continue
        ax_talk.broken_barh([(a, b - a) for a, b in segs], (y - 0.3, 0.6), color=COLOURS[side], label=f"{side} speech")
    for a, b in m.overtalk.events:
        ax_talk.axvspan(a, b, ymin=0.1, ymax=0.9, color=COLOURS["overtalk"], alpha=0.25, lw=0)
    for a, b in m.dead_air.events:
        ax_talk.axvspan(a, b, color=COLOURS["dead_air"], alpha=0.25, hatch="//", lw=0)
        ax_talk.text((a + b) / 2, 1.5, f"dead air\n{b - a:.1f} s", ha="center", va="center", fontsize=9)
    for a, b in m.holds.events:
        ax_talk.axvspan(a, b, color=COLOURS["hold"], alpha=0.18, lw=0)
        ax_talk.text((a + b) / 2, 1.5, f"on hold\n{b - a:.0f} s", ha="center", va="center", fontsize=9)
    for a, _ in m.interruptions.events:
        ax_talk.plot(a, 2.42, marker="v", color=COLOURS["overtalk"], ms=10)
    for a, b in s.agent_prosody["raised_voice"]:
        ax_talk.plot([a, b], [2.36, 2.36], color=COLOURS["raised"], lw=4, solid_capstyle="butt")
    for alert in s.alerts:
        c = COLOURS["alert_red" if alert.severity == "red" else "alert_amber"]
        ax_talk.axvline(alert.t, color=c, lw=1.5, ls="--")
        ax_talk.text(alert.t, 2.75, " " + alert.reason, color=c, fontsize=8, va="top", rotation=0)
    ax_talk.set_yticks([2, 1], ["agent", "customer"])
    ax_talk.set_ylim(0.4, 2.85)
    ax_talk.legend(handles=[
        Patch(color=COLOURS["agent"], label="agent speaking"), Patch(color=COLOURS["customer"], label="customer speaking"),
        Patch(color=COLOURS["overtalk"], alpha=0.25, label=f"overtalk ×{m.overtalk.count}"),
        Patch(facecolor=COLOURS["dead_air"], alpha=0.25, hatch="//", label=f"dead air ×{m.dead_air.count}"),
        Patch(color=COLOURS["hold"], alpha=0.18, label=f"on hold ×{m.holds.count}, longest {m.holds.longest_s:.0f} s"),
        Line2D([], [], marker="v", ls="", color=COLOURS["overtalk"], label=f"agent interrupts ×{m.interruptions.count}"),
        Line2D([], [], color=COLOURS["raised"], lw=4, label="agent raised voice"),
        Line2D([], [], color=COLOURS["alert_amber"], ls="--", label="live alert"),
    ], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    cust = "–" if m.customer_s is None else f"{m.customer_s:.1f} s"
    lat_txt = "–" if m.latency_median_s is None else f"{m.latency_median_s:.1f} s median, {m.latency_p90_s:.1f} s p90"
    ax_talk.set_title(f"talk: agent {m.agent_s:.1f} s, customer {cust}    reply latency: {lat_txt}    "
                      f"last speaker: {m.last_speaker or '–'}", fontsize=10, loc="left")
    ax_talk.grid(axis="x", alpha=0.3)

    # --- pitch and level ------------------------------------------------------------------
    for side, pro in call.prosody.items():
        track = pro.track
        if track is None:
            continue
        ax_pitch.plot(track.times, track.f0, ".", ms=2, color=COLOURS[side], label=side)
        level = np.where(track.level > -90, track.level, np.nan)
        ax_level.plot(track.times, _smooth(level, 5), lw=0.8, color=COLOURS[side], label=side)
        if pro.level_dbfs is not None:
            ax_level.axhline(pro.level_dbfs, color=COLOURS[side], ls=":", lw=1)
    ax_pitch.set_ylabel("pitch (Hz)")
    ax_pitch.set_yscale("log")
    ax_pitch.set_ylim(50, 500)
    ax_pitch.set_yticks([60, 100, 150, 200, 300, 400], ["60", "100", "150", "200", "300", "400"])
    ax_pitch.grid(alpha=0.3)
    ax_pitch.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False, markerscale=4)
    ax_level.set_ylabel("level (dBFS)")
    ax_level.set_ylim(-80, 0)
    ax_level.grid(alpha=0.3)
    ax_level.set_xlabel("seconds from call start")
    ax_level.set_xlim(0, dur)
    ax_level.legend(handles=[Line2D([], [], color=COLOURS[side], label=side) for side in call.prosody],
                    loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False,
                    title="dotted: active level", title_fontsize=8)

    # --- the items that cost points, placed where their evidence is ----------------------
    unmeasured = [i for i in s.items if i.status == "not_measured"]
    ax_items.axis("off")
    lines = [f"−{i.deduction:g}  {_label(i, cjk)}" + ("  [FATAL]" if i.fatal else "")
             + ("   at " + ", ".join(f"{t:.1f} s" for t in _when(i.evidence)) if _when(i.evidence) else "")
             + f"   ({_values(i.evidence)})"
             for i in lost]
    text = "Points lost:\n" + ("\n".join(lines) if lines else "none")
    by_reason: dict[str, list[str]] = {}
    for i in unmeasured:
        by_reason.setdefault(i.evidence.get("reason", "not measured"), []).append(i.id)
    text += (f"\n\nNot measured, left out of the score ({len(unmeasured)} items, "
             f"{sum(i.points for i in unmeasured):g} points; check these by listening):\n"
             + "\n".join(f"  {reason}: {', '.join(ids)}" for reason, ids in by_reason.items()))
    ax_items.text(0.0, 1.0, text, va="top", ha="left", fontsize=10, family=plt.rcParams["font.family"],
                  wrap=True, transform=ax_items.transAxes)
    for i in lost:
        for t in _when(i.evidence):
            ax_talk.annotate(i.id, (t, 0.55), fontsize=8, color="#b22222", ha="left", va="center",
                             bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="#b22222", lw=0.6))

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{s.call_id}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
