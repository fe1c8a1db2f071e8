"""Generated CallScores and Alerts with known identity, for the MQTT fault tests and the
load run before real replayed calls are available. Valid against callscore.v1.json."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from edge.events import Alert
from callqa_contract.messages import BoxId

_EPOCH = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def call_id(box: BoxId, line: str, seq: int) -> str:
    return f"{box.id}-{line}-{seq:06d}"


def seq_of(call_id_: str) -> int:
    return int(call_id_.rsplit("-", 1)[1])


def _side() -> dict[str, Any]:
    return {"pitch_median_hz": 210.0, "pitch_range_st": 7.5, "monotony": 2.1, "level_dbfs": -21.0,
            "clipping_ratio": 0.0, "speech_rate_sps": 4.2, "raised_voice": [[30.5, 32.0]], "drawn_out": []}


def synthetic_alert(box: BoxId, line: str, seq: int, n: int = 0, severity: str = "red") -> Alert:
    reason = "forbidden phrase 不知道" if severity == "red" else "raised voice"
    return Alert(alert_id=f"{call_id(box, line, seq)}-a{n}", line=line, call_id=call_id(box, line, seq),
                 item="forbidden_phrases" if severity == "red" else "raised_voice", severity=severity,
                 reason=reason, t=12.5 + n, evidence={"phrase": "不知道", "start": 12.1, "end": 12.6})


def synthetic_score(box: BoxId, line: str, seq: int, alerts: int = 1) -> dict[str, Any]:
    start = _EPOCH + timedelta(minutes=5 * seq)
    end = start + timedelta(seconds=180)
    return {
        "schema": "callqa.callscore/1",
        "box": {"site": box.site, "group": box.group, "id": box.id},
        "line": line,
        "call_id": call_id(box, line, seq),
        "call_ref": None,
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "duration_s": 180.0,
        "end_reason": "silence",
        "flags": [],
        "metrics": {
            "talk": {"agent_s": 80.0, "customer_s": 70.0, "talk_listen_ratio": 1.14},
            "overtalk": {"count": 1, "total_s": 0.8, "events": [[40.0, 40.8]]},
            "interruptions": {"count": 0, "total_s": 0.0, "events": []},
            "dead_air": {"count": 1, "total_s": 6.0, "longest_s": 6.0, "events": [[90.0, 96.0]]},
            "response_latency": {"n": 12, "median_s": 0.7, "p90_s": 1.6},
            "last_speaker": "customer",
        },
        "prosody": {"agent": _side(), "customer": _side()},
        "keywords": [{"phrase": "不知道", "category": "forbidden", "side": "agent", "start": 12.1, "end": 12.6,
                      "confidence": 0.91}],
        "items": [{"id": "forbidden_phrases", "name": "服务禁语", "section": "服务礼仪", "status": "failed",
                   "deduction": 5.0, "points": 5.0, "fatal": False, "evidence": {"times": [12.1]}}],
        "score": 95.0,
        "max_score": 100.0,
        "pass_mark": 80.0,
        "passed": True,
        "fatal": False,
        "alerts": [synthetic_alert(box, line, seq, n).to_dict() for n in range(alerts)],
    }
