"""Simple ScoreSinks: JSON Lines on a stream, and a collecting list (for tests and tools)."""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from edge.events import Alert, ScoreSink
from edge.scoring.callscore import CallScore


class JsonLinesSink(ScoreSink):
    """One CallScore per line (and, when `alerts` is set, one line per live alert)."""

    def __init__(self, stream: TextIO, alerts: bool = False):
        self._stream, self._alerts = stream, alerts
        self._lock = threading.Lock()  # several lines' threads may write to one stream

    def _write(self, obj: dict[str, Any]) -> None:
        with self._lock:
            self._stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self._stream.flush()

    def on_alert(self, alert: Alert) -> None:
        if self._alerts:
            self._write({"alert": alert.to_dict()})

    def on_score(self, score: CallScore) -> None:
        self._write(score.to_dict())


class CollectingSink(ScoreSink):
    def __init__(self) -> None:
        self.scores: list[CallScore] = []
        self.alerts: list[Alert] = []
        self.starts: list[tuple[str, str, float]] = []

    def on_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def on_score(self, score: CallScore) -> None:
        self.scores.append(score)

    def on_call_start(self, line: str, call_id: str, t: float) -> None:
        self.starts.append((line, call_id, t))
