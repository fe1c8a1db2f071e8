"""Simulated boxes for the store's tests and bench: valid CallScores with known truth, wrapped
in contract envelopes, published over a real broker like a box's outbox would.

The rubric items imitate the centre standard (qa-standard.md); a call's failures are chosen by
the caller, so every pass rate and problem count downstream is known in advance.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import paho.mqtt.client as mqtt

from callqa_contract.broker import parse_broker_url
from callqa_contract.messages import BoxId, Envelope, Seq
from callqa_contract.topics import Topics


@dataclass(frozen=True)
class SampleItem:
    id: str
    name: str
    section: str
    points: float
    fatal: bool = False
    alert: str | None = None  # severity of the live alert its failure raises


SAMPLE_ITEMS: tuple[SampleItem, ...] = (
    SampleItem("greeting", "开头语", "服务礼仪", 5),
    SampleItem("closing", "结束语", "服务礼仪", 5),
    SampleItem("thanks", "致谢语", "服务礼仪", 5),
    SampleItem("forbidden_phrase", "服务禁语", "服务礼仪", 10, alert="red"),
    SampleItem("insult", "侮辱攻击讽刺语言", "服务礼仪", 20, fatal=True, alert="red"),
    SampleItem("fillers", "口头禅", "服务技能", 3),
    SampleItem("dead_air", "控制节奏,避免沉默尴尬", "沟通技巧", 10, alert="amber"),
    SampleItem("interruptions", "服务耐心,不打断", "服务态度", 10),
    SampleItem("response_latency", "快速理解及时回答", "沟通技巧", 7),
    SampleItem("raised_voice", "禁止随意提高分贝", "服务态度", 10, alert="amber"),
)
PASS_FRACTION = 0.8


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def make_callscore(site: str, group: str, box: str, line: str, start: datetime, seq: int,
                   failed: frozenset[str] = frozenset(), duration_s: float = 180.0) -> dict[str, Any]:
    """A valid CallScore v1 whose failed items are exactly `failed` (ids from SAMPLE_ITEMS)."""
    unknown = failed - {i.id for i in SAMPLE_ITEMS}
    if unknown:
        raise ValueError(f"unknown sample items {sorted(unknown)}")
    call_id = f"{box}-{line}-{start.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{seq}"
    items, alerts = [], []
    for it in SAMPLE_ITEMS:
        bad = it.id in failed
        items.append({
            "id": it.id, "name": it.name, "section": it.section,
            "status": "failed" if bad else "passed", "deduction": it.points if bad else 0.0,
            "points": it.points, "fatal": bad and it.fatal, "evidence": {},
        })
        if bad and it.alert:
            alerts.append({
                "alert_id": uuid.uuid4().hex, "line": line, "call_id": call_id, "item": it.id,
                "severity": it.alert, "reason": it.name, "t": 30.0, "evidence": {},
            })
    max_score = sum(i.points for i in SAMPLE_ITEMS)
    score = max_score - sum(i["deduction"] for i in items)
    fatal = any(i["fatal"] for i in items)
    pass_mark = PASS_FRACTION * max_score
    silent_prosody = {"pitch_median_hz": 210.0, "pitch_range_st": 8.0, "monotony": 2.0, "level_dbfs": -24.0,
                      "clipping_ratio": 0.0, "speech_rate_sps": 4.2, "raised_voice": [], "drawn_out": []}
    return {
        "schema": "callqa.callscore/1",
        "box": {"site": site, "group": group, "id": box},
        "line": line, "call_id": call_id, "call_ref": None,
        "start": iso(start), "end": iso(start + timedelta(seconds=duration_s)), "duration_s": duration_s,
        "end_reason": "silence", "flags": [],
        "metrics": {
            "talk": {"agent_s": 70.0, "customer_s": 60.0, "talk_listen_ratio": 70 / 60},
            "overtalk": {"count": 0, "total_s": 0.0, "events": []},
            "interruptions": {"count": 0, "total_s": 0.0, "events": []},
            "dead_air": {"count": 0, "total_s": 0.0, "longest_s": 0.0, "events": []},
            "response_latency": {"n": 10, "median_s": 0.8, "p90_s": 1.6},
            "last_speaker": "customer",
        },
        "prosody": {"agent": silent_prosody, "customer": silent_prosody},
        "keywords": [],
        "items": items, "score": score, "max_score": max_score, "pass_mark": pass_mark,
        "passed": score >= pass_mark and not fatal, "fatal": fatal, "alerts": alerts,
    }


def envelope(kind: str, body: dict[str, Any], site: str, group: str, box: str,
             created: datetime | None = None, seq: tuple[str, int] | None = None) -> dict[str, Any]:
    """An envelope as a box makes it; `seq` = (epoch, n), its place in the box's count."""
    return Envelope(kind, uuid.uuid4().hex, iso(created or datetime.now(timezone.utc)), BoxId(site, group, box),
                    body, Seq(*seq) if seq else None).to_dict()


def score_message(score: dict[str, Any], prefix: str = "callqa/v1", seq: tuple[str, int] | None = None) -> tuple[str, bytes]:
    """(topic, payload) a box would publish for this CallScore."""
    b = score["box"]
    env = envelope("score", score, b["site"], b["group"], b["id"], seq=seq)
    topic = Topics(prefix, b["site"], b["group"], b["id"]).score(score["line"])
    return topic, json.dumps(env).encode()


def alert_message(alert: dict[str, Any], site: str, group: str, box: str, prefix: str = "callqa/v1") -> tuple[str, bytes]:
    env = envelope("alert", alert, site, group, box)
    return Topics(prefix, site, group, box).alert(alert["line"]), json.dumps(env).encode()


def status_message(site: str, group: str, box: str, state: str, created: datetime,
                   session: tuple[datetime, datetime] | None, lines: tuple[str, ...] = ("l1", "l2"),
                   prefix: str = "callqa/v1", **counters: Any) -> tuple[str, bytes]:
    """(topic, payload) of a box's status: `session` = (started, connected), None for a box older
    than the field; an online status has the health counters (zero unless given) and alerts."""
    body: dict[str, Any] = {"state": state, "version": "0.9.0", "lines": list(lines), "model": None}
    if session:
        body["session"] = {"started": iso(session[0]), "connected": iso(session[1])}
    if state == "online":
        body |= {"uptime_s": 1.0, "outbox_depth": 0, "dropped": 0, "undurable": 0, "refused": 0, "receipted": 0,
                 "unreceipted": 0, "oldest_unreceipted_s": None, "alerts": []} | counters
    env = envelope("status", body, site, group, box, created=created)
    return Topics(prefix, site, group, box).status, json.dumps(env).encode()


def publish_all(broker_url: str, messages: list[tuple[str, bytes]], client_id: str, timeout_s: float = 60,
                retain: bool = False) -> None:
    """Publish at QoS 1 from one box connection and return once the broker has acknowledged all."""
    address = parse_broker_url(broker_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(100)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise TimeoutError(f"{client_id}: broker did not acknowledge a message within {timeout_s}s")
    finally:
        client.disconnect()
        client.loop_stop()


def publish_from_boxes(broker_url: str, per_box: dict[str, list[tuple[str, bytes]]]) -> None:
    """Each box publishes its own messages over its own connection, all boxes at once."""
    errors: list[BaseException] = []

    def one(box: str, msgs: list[tuple[str, bytes]]) -> None:
        try:
            publish_all(broker_url, msgs, f"sim-{box}")
        except BaseException as e:  # noqa: BLE001 - collected and re-raised in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=item) for item in per_box.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
