"""Nothing lost from the box to the QA database: a box keeps every score until central QA's store
receipts it, so scores the broker loses (a restart, no subscriber at that moment) still reach the
database; and every score carries its place in the box's count, so one that never arrives is seen.

Real Mosquitto (persistence on), real `callqa-central store` processes, real SQLite.
"""

from __future__ import annotations

import json
import threading
import time

from callqa_contract.messages import BoxId
from callqa_lab.synthetic import synthetic_score
from edge.mqtt.outbox import Outbox
from edge.mqtt.sink import MqttSink
from tests.mqtt_helpers import Collector, box_config
from tests.storeproc import StoreProcess, count, wait_for_count

BOX = BoxId("hq", "g1", "box1")
CALLS = "SELECT COUNT(*) FROM calls"


def _box(tmp_path, broker, **mqtt) -> MqttSink:
    sink = MqttSink(box_config(tmp_path, broker.url, mqtt={"receipt_timeout_s": 2, **mqtt})).start()
    assert sink.client.wait_connected(10)
    return sink


def _store(tmp_path, broker, db_url: str) -> StoreProcess:
    return StoreProcess(broker.url, db_url, "store-1", tmp_path, sites=("hq",)).start()


def _receipted(status: Collector, n: int) -> None:
    status.wait_for(lambda: any(d["body"].get("receipted") == n and d["body"].get("unreceipted") == 0
                                for d in status.of_kind("status")), 30, f"the box's status to show {n} receipted")


def test_scores_sent_while_no_store_is_subscribed_after_a_broker_restart_reach_the_database(tmp_path, broker):
    """The issue's minimal case: store stopped, broker restarted (Mosquitto 2.0 does not restore
    the store's shared subscription from its persistence), 5 scores published, store started."""
    db = f"sqlite://{tmp_path}/store.sqlite"
    _store(tmp_path, broker, db).stop()  # its session and shared subscription exist
    broker.stop()
    broker.start()
    status = Collector(broker.port, "callqa/v1/hq/g1/box1/status")
    sink = _box(tmp_path, broker)
    for i in range(5):
        sink.on_score(synthetic_score(BOX, "l1", i))
    status.wait_for(lambda: sink.client.pending() == 0, 10, "the broker to have the 5 scores")
    store = _store(tmp_path, broker, db)
    try:
        wait_for_count(db, CALLS, 5, timeout=30)  # sent again, same msg_id, after no receipt came
        _receipted(status, 5)
        assert count(db, CALLS) == 5
    finally:
        store.stop()
        sink.close()


def test_a_broker_restart_while_the_store_runs_loses_no_score(tmp_path, broker):
    db = f"sqlite://{tmp_path}/store.sqlite"
    store = _store(tmp_path, broker, db)
    status = Collector(broker.port, "callqa/v1/hq/g1/box1/status")
    sink = _box(tmp_path, broker)
    calls = 30

    def produce():
        for i in range(calls):
            sink.on_score(synthetic_score(BOX, "l1", i))
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    try:
        producer.start()
        time.sleep(0.4)
        broker.stop()
        time.sleep(1.0)
        broker.start()
        producer.join()
        wait_for_count(db, CALLS, calls, timeout=60)
        _receipted(status, calls)
        assert count(db, CALLS) == calls
    finally:
        store.stop()
        sink.close()


def test_a_box_with_receipts_off_forgets_a_score_once_the_broker_has_it(tmp_path, broker):
    """For a site without our store: as before receipts, PUBACK deletes it."""
    status = Collector(broker.port, "callqa/v1/hq/g1/box1/status")
    sink = _box(tmp_path, broker, receipts=False)
    for i in range(3):
        sink.on_score(synthetic_score(BOX, "l1", i))
    status.wait_for(lambda: sink.client.pending() == 0, 10, "the broker to have the 3 scores")
    sink.close()
    outbox = Outbox(tmp_path / "state-box1" / "outbox.sqlite", 100, 3600)
    assert outbox.receipts().unreceipted == 0
    assert all("receipted" not in d["body"] for d in status.of_kind("status"))


def test_every_score_carries_its_place_in_the_boxs_count_and_numbers_survive_a_restart(tmp_path):
    path = tmp_path / "outbox.sqlite"
    numbers: list[int] = []

    def payload(n: int) -> bytes:
        numbers.append(n)
        return json.dumps({"n": n}).encode()

    first = Outbox(path, max_messages=2, max_age_s=3600)
    for m in ("a", "b", "c"):  # "a" is dropped at the bound of 2: its number is never given again
        first.put(m * 32, "t", "l1", payload)
    first.put("c" * 32, "t", "l1", payload)  # a retry of the same message takes no new number
    epoch = first.epoch
    first.close()
    again = Outbox(path, max_messages=2, max_age_s=3600)
    again.put("d" * 32, "t", "l1", payload)
    assert numbers == [1, 2, 3, 4]
    assert again.epoch == epoch and len(epoch) == 32
    assert [json.loads(m.payload)["n"] for m in again.after(0, 10)] == [3, 4]
