"""The boxes view (`callqa-central report boxes`) as a terminal table or CSV; the cells are shared
with the HTML page (html.py). Offline, silent and losing boxes come first, each with how long."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from rich.console import Console
from rich.table import Table

from callqa_central.fleet import BoxView, FleetView

BOXES_HEADER = ["Box", "State", "Silent lines", "Losing messages", "Last seen", "Version", "Model",
                "Outbox / unreceipted", "Box alerts"]


def duration(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def local(view: FleetView, t: datetime | None) -> str:
    if t is None:
        return "never"
    t = t.astimezone(view.rules.hours.tz)
    return f"{t:%H:%M}" if t.date() == view.at.astimezone(view.rules.hours.tz).date() else f"{t:%m-%d %H:%M}"


def fleet_heading(view: FleetView) -> str:
    h = view.rules.hours
    return (f"Central QA boxes at {view.at.astimezone(h.tz):%Y-%m-%d %H:%M} ({h.tz.key}): {len(view.boxes)} boxes, "
            f"{len(view.offline)} offline, {len(view.silent)} with a silent line, {len(view.losing)} losing messages")


def fleet_note(view: FleetView) -> str:
    r = view.rules
    return (f"Offline: the box's last will or clean stop. Silent: no call scored for {r.silent_after_h:g} h of "
            f"working time ({r.hours.start:%H:%M}-{r.hours.end:%H:%M}) since its last call, or since the box came "
            "online. Losing: the box reports messages dropped at its outbox bound, sent without a disk copy, "
            "refused by its privacy check, or waiting over 10 min for central QA's receipt.")


def losing_text(view: FleetView, b: BoxView) -> str:
    if not b.losing:
        return ""
    counts = [f"{name} {n}" for name, n in (("dropped", b.dropped), ("undurable", b.undurable),
                                            ("refused", b.refused)) if n]
    if (b.oldest_unreceipted_s or 0) > 0 and b.unreceipted:
        counts.append(f"{b.unreceipted} unreceipted, oldest {duration(timedelta(seconds=b.oldest_unreceipted_s))}")
    return f"{', '.join(counts)}: for {duration(view.at - b.losing_since)}"


def box_cells(view: FleetView, b: BoxView) -> list[str]:
    state = f"{b.state.upper() if b.offline else b.state} for {duration(view.at - b.since)}"
    silent = ", ".join(f"{ln.line} for {duration(view.at - ln.silent_since)}" for ln in b.silent_lines)
    outbox = "–" if b.outbox_depth is None else f"{b.outbox_depth} / {'–' if b.unreceipted is None else b.unreceipted}"
    return [b.name, state, silent, losing_text(view, b), local(view, b.last_seen), b.version, b.model or "–", outbox,
            "; ".join(b.alerts)]


def box_class(b: BoxView) -> str:
    return "offline" if b.offline else "silent" if b.silent_lines else "losing" if b.losing else ""


def lines_header(view: FleetView) -> list[str]:
    return ["Box", "Line", "Last call"] + [f"{h.astimezone(view.rules.hours.tz):%H}:00" for h in view.hours]


def line_rows(view: FleetView) -> list[tuple[list[str], str]]:
    return [([b.name, ln.line, local(view, ln.last_call), *(str(n) for n in ln.hourly)],
             "silent" if ln.silent_since else "") for b in view.boxes for ln in b.lines]


def print_boxes(view: FleetView, console: Console) -> None:
    console.print(f"[bold]{fleet_heading(view)}[/bold]")
    table = Table(title="Every box: offline, silent and losing first")
    for h in BOXES_HEADER:
        table.add_column(h, overflow="fold")
    for b in view.boxes:
        table.add_row(*box_cells(view, b), style={"offline": "bold red", "silent": "red", "losing": "yellow"}.get(
            box_class(b)))
    console.print(table)
    console.print(fleet_note(view))
    lines = Table(title="Calls scored per line and hour")
    for h in lines_header(view):
        lines.add_column(h, justify="right" if h[:1].isdigit() else "left")
    for cells, cls in line_rows(view):
        lines.add_row(*cells, style="red" if cls else None)
    console.print(lines)


def boxes_csv(view: FleetView) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["site", "group", "box", "state", "since_utc", "silent_lines", "losing", "losing_since_utc",
                "last_seen_utc", "version", "model", "outbox_depth", "dropped", "undurable", "refused",
                "unreceipted", "oldest_unreceipted_s", "alerts"])
    for b in view.boxes:
        w.writerow([b.site, b.group, b.box, b.state, b.since.isoformat(),
                    " ".join(ln.line for ln in b.silent_lines), int(b.losing),
                    b.losing_since.isoformat() if b.losing_since else "", b.last_seen.isoformat(), b.version,
                    b.model or "", *("" if v is None else v for v in (b.outbox_depth, b.dropped, b.undurable,
                                                                      b.refused, b.unreceipted, b.oldest_unreceipted_s)),
                    "; ".join(b.alerts)])
    return out.getvalue()
