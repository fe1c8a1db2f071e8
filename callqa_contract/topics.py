"""The topic tree, in one place: build a box's topics and parse any topic back.

    <prefix>/<site>/<group>/<box>/status            retained   kind=status
    <prefix>/<site>/<group>/<box>/score/<line>                 kind=score
    <prefix>/<site>/<group>/<box>/alert/<line>                 kind=alert
    <prefix>/<site>/<group>/<box>/light             retained   kind=light
    <prefix>/<site>/<group>/<box>/cmd/call/<line>   inbound    kind=call_event
    <prefix>/<site>/<group>/<box>/receipt           inbound    kind=receipt (from central QA)
    <prefix>/<site>/<group>/ack                     inbound    kind=light_ack
    <prefix>/<site>/fleet/alert                                kind=fleet_alert (from central QA, for site IT)

The prefix may itself contain '/', e.g. the default `callqa/v1`. Subscriptions: `watch_filter`
(everything of a site or group), `kind_filter` (one kind from every box), `shared` (a kind
split between store processes), `Topics.every_line` (one kind of one box).
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> (path below the box, has a line level)
_BOX_TOPICS: dict[str, tuple[str, bool]] = {
    "status": ("status", False),
    "score": ("score", True),
    "alert": ("alert", True),
    "light": ("light", False),
    "call_event": ("cmd/call", True),
    "receipt": ("receipt", False),
}
RETAINED_KINDS = frozenset({"status", "light"})


def check_level(name: str, value: str) -> str:
    """A topic level must be non-empty and free of separators and wildcards."""
    if not value or any(c in value for c in "/+#\x00"):
        raise ValueError(f"{name} {value!r} cannot be a topic level (empty, or contains '/', '+', '#')")
    return value


@dataclass(frozen=True)
class TopicInfo:
    """What a topic says about the message on it."""

    kind: str
    site: str
    group: str
    box: str | None  # None for the group-wide ack topic and the site's fleet alerts
    line: str | None


@dataclass(frozen=True)
class Topics:
    """The topics of one box."""

    prefix: str
    site: str
    group: str
    box: str

    def __post_init__(self) -> None:
        if not self.prefix or self.prefix.startswith("/") or self.prefix.endswith("/") or any(
            c in self.prefix for c in "+#\x00"
        ):
            raise ValueError(f"mqtt prefix {self.prefix!r} must not start/end with '/' or contain wildcards")
        for name in ("site", "group", "box"):
            check_level(name, getattr(self, name))

    @property
    def box_root(self) -> str:
        return f"{self.prefix}/{self.site}/{self.group}/{self.box}"

    def for_kind(self, kind: str, line: str | None = None) -> str:
        if kind == "light_ack":
            return self.ack
        if kind == "fleet_alert":
            return fleet_alert_topic(self.prefix, self.site)
        path, has_line = _BOX_TOPICS[kind]
        if has_line:
            if line is None:
                raise ValueError(f"a {kind} topic needs a line")
            return f"{self.box_root}/{path}/{check_level('line', line)}"
        return f"{self.box_root}/{path}"

    @property
    def status(self) -> str:
        return self.for_kind("status")

    @property
    def light(self) -> str:
        return self.for_kind("light")

    def score(self, line: str) -> str:
        return self.for_kind("score", line)

    def alert(self, line: str) -> str:
        return self.for_kind("alert", line)

    def call_event(self, line: str) -> str:
        return self.for_kind("call_event", line)

    def every_line(self, kind: str) -> str:
        """Subscription for one per-line kind (score, alert, call_event) on every line of this box."""
        path, has_line = _BOX_TOPICS[kind]
        if not has_line:
            raise ValueError(f"a {kind} topic has no line level")
        return f"{self.box_root}/{path}/+"

    @property
    def receipt(self) -> str:
        """Central QA's receipts for this box's scores and alerts."""
        return self.for_kind("receipt")

    @property
    def call_events(self) -> str:
        """Subscription for CTI call start/end on every line of this box."""
        return self.every_line("call_event")

    @property
    def ack(self) -> str:
        """The seat group's desk-light acknowledge topic (shared by every box of the group)."""
        return f"{self.prefix}/{self.site}/{self.group}/ack"


def fleet_alert_topic(prefix: str, site: str) -> str:
    """Central QA's alerts about the site's boxes (offline, silent lines), for site IT's bridges."""
    return f"{prefix}/{check_level('site', site)}/fleet/alert"


def _site_and_group(prefix: str, site: str | None, group: str | None) -> str:
    return f"{prefix}/{check_level('site', site) if site else '+'}/{check_level('group', group) if group else '+'}"


def watch_filter(prefix: str, site: str | None = None, group: str | None = None) -> str:
    """Subscription for everything under a site / group (or all of them)."""
    return f"{_site_and_group(prefix, site, group)}/#"


def kind_filter(prefix: str, kind: str, site: str | None = None, group: str | None = None) -> str:
    """Subscription for one box kind (score, alert, ...) from every box of a site / group, every line."""
    path, has_line = _BOX_TOPICS[kind]
    return f"{_site_and_group(prefix, site, group)}/+/{path}{'/+' if has_line else ''}"


def shared(share_group: str, topic_filter: str) -> str:
    """MQTT v5 shared subscription: the broker hands each message to one member of the group."""
    return f"$share/{check_level('share group', share_group)}/{topic_filter}"


def below_prefix(prefix: str, topic: str) -> str | None:
    """The topic's levels below the prefix (`hq/g1/box1/status`); None for a topic outside it."""
    head = prefix.rstrip("/") + "/"
    return topic[len(head):] if topic.startswith(head) else None


def parse(prefix: str, topic: str) -> TopicInfo | None:
    """The kind and identity a topic carries; None for a topic outside the tree."""
    rest_of_topic = below_prefix(prefix, topic)
    if rest_of_topic is None:
        return None
    parts = rest_of_topic.split("/")
    if len(parts) == 3 and parts[2] == "ack":
        return TopicInfo("light_ack", parts[0], parts[1], None, None)
    if parts[1:] == ["fleet", "alert"]:
        return TopicInfo("fleet_alert", parts[0], "fleet", None, None)
    if len(parts) < 4:
        return None
    site, group, box, rest = parts[0], parts[1], parts[2], parts[3:]
    for kind, (path, has_line) in _BOX_TOPICS.items():
        want = path.split("/")
        if rest[: len(want)] != want or len(rest) != len(want) + int(has_line):
            continue
        return TopicInfo(kind, site, group, box, rest[-1] if has_line else None)
    return None
