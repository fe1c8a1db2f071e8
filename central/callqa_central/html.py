"""A `Report` as one self-contained HTML page a QA manager can open or mail: the charts are
matplotlib PNGs embedded as base64, the styles inline, nothing fetched from anywhere."""

from __future__ import annotations

import base64
import glob
import io
import math
from collections import defaultdict
from html import escape

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib import font_manager  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from callqa_central.fleet import FleetView  # noqa: E402
from callqa_central.queries import Report, trend_period  # noqa: E402
from callqa_central.render import (  # noqa: E402
    COVERAGE_HEADER, COVERAGE_NOTE, COVERAGE_TITLE, FLEET_HEADER, FLEET_NOTE, FLEET_TITLE, MISSING_HEADER,
    MISSING_NOTE, MISSING_TITLE, NO_COVERAGE, NONE_MISSING, NONE_REFUSED, REFUSED_HEADER, REFUSED_NOTE, REFUSED_TITLE,
    SUMMARY_HEADER, coverage_cells, fleet_cells, fleet_summary, heading, missing_cells, pct, refused_cells, result,
    summary_cells,
)
from callqa_central.render_fleet import (  # noqa: E402
    BOXES_HEADER, box_cells, box_class, fleet_heading, fleet_note, line_rows, lines_header,
)

MAX_TREND_LINES = 8
CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def _use_cjk_font() -> None:
    """Rubric item names are Chinese: give matplotlib a CJK fallback font when one is installed."""
    for path in CJK_FONTS + tuple(glob.glob("/usr/share/fonts/**/*CJK*", recursive=True)):
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError):
            continue
        name = font_manager.FontProperties(fname=path).get_name()
        plt.rcParams["font.family"] = ["DejaVu Sans", name]
        return


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def trend_chart(report: Report) -> str | None:
    series: dict[str, dict] = defaultdict(dict)
    totals: dict = defaultdict(lambda: [0, 0])
    for p in report.trend:
        series[f"{p.site}/{p.group}"][p.day] = p.tally.pass_rate
        totals[p.day][0] += p.tally.passed
        totals[p.day][1] += p.tally.calls
    if not totals:
        return None
    days = trend_period(report.period).day_list()  # every day, so a day without calls shows as a gap
    fig, ax = plt.subplots(figsize=(8, 3.6))
    # Many groups make a plate of spaghetti: draw the worst ones and the whole.
    worst = sorted(series, key=lambda k: min(series[k].values()))[:MAX_TREND_LINES]
    x = range(len(days))
    for name in sorted(worst):
        rates = [series[name].get(d) for d in days]
        ax.plot(x, [math.nan if r is None else 100 * r for r in rates], marker="o", linewidth=1.2, label=name)
    overall = [100 * totals[d][0] / totals[d][1] if totals[d][1] else math.nan for d in days]
    ax.plot(x, overall, color="black", linewidth=2.5, marker="s", label="all")
    ax.set_xticks(list(x), [f"{d:%m-%d}" for d in days], rotation=45 if len(days) > 10 else 0, fontsize=8)
    ax.axhline(100 * report.threshold, color="red", linestyle="--", linewidth=1,
               label=f"warning {pct(report.threshold)}")
    ax.set_ylim(0, 105)
    ax.set_ylabel("pass rate %")
    ax.set_title("Pass rate per day 合格率趋势")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _png(fig)


def problems_chart(report: Report) -> str | None:
    if not report.top_items:
        return None
    items = list(reversed(report.top_items))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(items) + 1.2))
    y = range(len(items))
    ax.barh([i + 0.2 for i in y], [it.failed for it in items], height=0.4, color="#c0392b", label=report.period.label)
    ax.barh([i - 0.2 for i in y], [it.failed_before for it in items], height=0.4, color="#95a5a6",
            label=report.previous.label)
    ax.set_yticks(list(y), [it.name for it in items])
    ax.set_xlabel("failed calls")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Top failed rubric items 突出问题")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


STYLE = """
body{font-family:"DejaVu Sans","WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f0f0f0} td.n{text-align:right} tr.below td{background:#fde2e0} tr.total td{font-weight:bold}
tr.offline td{background:#f5b7b1;font-weight:bold} tr.silent td{background:#fde2e0} tr.losing td{background:#fcf3cf}
.kpi{display:inline-block;margin:0 28px 12px 0} .kpi b{display:block;font-size:26px}
.note{color:#666;font-size:12px} .away{color:#b03a2e;font-weight:bold;font-size:15px}
"""


def _numeric(cell) -> bool:
    return isinstance(cell, (int, float)) or str(cell)[:1] in "0123456789+-–"


def _table(header: list[str], rows: list[tuple[list[str], str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr class='{cls}'>" + "".join(
            f"<td{' class=n' if _numeric(c) else ''}>{escape(str(c))}</td>" for c in cells) + "</tr>"
        for cells, cls in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, parts: list[str]) -> str:
    return ("<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>")


def boxes_html(view: FleetView) -> str:
    """The boxes view as one page: counts first, then every box (offline, silent, losing first), then lines."""
    parts = [f"<h1>{escape(fleet_heading(view))}</h1>",
             f"<div class='kpi'>offline<b id='offline'>{len(view.offline)}</b></div>",
             f"<div class='kpi'>silent<b id='silent'>{len(view.silent)}</b></div>",
             f"<div class='kpi'>losing messages<b id='losing'>{len(view.losing)}</b></div>",
             f"<div class='kpi'>boxes<b id='boxes'>{len(view.boxes)}</b></div>",
             "<h2>Every box: offline, silent and losing first</h2>",
             _table(BOXES_HEADER, [(box_cells(view, b), box_class(b)) for b in view.boxes]),
             f"<p class='note'>{escape(fleet_note(view))}</p>",
             "<h2>Calls scored per line and hour</h2>", _table(lines_header(view), line_rows(view))]
    return _page(fleet_heading(view), parts)


def to_html(report: Report) -> str:
    _use_cjk_font()
    total = report.total
    away = fleet_cells(report)
    parts = [f"<h1>{escape(heading(report))}</h1>",
             f"<p id='fleet-summary' class='{'away' if away else 'note'}'>{escape(fleet_summary(report))}</p>",
             f"<div class='kpi'>calls scored<b id='calls'>{total.now.calls}</b></div>",
             f"<div class='kpi'>pass rate 合格率<b id='pass-rate'>{pct(total.now.pass_rate)}</b></div>",
             f"<div class='kpi'>previous {escape(report.previous.label)}<b>{pct(total.before.pass_rate)}</b></div>",
             f"<div class='kpi'>A / B / C problems<b>{total.now.a} / {total.now.b} / {total.now.c}</b></div>"]
    for chart in (trend_chart(report), problems_chart(report)):
        if chart:
            parts.append(f"<div><img alt='chart' src='data:image/png;base64,{chart}'></div>")
    rows = [(summary_cells(g), "below" if g.now.calls and g.now.pass_rate < report.threshold else "")
            for g in report.groups]
    rows.append((summary_cells(total), "total"))
    parts += ["<h2>Per site and seat group</h2>", _table(SUMMARY_HEADER, rows),
              f"<p class='note'>A = a fatal item failed; B = another failed item costing at least "
              f"{report.major_points:g} points; C = every other failed item. Changes are against {escape(report.previous.label)}.</p>"]
    below = [(["group", g.site, g.group, "", g.now.calls, pct(g.now.pass_rate)], "below") for g in report.groups_below]
    below += [(["line", ln.site, ln.group, ln.name, ln.tally.calls, pct(ln.tally.pass_rate)], "below")
              for ln in report.lines_below]
    parts.append(f"<h2>Below the warning threshold ({pct(report.threshold)}) 预警</h2>")
    parts.append(_table(["Kind", "Site", "Group", "Line", "Calls", "Pass rate"], below) if below
                 else "<p>Nothing below the warning threshold.</p>")
    parts.append("<h2>Top failed rubric items 突出问题</h2>")
    parts.append(_table(["Item", "Id", "Failed", "Previous"],
                        [([it.name, it.item_id, it.failed, it.failed_before], "") for it in report.top_items]))
    if report.period.kind == "daily":
        parts.append(f"<h2>Every call ({len(report.calls)}) 每日监听明细</h2>")
        parts.append(_table(
            ["Time", "Site", "Group", "Line", "Score", "Result", "Failed items", "Alerts"],
            [([f"{c.start:%H:%M:%S}", c.site, c.group, f"{c.box}/{c.line}", f"{c.score:g}/{c.max_score:g}",
               result(c.passed, c.fatal), ", ".join(c.failed_items), ", ".join(c.alerts)],
              "" if c.passed else "below") for c in report.calls]))
    for title, header, cells, note, none, cls in (
            (FLEET_TITLE, FLEET_HEADER, away, FLEET_NOTE, fleet_summary(report), "below"),
            (COVERAGE_TITLE, COVERAGE_HEADER, coverage_cells(report), COVERAGE_NOTE, NO_COVERAGE, ""),
            (REFUSED_TITLE, REFUSED_HEADER, refused_cells(report), REFUSED_NOTE, NONE_REFUSED, "below"),
            (MISSING_TITLE, MISSING_HEADER, missing_cells(report), MISSING_NOTE, NONE_MISSING, "below")):
        parts.append(f"<h2>{escape(title)}</h2>")
        parts.append(f"{_table(header, [(row, cls) for row in cells])}<p class='note'>{escape(note)}</p>"
                     if cells else f"<p>{escape(none)}</p>")
    return _page(heading(report), parts)
