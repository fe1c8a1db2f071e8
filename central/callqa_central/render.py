"""A `Report` as a terminal table (rich) or CSV. HTML lives in html.py.

CSV holds one table so that a spreadsheet opens it as is: the calls for a daily report
(每日监听明细), the site/group summary with the previous period for weekly and monthly.
"""

from __future__ import annotations

import csv
import io

from rich.console import Console
from rich.table import Table

from callqa_central.queries import GroupRow, Report, Tally

TITLES = {"daily": "daily listening detail 每日监听明细", "weekly": "weekly quality report 周质量报告",
          "monthly": "monthly quality report 月质量报告"}


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def change_pp(now: float | None, before: float | None) -> str:
    """Change of a rate in percentage points; '–' when either side has no calls."""
    return "–" if now is None or before is None else f"{100 * (now - before):+.1f} pp"


def change_n(now: int, before: int) -> str:
    return f"{now - before:+d}"


def score_change(now: Tally, before: Tally) -> str:
    if now.avg_score_pct is None or before.avg_score_pct is None:
        return "–"
    return f"{now.avg_score_pct - before.avg_score_pct:+.1f}"


def heading(report: Report) -> str:
    where = " ".join(f"{k} {v}" for k, v in (("site", report.scope.site), ("group", report.scope.group)) if v)
    return (f"Central QA {TITLES[report.period.kind]}: {report.period.label} ({report.period.tz.key})"
            f"{' — ' + where if where else ''}; previous period {report.previous.label}")


def summary_cells(g: GroupRow) -> list[str]:
    n, b = g.now, g.before
    avg = "–" if n.avg_score_pct is None else f"{n.avg_score_pct:.1f}"
    return [
        g.site, g.group, f"{n.calls} ({change_n(n.calls, b.calls)})", pct(n.pass_rate),
        change_pp(n.pass_rate, b.pass_rate), f"{avg} ({score_change(n, b)})",
        f"{n.a} ({change_n(n.a, b.a)})", f"{n.b} ({change_n(n.b, b.b)})", f"{n.c} ({change_n(n.c, b.c)})",
    ]


SUMMARY_HEADER = ["Site", "Group", "Calls (Δ)", "Pass rate 合格率", "Δ pass rate", "Avg score % (Δ)",
                  "A fatal (Δ)", "B major (Δ)", "C minor (Δ)"]


def print_table(report: Report, console: Console) -> None:
    console.print(f"[bold]{heading(report)}[/bold]")
    console.print(fleet_summary(report), style="bold red" if fleet_cells(report) else None)
    summary = Table(title="Pass rate per site and seat group (change against the previous period)")
    for h in SUMMARY_HEADER:
        summary.add_column(h, justify="left" if h in ("Site", "Group") else "right")
    for g in report.groups:
        below = g.now.calls and g.now.pass_rate < report.threshold
        summary.add_row(*summary_cells(g), style="red" if below else None)
    summary.add_row(*summary_cells(report.total), style="bold", end_section=True)
    console.print(summary)
    console.print(f"A = fatal item failed; B = other failed item costing ≥ {report.major_points:g} points; C = the rest.")

    below = Table(title=f"Below the warning threshold ({pct(report.threshold)} pass rate) 预警")
    for h in ("Kind", "Site", "Group", "Line", "Calls", "Pass rate"):
        below.add_column(h)
    for g in report.groups_below:
        below.add_row("group", g.site, g.group, "", str(g.now.calls), pct(g.now.pass_rate))
    for ln in report.lines_below:
        below.add_row("line", ln.site, ln.group, ln.name, str(ln.tally.calls), pct(ln.tally.pass_rate))
    console.print(below if below.row_count else "Nothing below the warning threshold.")

    items = Table(title="Top failed rubric items 突出问题")
    for h in ("Item", "Failed", "Previous", "Change"):
        items.add_column(h, justify="left" if h == "Item" else "right")
    for it in report.top_items:
        items.add_row(f"{it.name} ({it.item_id})", str(it.failed), str(it.failed_before),
                      change_n(it.failed, it.failed_before))
    console.print(items if items.row_count else "No failed items.")

    if report.period.kind == "daily":
        calls = Table(title=f"Every call ({len(report.calls)})")
        for h in ("Time", "Site", "Group", "Line", "Score", "Result", "Failed items", "Alerts"):
            calls.add_column(h)
        for c in report.calls:
            calls.add_row(f"{c.start:%H:%M:%S}", c.site, c.group, f"{c.box}/{c.line}",
                          f"{c.score:g}/{c.max_score:g}", result(c.passed, c.fatal),
                          ", ".join(c.failed_items), ", ".join(c.alerts),
                          style=None if c.passed else "red")
        console.print(calls)

    _not_counted(console, FLEET_TITLE, FLEET_HEADER, fleet_cells(report), FLEET_NOTE, fleet_summary(report))
    _not_counted(console, COVERAGE_TITLE, COVERAGE_HEADER, coverage_cells(report), COVERAGE_NOTE, NO_COVERAGE)
    _not_counted(console, REFUSED_TITLE, REFUSED_HEADER, refused_cells(report), REFUSED_NOTE, NONE_REFUSED)
    _not_counted(console, MISSING_TITLE, MISSING_HEADER, missing_cells(report), MISSING_NOTE, NONE_MISSING)


def _not_counted(console: Console, title: str, header: list[str], cells: list[list[str]], note: str, none: str) -> None:
    """A table of what the counts above leave out (boxes away, refused or lost messages), in red, with its note."""
    if not cells:
        console.print(none)
        return
    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="right" if h in NUMBER_COLUMNS else "left", overflow="fold")
    for row in cells:
        table.add_row(*row, style="red")
    console.print(table)
    console.print(note)


NUMBER_COLUMNS = ("Messages", "Missing", "Working hours", "Calls scored", "Expected", "Coverage")

FLEET_TITLE = "Boxes offline and lines silent during the period 离线/静默"
FLEET_HEADER = ["Box", "What", "From", "To", "Working hours"]
FLEET_NOTE = ("Offline: from the box's last will or clean stop to its next connection. Silent: whole working hours "
              "in a row in which a line of an online box scored no call. Calls on them were not scored: they are "
              "missing from every count above.")
COVERAGE_TITLE = "Coverage: calls scored against calls taken (CTI) or against each box's usual level 覆盖率"
COVERAGE_HEADER = ["Site", "Group", "Box", "Calls scored", "Expected", "Coverage", "Against"]
COVERAGE_NOTE = ("Against CTI: the calls the site's CTI says its seat group took in the period (callqa-central cti). "
                 "Against usual: for each hour of the period, the median of the box's calls in the same hour of the "
                 "4 weeks before, summed; well under 100 % means calls went unscored.")
NO_COVERAGE = "No coverage figures: no CTI counts imported and no box with calls in the 4 weeks before."


def fleet_summary(report: Report) -> str:
    """One plain sentence: were all boxes there, so that the pass rate covers all calls?"""
    f, label = report.fleet, report.period.label
    if f is None or not f.known_boxes:
        return (f"No box status has reached the store: it cannot tell which boxes were offline or silent during "
                f"{label}.")
    if not f.offline and not f.silent:
        return f"Every box was online and every line scored calls in working hours during {label}."
    boxes = len({s.name for s in f.offline})
    lines = len({s.name for s in f.silent})
    return (f"During {label}, {boxes} box{'es were' if boxes != 1 else ' was'} offline and {lines} "
            f"line{'s were' if lines != 1 else ' was'} silent in working hours: their calls were not scored, so the "
            "figures here come from fewer calls than were taken.")


def fleet_cells(report: Report) -> list[list[str]]:
    f = report.fleet
    if f is None:
        return []
    return [[s.name, ("offline" if s.line is None else "silent") + (" (still)" if s.ongoing else ""),
             f"{s.first:%m-%d %H:%M}", f"{s.last:%m-%d %H:%M}", f"{s.working_h:.1f}"]
            for s in sorted(f.offline + f.silent, key=lambda s: (s.first, s.name))]


def coverage_cells(report: Report) -> list[list[str]]:
    if report.fleet is None:
        return []
    return [[r.site, r.group, r.box or "(seat group)", str(r.scored), "–" if r.expected is None else f"{r.expected:g}",
             pct(r.ratio), "usual" if r.box else "CTI"] for r in report.fleet.coverage]


NONE_REFUSED = "No messages refused by the store."
REFUSED_TITLE = "Messages the store refused (quarantine), by reason"
REFUSED_HEADER = ["Messages", "Reason", "First", "Last", "e.g. topic"]
REFUSED_NOTE = ("Refused messages are kept but not counted: the scores and alerts they carried are missing above. "
                "Each message's payload and full reason are in the store's quarantine table.")


NONE_MISSING = "No message missing from any box's count."
MISSING_TITLE = "Messages that never reached the store, by box"
MISSING_HEADER = ["Box", "Missing", "Numbers", "First", "Last"]
MISSING_NOTE = ("Every box numbers the scores and alerts it sends; these numbers never arrived although later "
                "ones did, and were not sent again: their calls and alerts are missing above. First/Last: when "
                "the message after a gap arrived. The box's own status says why (dropped at its outbox bound).")


def missing_cells(report: Report) -> list[list[str]]:
    return [[f"{r.site}/{r.group}/{r.box}", str(r.count), r.numbers, f"{r.first:%m-%d %H:%M}", f"{r.last:%m-%d %H:%M}"]
            for r in report.missing]


def refused_cells(report: Report) -> list[list[str]]:
    return [[str(r.count), r.reason, f"{r.first:%m-%d %H:%M}", f"{r.last:%m-%d %H:%M}", r.topic]
            for r in report.refused]


def result(passed: bool, fatal: bool) -> str:
    return "pass" if passed else ("FAIL (fatal)" if fatal else "fail")


def to_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    if report.period.kind == "daily":
        w.writerow(["site", "group", "box", "line", "call_id", "start_local", "duration_s", "score", "max_score",
                    "score_pct", "passed", "fatal", "failed_items", "alerts"])
        for c in report.calls:
            w.writerow([c.site, c.group, c.box, c.line, c.call_id, c.start.isoformat(), c.duration_s, c.score,
                        c.max_score, round(100 * c.score / c.max_score, 2) if c.max_score else "",
                        int(c.passed), int(c.fatal), "; ".join(c.failed_items), "; ".join(c.alerts)])
        return out.getvalue()
    w.writerow(["period", "site", "group", "calls", "passed", "pass_rate", "avg_score_pct", "a_fatal", "b_major",
                "c_minor", "prev_calls", "prev_pass_rate", "pass_rate_change_pp", "prev_avg_score_pct",
                "prev_a_fatal", "prev_b_major", "prev_c_minor", "below_threshold"])
    for g in [*report.groups, report.total]:
        n, b = g.now, g.before
        w.writerow([report.period.label, g.site, g.group, n.calls, n.passed, _r(n.pass_rate), _r(n.avg_score_pct),
                    n.a, n.b, n.c, b.calls, _r(b.pass_rate),
                    _r(None if n.pass_rate is None or b.pass_rate is None else 100 * (n.pass_rate - b.pass_rate)),
                    _r(b.avg_score_pct), b.a, b.b, b.c,
                    int(bool(n.calls) and n.pass_rate < report.threshold)])
    return out.getvalue()


def _r(x: float | None) -> str | float:
    return "" if x is None else round(x, 4)
