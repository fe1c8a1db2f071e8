"""`callqa watch` shows what arrives and flags payloads that break the contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from callqa_contract.messages import BoxId, Envelope
from callqa_lab.synthetic import synthetic_alert, synthetic_score
from callqa_contract.topics import Topics
from tests.mqtt_helpers import Collector

REPO = Path(__file__).resolve().parent.parent


def test_watch_prints_scores_and_alerts_and_flags_invalid_payloads(broker):
    watch = subprocess.Popen([sys.executable, "-m", "edge", "watch", "--broker", broker.url, "--site", "hq",
                              "--count", "4", "--timeout", "20"],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"})
    box = BoxId("hq", "g1", "box1")
    topics = Topics("callqa/v1", "hq", "g1", "box1")
    pub = Collector(broker.port, "unused/#")
    first = watch.stdout.readline()  # printed once the broker has granted the subscription
    assert first.startswith("watching callqa/v1/hq/+/#"), first + watch.stderr.read()
    broken = synthetic_score(box, "l1", 2).to_dict()
    del broken["metrics"]
    messages = [
        (topics.score("l1"), Envelope.new("score", box, synthetic_score(box, "l1", 1).to_dict()).to_json()),
        (topics.alert("l1"), Envelope.new("alert", box, synthetic_alert(box, "l1", 1).to_dict()).to_json()),
        (topics.score("l1"), Envelope.new("score", box, broken).to_json()),
        (topics.score("l1"), b"not json"),
        (Topics("callqa/v1", "other", "g1", "box1").score("l1"), b"{}"),  # another site: not shown
    ]
    for topic, payload in messages:
        pub.client.publish(topic, payload, qos=1).wait_for_publish(5)
    out, err = watch.communicate(timeout=30)
    pub.close()
    assert watch.returncode == 0, err
    lines = [first.rstrip("\n")] + out.splitlines()
    assert any(l.startswith("score") and "box1-l1-000001 95.0/100.0 passed" in l for l in lines), out
    assert any(l.startswith("alert") and "forbidden phrase 不知道" in l for l in lines), out
    assert "INVALID hq/g1/box1/score/l1" in out and "body: 'metrics' is a required property" in out, out
    assert "not JSON" in out
    assert "other/" not in out
