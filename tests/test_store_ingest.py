"""Central QA store end to end: simulated boxes → real Mosquitto → `callqa-central store` processes → SQLite / PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from callqa_central.db import open_database
from callqa_lab.simulate import alert_message, make_callscore, publish_all, publish_from_boxes, score_message
from tests.broker import Broker
from tests.postgres import postgres_cluster  # noqa: F401 - fixture
from tests.storeproc import StoreProcess, count, wait_for_count

T0 = datetime(2025, 6, 2, 1, 0, tzinfo=timezone.utc)
FAIL_PATTERNS = (frozenset(), frozenset({"greeting"}), frozenset({"dead_air", "fillers"}), frozenset({"insult"}))


@pytest.fixture
def store_broker(tmp_path):
    # A production store broker must queue without a cap for a store that is away (default 1000 drops the rest).
    b = Broker(tmp_path / "broker", extra_conf="max_queued_messages 0\n").start()
    yield b
    b.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/store.sqlite"
    return request.getfixturevalue("postgres_cluster").new_database()


def burst(boxes: int, calls_per_box: int, site: str = "s1") -> tuple[dict[str, list[tuple[str, bytes]]], dict[str, int]]:
    """Messages per box, and the truth: msg_id -> number of failed items of that call (-1 for an alert)."""
    per_box, truth = {}, {}
    for b in range(boxes):
        box, group = f"box{b:03d}", f"g{b % 4}"
        msgs = []
        for k in range(calls_per_box):
            failed = FAIL_PATTERNS[(b + k) % len(FAIL_PATTERNS)]
            score = make_callscore(site, group, box, f"l{k % 2}", T0 + timedelta(minutes=3 * k), k, failed)
            topic, payload = score_message(score)
            msgs.append((topic, payload))
            truth[json.loads(payload)["msg_id"]] = len(failed)
            for alert in score["alerts"]:
                topic, payload = alert_message(alert, site, group, box)
                msgs.append((topic, payload))
                truth[json.loads(payload)["msg_id"]] = -1
        per_box[box] = msgs
    return per_box, truth


def stored_ids(db_url: str, table: str) -> list[str]:
    db = open_database(db_url)
    try:
        return [r[0] for r in db.rows(f"SELECT msg_id FROM {table}")]
    finally:
        db.close()


def assert_exactly_once(db_url: str, truth: dict[str, int]) -> None:
    scores = {m for m, n in truth.items() if n >= 0}
    alerts = {m for m, n in truth.items() if n < 0}
    call_ids = stored_ids(db_url, "calls")
    assert len(call_ids) == len(scores) and set(call_ids) == scores
    assert set(stored_ids(db_url, "alerts")) == alerts
    assert count(db_url, "SELECT COUNT(DISTINCT call_id) FROM calls") == len(scores)
    assert count(db_url, "SELECT COUNT(*) FROM failed_items") == sum(n for n in truth.values() if n > 0)
    assert count(db_url, "SELECT COUNT(*) FROM quarantine") == 0


def test_burst_from_many_boxes_into_two_stores_is_stored_exactly_once(store_broker, db_url, tmp_path):
    per_box, truth = burst(boxes=60, calls_per_box=20)
    stores = [StoreProcess(store_broker.url, db_url, f"store-{i}", tmp_path).start() for i in range(2)]
    try:
        publish_from_boxes(store_broker.url, per_box)
        scores = sum(n >= 0 for n in truth.values())
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM calls", scores) == scores
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM alerts", len(truth) - scores) == len(truth) - scores
    finally:
        for s in stores:
            assert s.stop() == 0
    assert_exactly_once(db_url, truth)
    # The shared subscription split the work: each process stored part of it, together all of it.
    shares = [int(s.log().rsplit("stopped: ", 1)[1].split()[0]) for s in stores]
    assert all(n > 0 for n in shares) and sum(shares) == len(truth)


def test_store_killed_mid_burst_and_restarted_still_stores_every_score_once(store_broker, db_url, tmp_path):
    per_box, truth = burst(boxes=40, calls_per_box=40)
    scores = sum(n >= 0 for n in truth.values())
    victim = StoreProcess(store_broker.url, db_url, "store-a", tmp_path).start()
    other = StoreProcess(store_broker.url, db_url, "store-b", tmp_path).start()
    publisher = threading.Thread(target=publish_from_boxes, args=(store_broker.url, per_box))
    publisher.start()
    try:
        stored_at_kill = wait_for_count(db_url, "SELECT COUNT(*) FROM calls", scores // 10)
        victim.kill()
        assert stored_at_kill < scores, "the burst finished before the kill: make it bigger"
        publisher.join()
        victim.start()
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM calls", scores) == scores
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM alerts", len(truth) - scores) == len(truth) - scores
    finally:
        publisher.join()
        victim.stop(), other.stop()
    assert "session resumed" in victim.log()
    assert_exactly_once(db_url, truth)


def test_malformed_payloads_land_in_quarantine_with_reason(store_broker, db_url, tmp_path):
    good = make_callscore("s1", "g1", "box1", "l1", T0, 1, frozenset({"greeting"}))
    topic, payload = score_message(good)
    env = json.loads(payload)

    def variant(change) -> bytes:
        doc = json.loads(payload)
        change(doc)
        return json.dumps(doc).encode()

    bad = {
        "not JSON": (topic, b"\xff\xfe\x00garbage"),
        "not an envelope": (topic, b"[1, 2, 3]"),
        "unknown envelope schema 'callqa.msg/2'": (topic, variant(lambda d: d.update(schema="callqa.msg/2"))),
        "unknown CallScore schema 'callqa.callscore/9'": (topic, variant(lambda d: d["body"].update(schema="callqa.callscore/9"))),
        "'items' is a required property": (topic, variant(lambda d: d["body"].pop("items"))),
        "kind 'alert' on a 'score' topic": (topic, variant(lambda d: d.update(kind="alert"))),
        "differs from the topic's s1/g1/box1": (topic, variant(lambda d: d["box"].update(id="box9"))),
        "bad timestamp": (topic, variant(lambda d: d["body"].update(start="2025-06-02 09:00"))),
    }
    store = StoreProcess(store_broker.url, db_url, "store-q", tmp_path).start()
    try:
        messages = [m for m in bad.values()] + [(topic, payload)] + [bad["not JSON"]]  # one bad one sent twice
        publish_all(store_broker.url, messages, "sim-box1")
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM quarantine", len(bad)) == len(bad)
        assert wait_for_count(db_url, "SELECT COUNT(*) FROM calls", 1) == 1
        assert store.proc.poll() is None, "a bad payload must not stop the store"
    finally:
        store.stop()
    db = open_database(db_url)
    try:
        rows = db.rows("SELECT reason, payload, msg_id, topic FROM quarantine")
    finally:
        db.close()
    reasons = [r[0] for r in rows]
    for expected in bad:
        assert sum(expected in r for r in reasons) == 1, (expected, reasons)
    # Byte-exact: the binary payload comes back from its base64 form.
    binary = [r[1] for r in rows if r[1].startswith("base64:")]
    assert [base64.b64decode(b[7:]) for b in binary] == [b"\xff\xfe\x00garbage"]
    # The envelope's msg_id is kept where there was one, to match with the box's outbox.
    assert sum(r[2] == env["msg_id"] for r in rows) == len(bad) - 2
    assert count(db_url, "SELECT COUNT(*) FROM failed_items") == 1
