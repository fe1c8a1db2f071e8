"""What a seat group's desk light should show: the group's alerts, most urgent first.

Each box of the group keeps one retained light state; this keeps the latest one per box
that needs a supervisor (red or amber), drops them when they expire, when someone
acknowledges them, or when the box says green, and answers "what do we show now?".

Never a stale red: every alert has a deadline on the light's own tick clock, from its
`expires` (or its own duration when the light's wall clock is not synced yet), capped
by `max_alert_ms` so that a box that died mid-alert cannot leave a red light on for good.
"""

SEVERITY = {"red": 2, "amber": 1, "green": 0}
_ACKED_MEMORY = 32  # alert ids remembered as acknowledged, so a re-delivered retained copy stays cleared


class Look:
    """What the light shows: kind is 'clear', 'amber', 'red' or 'offline'."""

    def __init__(self, kind, blink=False, line_no=None, alert_id=None, reason=""):
        self.kind = kind
        self.blink = blink
        self.line_no = line_no
        self.alert_id = alert_id
        self.reason = reason

    def key(self):
        return (self.kind, self.blink, self.line_no, self.alert_id)

    def __eq__(self, other):
        return isinstance(other, Look) and self.key() == other.key()

    def __repr__(self):
        return "Look(%s, blink=%s, line=%s, alert=%s)" % (self.kind, self.blink, self.line_no, self.alert_id)


CLEAR = Look("clear")
OFFLINE = Look("offline")


def line_number(line):
    """'line3' -> 3, '12' -> 12, 'front-desk' -> None: the trailing digits of a line's name."""
    if not line:
        return None
    n = len(line)
    while n > 0 and line[n - 1].isdigit():
        n -= 1
    return int(line[n:]) if n < len(line) else None


class _Pending:
    def __init__(self, light, deadline_ms, seq):
        self.light = light
        self.deadline_ms = deadline_ms
        self.seq = seq


class GroupLight:
    def __init__(self, clock, max_alert_ms):
        self._clock = clock
        self._max_alert_ms = max_alert_ms
        self._alerts = {}  # box id -> _Pending
        self._acked = []
        self._seq = 0
        self.online = False

    def on_light(self, box, light, now_ms):
        """A box's new light state (None: the box cleared its retained state)."""
        if light is None or light.state == "green" or (light.alert_id and light.alert_id in self._acked):
            self._alerts.pop(box, None)
            return
        remaining_ms = self._remaining_ms(light)
        if remaining_ms <= 0:  # a retained alert that ran out while nobody listened
            self._alerts.pop(box, None)
            return
        old = self._alerts.get(box)
        seq = old.seq if old and old.light.alert_id == light.alert_id else self._next_seq()
        self._alerts[box] = _Pending(light, self._clock.ticks_add(now_ms, remaining_ms), seq)

    def _remaining_ms(self, light):
        if light.expires_ms is None:
            return self._max_alert_ms
        wall = self._clock.wall_ms()
        # Without a synced wall clock, trust the alert's own length from the moment it arrives.
        return min(light.expires_ms - (wall if wall is not None else light.since_ms), self._max_alert_ms)

    def _next_seq(self):
        self._seq += 1
        return self._seq

    def on_ack(self, alert_id):
        """Someone in the group acknowledged `alert_id` (None: every alert of the group)."""
        for box in list(self._alerts):
            aid = self._alerts[box].light.alert_id
            if alert_id is None or aid == alert_id:
                self._remember_acked(aid)
                del self._alerts[box]
        if alert_id is not None:
            self._remember_acked(alert_id)

    def _remember_acked(self, alert_id):
        if alert_id and alert_id not in self._acked:
            self._acked.append(alert_id)
            del self._acked[:-_ACKED_MEMORY]

    def forget_boxes(self):
        """After a reconnect the boxes' retained states arrive again; start from nothing."""
        self._alerts = {}

    def expire(self, now_ms):
        for box in list(self._alerts):
            if self._clock.ticks_diff(self._alerts[box].deadline_ms, now_ms) <= 0:
                del self._alerts[box]

    def current(self):
        """The alert to show: most severe first, then the one that came first."""
        best = None
        for p in self._alerts.values():
            if best is None or (SEVERITY[p.light.state], -p.seq) > (SEVERITY[best.light.state], -best.seq):
                best = p
        return best.light if best else None

    def pending(self):
        return len(self._alerts)

    def look(self, now_ms):
        if not self.online:
            return OFFLINE
        self.expire(now_ms)
        light = self.current()
        if light is None:
            return CLEAR
        return Look(light.state, light.blink, line_number(light.line), light.alert_id, light.reason)
