"""Central QA receipts what it committed, each box its own, and its reports show the scores and
alerts a box counted out that never reached the store."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest

from callqa_central.db import open_database
from callqa_central.periods import parse_period, utc_key, zone
from callqa_central.queries import build_report
from callqa_central.writer import Received, StoreWriter
from callqa_contract.messages import validation_errors
from callqa_lab.simulate import make_callscore, publish_all, score_message
from tests.postgres import postgres_cluster  # noqa: F401 - fixture
from tests.storeproc import StoreProcess

T0 = datetime(2025, 6, 2, 1, 0, tzinfo=timezone.utc)
EPOCH = uuid.uuid4().hex


def _score(box: str, k: int, n: int | None) -> tuple[str, bytes]:
    return score_message(make_callscore("s1", "g1", box, "l1", T0 + timedelta(minutes=k), k),
                         seq=(EPOCH, n) if n else None)


class ReceiptListener:
    """What a box would hear on its receipt topic: msg_ids per receipt topic."""

    def __init__(self, broker_url: str):
        self.got: dict[str, set[str]] = {}
        self.invalid: list[list[str]] = []
        self.senders: set[str] = set()
        self.changed = threading.Condition()
        host, port = broker_url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="receipt-listener", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.subscribe("callqa/v1/s1/+/+/receipt", qos=1)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        doc = json.loads(msg.payload)
        if problems := validation_errors(doc):
            self.invalid.append(problems)
        with self.changed:
            self.got.setdefault(msg.topic, set()).update(doc["body"]["msg_ids"])
            self.senders.add(doc["box"]["id"])
            self.changed.notify_all()

    def wait_for(self, want: dict[str, set[str]], timeout: float = 30) -> dict[str, set[str]]:
        with self.changed:
            self.changed.wait_for(lambda: all(ids <= self.got.get(t, set()) for t, ids in want.items()), timeout)
            return {t: set(ids) for t, ids in self.got.items()}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_the_store_receipts_every_committed_message_to_the_box_that_sent_it(broker, tmp_path):
    listener = ReceiptListener(broker.url)
    store = StoreProcess(broker.url, f"sqlite://{tmp_path}/store.sqlite", "store-a", tmp_path).start()
    try:
        a = [_score("boxA", k, k + 1) for k in range(3)]
        b = [_score("boxB", 0, 1)]
        # A message the store refuses is still kept (quarantine): the box must stop sending it.
        bad_topic, bad_payload = _score("boxA", 9, 4)
        doc = json.loads(bad_payload)
        doc["body"]["score"] = "not a number"
        refused = (bad_topic, json.dumps(doc).encode())
        publish_all(broker.url, a + b + [refused], "sim-boxes")
        ids = lambda msgs: {json.loads(p)["msg_id"] for _, p in msgs}  # noqa: E731
        want = {"callqa/v1/s1/g1/boxA/receipt": ids(a + [refused]), "callqa/v1/s1/g1/boxB/receipt": ids(b)}
        got = listener.wait_for(want)
        assert got == want
        # The box sends one again (no receipt reached it): the store receipts the duplicate too.
        publish_all(broker.url, a[:1], "sim-boxes-again")
        listener.got.clear()
        assert listener.wait_for({"callqa/v1/s1/g1/boxA/receipt": ids(a[:1])}) == {"callqa/v1/s1/g1/boxA/receipt": ids(a[:1])}
    finally:
        store.stop()
        listener.close()
    assert listener.invalid == []
    assert listener.senders == {"store-a"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/store.sqlite"
    return request.getfixturevalue("postgres_cluster").new_database()


def _write(db, msgs: list[tuple[str, bytes]], at: datetime) -> None:
    StoreWriter(db, "callqa/v1").write([Received(t, p, utc_key(at)) for t, p in msgs])


def test_numbers_missing_from_a_boxs_count_are_reported_as_never_received(db_url):
    db = open_database(db_url)
    db.migrate()
    arrived = T0 + timedelta(hours=1)
    try:
        # boxA counted 1..8 out; 3, 6 and 7 never arrived. boxB's 1..3 all did; boxC sends no count (an older box).
        _write(db, [_score("boxA", n, n) for n in (1, 2, 4, 5, 8)], arrived)
        _write(db, [_score("boxB", n, n) for n in (1, 2, 3)] + [_score("boxC", 1, None)], arrived)
        day = parse_period("daily", "2025-06-02", zone("UTC"))
        report = build_report(db, day, at=arrived + timedelta(hours=1))
        assert [(r.box, r.count, r.numbers) for r in report.missing] == [("boxA", 3, "3, 6-7")]
        assert report.missing[0].first == report.missing[0].last == arrived  # when the message after the gap came
        # Within the grace time a hole is not yet a loss: the box sends again what has no receipt.
        assert build_report(db, day, at=arrived + timedelta(minutes=2)).missing == []
        # The box sent 3 again: only 6-7 stay missing.
        _write(db, [_score("boxA", 3, 3)], arrived + timedelta(minutes=1))
        assert [(r.box, r.count, r.numbers) for r in build_report(db, day, at=arrived + timedelta(hours=1)).missing] \
            == [("boxA", 2, "6-7")]
    finally:
        db.close()
