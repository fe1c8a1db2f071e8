"""Fleet alerts: a box offline, or a line silent, in the centre's working hours is told to site IT
on `<prefix>/<site>/fleet/alert` (fleet_alert.v1.json, QoS 1, not retained), once per episode.

An episode is a box's offline spell (from when it went offline) or a line's silent spell (from
its last call): its key is stored in `fleet_alerts`, and the store process whose insert makes the
row is the one that publishes, so several store processes raise each alert once. A box must
have been offline for `offline_after_s` first (a restart is not an alert); a box offline at night
is alerted when working hours begin, if it is still offline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from callqa_central.db import Database
from callqa_central.fleet import FleetRules, fleet_view
from callqa_central.periods import utc_key
from callqa_contract.messages import BoxId, Envelope
from callqa_contract.topics import fleet_alert_topic

INSERT_EPISODE = (
    "INSERT INTO fleet_alerts (site, grp, box, line, condition, since_utc, alert_id, raised_utc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, grp, box, line, condition, since_utc) DO NOTHING"
    " RETURNING alert_id"
)


@dataclass(frozen=True)
class Episode:
    site: str
    group: str
    box: str
    line: str | None  # the silent line; None for offline
    condition: str  # offline | silent
    since: datetime  # UTC

    def message(self, rules: FleetRules, at: datetime) -> str:
        local = self.since.astimezone(rules.hours.tz)
        when = f"{local:%H:%M}" if local.date() == at.astimezone(rules.hours.tz).date() else f"{local:%m-%d %H:%M}"
        if self.condition == "offline":
            return (f"callqa box {self.site}/{self.group}/{self.box} offline since {when}: its calls are not being "
                    "scored; check its power and network")
        return (f"callqa box {self.site}/{self.group}/{self.box} line {self.line} has scored no call since {when} "
                f"({rules.silent_after_h:g} working hours): check the headset tap and the line's audio")


def episodes(db: Database, rules: FleetRules, sites: tuple[str, ...], at: datetime) -> list[Episode]:
    """What is alert-worthy now: nothing outside working hours."""
    if not rules.hours.contains(at):
        return []
    found = []
    for box in fleet_view(db, rules, at=at).boxes:
        if box.site not in sites:
            continue
        if box.offline and (at - box.since).total_seconds() >= rules.offline_after_s:
            found.append(Episode(box.site, box.group, box.box, None, "offline", box.since))
        for line in box.silent_lines:
            found.append(Episode(box.site, box.group, box.box, line.line, "silent", line.silent_since))
    return found


def raise_new(db: Database, rules: FleetRules, prefix: str, sender: str, sites: tuple[str, ...],
              at: datetime | None = None) -> list[tuple[str, bytes]]:
    """(topic, payload) of each fleet alert this process is the first to record."""
    at = at or datetime.now(timezone.utc)
    out = []
    for e in episodes(db, rules, sites, at):
        alert_id = uuid.uuid4().hex
        with db.transaction():
            won = db.rows(INSERT_EPISODE, (e.site, e.group, e.box, e.line or "", e.condition, utc_key(e.since),
                                           alert_id, utc_key(at)))
        if not won:
            continue
        body = {"alert_id": alert_id, "condition": e.condition, "site": e.site, "group": e.group, "box": e.box,
                "line": e.line, "since": e.since.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                "message": e.message(rules, at)[:200]}
        out.append((fleet_alert_topic(prefix, e.site), Envelope.new("fleet_alert", BoxId(e.site, "fleet", sender),
                                                                       body).to_json()))
    return out
