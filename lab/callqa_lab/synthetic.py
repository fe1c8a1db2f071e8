"""Generated CallScores and Alerts with known identity, for the MQTT fault tests and the
load run before real replayed calls are available. Valid against callscore.v1.json."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from callqa_contract.messages import BoxId
from edge.events import Alert
from edge.metrics import ConversationMetrics, EventSummary
from edge.scoring.callscore import CallScore, ItemVerdict
from edge.scoring.items import Hit
from edge.scoring.misses import NONE_COUNTED

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


def synthetic_score(box: BoxId, line: str, seq: int, alerts: int = 1) -> CallScore:
    start = _EPOCH + timedelta(minutes=5 * seq)
    return CallScore(
        box=box, line=line, call_id=call_id(box, line, seq), call_ref=None,
        start=start, end=start + timedelta(seconds=180), duration_s=180.0, end_reason="silence", flags=(),
        metrics=ConversationMetrics(
            agent_s=80.0, customer_s=70.0, overtalk=EventSummary(((40.0, 40.8),)), interruptions=EventSummary(),
            dead_air=EventSummary(((90.0, 96.0),)), last_speaker="customer",
            latencies=(0.4, 0.5, 0.5, 0.6, 0.6, 0.7, 0.7, 0.8, 1.0, 1.6, 1.6, 2.0)),  # median 0.7, p90 1.6
        agent_prosody=_side(), customer_prosody=_side(),
        keywords=(Hit("不知道", "forbidden", "agent", 12.1, 12.6, 0.91),),
        keyword_trust=NONE_COUNTED,
        items=(ItemVerdict("forbidden_phrases", "服务禁语", "服务礼仪", "failed", 5.0, 5.0, False, {"times": [12.1]}),),
        score=95.0, max_score=100.0, pass_mark=80.0, passed=True, fatal=False,
        alerts=tuple(synthetic_alert(box, line, seq, n) for n in range(alerts)),
    )
