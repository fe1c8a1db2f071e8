"""Nothing lost: scores reach central QA through broker restarts, box crashes, and full outboxes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


from callqa_contract.messages import BoxId
from edge.mqtt.sink import MqttSink
from callqa_lab.synthetic import seq_of, synthetic_score
from tests.broker import Broker, free_port
from tests.mqtt_helpers import Collector, box_config, config_toml, scores_by_line

REPO = Path(__file__).resolve().parent.parent
BOX = BoxId("hq", "g1", "box1")


def assert_in_order(by_line: dict[str, list[str]]) -> None:
    for line, ids in by_line.items():
        seqs = [seq_of(c) for c in ids]
        assert seqs == sorted(seqs), f"line {line} arrived out of order: {seqs}"


def test_scores_produced_while_the_broker_restarts_all_arrive_in_order_per_line(tmp_path, broker, caplog):
    caplog.set_level(logging.INFO, logger="edge.mqtt")
    central = Collector(broker.port, "callqa/v1/+/+/+/score/+", client_id="central-qa")
    sink = MqttSink(box_config(tmp_path, broker.url)).start()
    assert sink.client.wait_connected(10)
    calls = 40

    def produce():
        for seq in range(calls):
            for line in ("l1", "l2"):
                sink.on_score(synthetic_score(BOX, line, seq))
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.4)
    broker.stop()
    time.sleep(1.5)  # scores keep coming while the broker is down
    broker.start()
    producer.join()
    central.wait_for(lambda: sum(map(len, scores_by_line(central.of_kind("score")).values())) >= 2 * calls,
                     30, "every score after the broker restart")
    by_line = scores_by_line(central.of_kind("score"))
    for line in ("l1", "l2"):
        assert [seq_of(c) for c in by_line[line]] == list(range(calls))
    assert "lost the broker connection" in caplog.text  # the outage really happened
    assert not central.invalid
    central.wait_for(lambda: sink.client.pending() == 0, 5, "the outbox to empty as PUBACKs arrive")
    sink.close()
    central.close()


def _driver(config: Path, *args: str, as_user: list[str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([*(as_user or []), sys.executable, "-m", "tests.mqtt_box_driver", str(config), *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _write_box_config(path: Path, url: str, state_dir: Path, **outbox) -> Path:
    path.write_text(config_toml({
        "box": {"site": "hq", "group": "g1", "id": "box1", "state_dir": str(state_dir)},
        "lines": [{"name": n, "source": "replay", "path": str(path.parent)} for n in ("l1", "l2", "l3")],
        "mqtt": {"enabled": True, "url": url, "reconnect_min_s": 1, "reconnect_max_s": 2, "status_interval_s": 0.5},
        "outbox": outbox,
    }))
    return path


def test_box_killed_mid_stream_and_restarted_delivers_every_stored_score(tmp_path, broker):
    central = Collector(broker.port, "callqa/v1/#", client_id="central-qa")
    config = _write_box_config(tmp_path / "box.toml", broker.url, tmp_path / "state")
    first = _driver(config, "--calls", "400", "--interval", "0.005")
    stored: list[str] = []
    for out in first.stdout:
        if out.startswith("stored "):
            stored.append(out.split()[1])
        if len(stored) >= 300:
            break
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Everything the first run reported stored, plus whatever it stored after we stopped reading.
    stored += [out.split()[1] for out in first.stdout.read().splitlines() if out.startswith("stored ")]
    central.wait_for(lambda: any(d["body"]["state"] == "offline" for d in central.of_kind("status")), 10,
                     "the last-will offline status")

    second = _driver(config, "--calls", "20", "--first-seq", "100000")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    stored += [o.split()[1] for o in out.splitlines() if o.startswith("stored ")]

    def arrived() -> set[str]:
        return {d["body"]["call_id"] for d in central.of_kind("score")}

    central.wait_for(lambda: set(stored) <= arrived(), 30, "every stored score after the restart")
    msg_ids: dict[str, set[str]] = {}
    for env in central.of_kind("score"):
        msg_ids.setdefault(env["body"]["call_id"], set()).add(env["msg_id"])
    assert all(len(ids) == 1 for ids in msg_ids.values()), "a score was resent with a different msg_id"
    assert_in_order(scores_by_line(central.of_kind("score")))
    assert central.of_kind("status")[-1]["body"]["state"] == "offline"  # the clean stop says so too
    assert not central.invalid
    central.close()


def test_outbox_bound_drops_oldest_counts_them_and_reports_in_status(tmp_path, caplog):
    port = free_port()  # no broker yet: everything queues
    cfg = box_config(tmp_path, f"mqtt://127.0.0.1:{port}", outbox={"max_messages": 10})
    sink = MqttSink(cfg).start()
    for seq in range(25):
        sink.on_score(synthetic_score(BOX, "l1", seq))
    assert sink.client.dropped() == 15
    assert "dropped" in caplog.text and "beyond the bound of 10 messages" in caplog.text
    with Broker(tmp_path / "broker", port=port) as broker:
        central = Collector(broker.port, "callqa/v1/#")
        central.wait_for(lambda: len(central.of_kind("score")) >= 10 and any(
            d["body"].get("dropped") == 15 for d in central.of_kind("status")), 15, "backlog and status")
        status = [d for d in central.of_kind("status") if d["body"].get("dropped") == 15][-1]["body"]
        assert any("15 unsent" in a for a in status["alerts"])
        assert [seq_of(d["body"]["call_id"]) for d in central.of_kind("score")] == list(range(15, 25))
        sink.close()
        central.close()


def test_outbox_age_bound_drops_old_messages_and_counts_them(tmp_path):
    from edge.mqtt.outbox import Outbox

    now = [1000.0]
    box = Outbox(tmp_path / "o.sqlite", max_messages=100, max_age_s=60, clock=lambda: now[0])
    box.put("a" * 32, "t", "l1", lambda n: b"{}")
    now[0] += 30
    box.put("b" * 32, "t", "l1", lambda n: b"{}")
    now[0] += 45  # the first is now 75 s old
    assert box.prune() == 1
    assert [m.msg_id for m in box.after(0, 10)] == ["b" * 32]
    box.close()
    assert Outbox(tmp_path / "o.sqlite", 100, 60).dropped() == 1  # the count survives a restart


def test_read_only_outbox_gives_a_clear_error_and_scores_still_flow(tmp_path, broker):
    state = tmp_path / "state"
    state.mkdir(mode=0o555)
    config = _write_box_config(tmp_path / "box.toml", broker.url, state)
    # root ignores file modes: run the box as root without the capabilities that override them.
    as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else None
    central = Collector(broker.port, "callqa/v1/#")
    box = _driver(config, "--calls", "2", "--run-for", "1.5", as_user=as_user)
    out, err = box.communicate(timeout=60)
    assert box.returncode == 0, err
    assert f"outbox {state}/outbox.sqlite" in err and "writable" in err, err
    assert "Traceback" not in err
    central.wait_for(lambda: len(central.of_kind("score")) == 6, 10, "scores sent without a disk copy")
    online = [d["body"] for d in central.of_kind("status") if d["body"]["state"] == "online"]
    assert online and all(any("outbox" in a for a in s["alerts"]) for s in online), online
    assert max(s["undurable"] for s in online) == 6
    central.close()


def test_sigkill_leaves_a_consistent_outbox_file(tmp_path):
    """A box killed while writing (no broker at all) restarts with every reported score intact."""
    from edge.mqtt.outbox import Outbox

    config = _write_box_config(tmp_path / "box.toml", f"mqtt://127.0.0.1:{free_port()}", tmp_path / "state")
    box = _driver(config, "--calls", "100000")
    stored = []
    for out in box.stdout:
        stored.append(out.split()[1])
        if len(stored) >= 500:
            break
    box.send_signal(signal.SIGKILL)
    box.wait()
    kept = {json.loads(m.payload)["body"]["call_id"] for m in Outbox(tmp_path / "state" / "outbox.sqlite", 10**6, 1e9).after(0, 10**6)}
    assert set(stored) <= kept


def test_load_run_of_eight_lines_loses_nothing_and_keeps_order(tmp_path, broker):
    from callqa_lab.bench_mqtt import mqtt_load_run, synthetic_calls

    r = mqtt_load_run(broker.url, tmp_path / "bench", 8, synthetic_calls(calls_per_line=10, alerts_per_call=2))
    assert (r.scores_sent, r.alerts_sent) == (80, 160)
    assert (r.received, r.lost, r.invalid, r.out_of_order_lines) == (240, 0, 0, 0)
    assert r.messages_per_s > 0 and r.score_delay_ms["p50"] >= 0


def test_receipt_cost_runs_see_every_message_committed_and_deleted(tmp_path, broker):
    """A tiny `callqa bench` receipt run: what it counts, not how fast (that is the bench's)."""
    from callqa_lab.bench_mqtt import receipt_measures, receipt_runs

    runs = receipt_runs(broker.url, tmp_path / "receipts", 2, burst_calls=3, paced_calls=2)
    assert list(runs) == [False, True]
    for burst, paced in runs.values():
        assert (burst.sent, paced.sent) == (12, 8)  # 2 lines x calls x (score + alert)
        assert burst.ok and paced.ok  # every message committed by the store and deleted by the box
        assert burst.messages_per_s > 0
        assert all(paced.commit_delay_ms[k] >= 0 and paced.delete_delay_ms[k] >= 0 for k in ("p50", "p95"))
    measures = receipt_measures(runs, 2)
    assert [m.stage.split(":")[0] for m in measures] == ["receipts off"] * 3 + ["receipts on"] * 3
    assert all("ok" in m.stage for m in measures if m.unit == "msg/s")


def test_replayed_calls_through_the_pipeline_reach_central_qa_complete_and_in_order(tmp_path, broker):
    from scipy.io import wavfile

    from callqa_lab.bench_mqtt import mqtt_load_run, replayed_calls
    from callqa_lab.gencall import generate_call

    calls = tmp_path / "calls"
    calls.mkdir()
    for seed, name in enumerate(("rude", "raised_voice")):  # both have live alerts
        pcm, _ = generate_call(name, 16000, seed=seed)
        wavfile.write(calls / f"{seed}.wav", 16000, pcm)
    r = mqtt_load_run(broker.url, tmp_path / "bench", 2, replayed_calls(calls))
    assert r.scores_sent == 4 and r.alerts_sent >= 2
    assert (r.received, r.lost, r.duplicates, r.invalid, r.out_of_order_lines) == (
        r.scores_sent + r.alerts_sent, 0, 0, 0, 0)
