"""MQTT load run: N lines' worth of scores and live alerts pushed through one box as fast as
possible, received by a central-QA subscriber; reports losses, order, throughput and delay.

Two loads: `callqa bench` (section `bench_section`) replays generated call WAVs through the
real pipeline, one LinePipeline per line with the replay source running as fast as possible,
into an MqttSink and a Mosquitto it starts on a loopback port; `python3 -m callqa_lab.bench_mqtt`
pushes generated CallScores and Alerts (edge/mqtt/synthetic.py) for a heavier message load.
End-to-end delay is receipt time minus the envelope's `created` (the moment the sink took the
message), both on this machine's clock.

What receipts cost (`receipt_run`): generated scores and alerts go from one box through the broker
into a real `callqa-central store` process (SQLite), once with mqtt.receipts off (the box deletes
a message at the broker's PUBACK) and once on (it deletes it on the store's receipt). A burst as
fast as possible gives messages per second; a paced load gives the delay from the sink to the
store's commit and to the box deleting the message.

    python3 -m callqa_lab.bench_mqtt --broker mqtt://127.0.0.1:1883   # or --spawn-broker; --store
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from scipy.io import wavfile

from edge.bench import BenchContext, Measure, skipped
from edge.config import Config, LineConfig, parse_config
from edge.line import BLOCK_S, REPLAY_GAP_S, LineSources
from callqa_contract.broker import parse_broker_url
from callqa_contract.messages import BoxId, parse_iso, validation_errors
from edge.mqtt.sink import MqttSink
from callqa_lab.synthetic import seq_of, synthetic_alert, synthetic_score
from callqa_lab.testbroker import Broker, mosquitto_binary
from callqa_lab.testproc import StoreProcess
from callqa_contract.topics import Topics

BENCH_LINES = 8
BENCH_CALLS = 8  # generated calls each line replays
BROKER_QUEUES = "max_queued_messages 200000\nmax_inflight_messages 100\n"  # like the shipped site example
RECEIPT_BURST_CALLS = 60  # per line, one alert each: 960 messages as fast as possible
RECEIPT_PACED_CALLS = 12  # per line, one alert each, a call every PACED_PAUSE_S: 40 messages/s
PACED_PAUSE_S = 0.4
POLL_S = 0.01  # how often the watcher looks at the store's database and the box's outbox


@dataclass(frozen=True)
class LoadResult:
    lines: int
    scores_sent: int
    alerts_sent: int
    received: int  # unique msg_ids
    lost: int
    duplicates: int
    invalid: int
    out_of_order_lines: int
    wall_s: float  # first message in to last message out
    messages_per_s: float
    score_delay_ms: dict[str, float]  # p50 / p95 / max
    alert_delay_ms: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    a = np.asarray(values) * 1000.0
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "max": round(float(a.max()), 1)}


def _box_config(broker_url: str, workdir: Path, line_names: list[str], receipts: bool = True):
    return parse_config({
        "box": {"site": "bench", "group": "g1", "id": f"bench-{uuid.uuid4().hex[:6]}", "state_dir": str(workdir)},
        "lines": [{"name": n, "source": "replay", "path": str(workdir)} for n in line_names],
        "mqtt": {"enabled": True, "url": broker_url, "reconnect_min_s": 1, "reconnect_max_s": 2, "receipts": receipts},
        "outbox": {"path": str(workdir / "outbox.sqlite")},
    })


def _produce_on_lines(sink: MqttSink, cfg: Config, produce: Callable[[MqttSink, Config, str], tuple[int, int]]
                      ) -> tuple[int, int]:
    """Run `produce` for every line of `cfg` at once, each in its own thread: (scores, alerts) sent."""
    sent: dict[str, tuple[int, int]] = {}

    def run_line(line: str) -> None:
        sent[line] = produce(sink, cfg, line)

    producers = [threading.Thread(target=run_line, args=(ln.name,)) for ln in cfg.lines]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    return sum(s for s, _ in sent.values()), sum(a for _, a in sent.values())


def mqtt_load_run(broker_url: str, workdir: Path, lines: int, produce: Callable[[MqttSink, Config, str], tuple[int, int]],
                  timeout_s: float = 120.0) -> LoadResult:
    """Run `produce(sink, cfg, line) -> (scores, alerts) sent` for every line at once, each in
    its own thread, through one box's MqttSink, and count what a central subscriber receives."""
    line_names = [f"line{i + 1}" for i in range(lines)]
    cfg = _box_config(broker_url, workdir, line_names)
    box = BoxId(cfg.box.site, cfg.box.group, cfg.box.id)
    topics = Topics(cfg.mqtt.prefix, box.site, box.group, box.id)
    received: dict[str, tuple[str, float, float, str, int]] = {}  # msg_id -> kind, created, arrived, line, seq
    duplicates = invalid = 0
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        nonlocal duplicates, invalid
        now = time.time()
        doc = json.loads(msg.payload)
        with lock:
            if doc["msg_id"] in received:
                duplicates += 1
                return
            invalid += bool(validation_errors(doc))
            body = doc["body"]
            received[doc["msg_id"]] = (doc["kind"], parse_iso(doc["created"]).timestamp(), now, body["line"],
                                       seq_of(body["call_id"]))

    address = parse_broker_url(broker_url)
    central = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-central-{uuid.uuid4().hex[:6]}",
                          protocol=MQTTProtocolVersion.MQTTv5)
    subscribed = threading.Event()
    central.on_message = on_message
    central.on_subscribe = lambda *a: subscribed.set()
    central.on_connect = lambda c, u, f, rc, p: c.subscribe([(topics.every_line("score"), 1),
                                                            (topics.every_line("alert"), 1)])
    central.connect(address.host, address.port)
    central.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError(f"bench subscriber could not subscribe on {broker_url}")

    sink = MqttSink(cfg).start()
    if not sink.client.wait_connected(10):
        raise RuntimeError(f"bench box could not connect to {broker_url}")

    t0 = time.time()
    scores_sent, alerts_sent = _produce_on_lines(sink, cfg, produce)
    deadline = time.monotonic() + timeout_s
    while len(received) < scores_sent + alerts_sent and time.monotonic() < deadline:
        time.sleep(0.05)
    sink.close()
    central.disconnect()
    central.loop_stop()

    with lock:
        rows = list(received.values())
    last = max((r[2] for r in rows), default=t0)
    per_line: dict[tuple[str, str], list[int]] = defaultdict(list)
    for kind, _, arrived, line, seq in sorted(rows, key=lambda r: r[2]):
        per_line[(kind, line)].append(seq)
    out_of_order = sum(1 for seqs in per_line.values() if seqs != sorted(seqs))
    return LoadResult(
        lines=lines, scores_sent=scores_sent, alerts_sent=alerts_sent,
        received=len(rows), lost=scores_sent + alerts_sent - len(rows), duplicates=duplicates, invalid=invalid,
        out_of_order_lines=out_of_order, wall_s=round(last - t0, 3),
        messages_per_s=round(len(rows) / max(last - t0, 1e-9), 1),
        score_delay_ms=_percentiles([r[2] - r[1] for r in rows if r[0] == "score"]),
        alert_delay_ms=_percentiles([r[2] - r[1] for r in rows if r[0] == "alert"]),
    )


def synthetic_calls(calls_per_line: int, alerts_per_call: int, pause_s: float = 0.0):
    """Producer for mqtt_load_run and receipt_run: generated CallScores and Alerts, no audio;
    a call every `pause_s` per line, or as fast as possible."""
    def produce(sink: MqttSink, cfg: Config, line: str) -> tuple[int, int]:
        box = BoxId(cfg.box.site, cfg.box.group, cfg.box.id)
        for seq in range(calls_per_line):
            for n in range(alerts_per_call):
                sink.on_alert(synthetic_alert(box, line, seq, n, severity="red" if n % 2 == 0 else "amber"))
            sink.on_score(synthetic_score(box, line, seq, alerts=alerts_per_call))
            time.sleep(pause_s)
        return calls_per_line, calls_per_line * alerts_per_call
    return produce


def replayed_calls(folder: Path, block_s: float = BLOCK_S, gap_s: float = REPLAY_GAP_S):
    """Producer for mqtt_load_run: the WAVs in `folder` through a real LinePipeline (replay
    source, as fast as possible, no keyword spotter); counts what the pipeline produced.
    REPLAY_GAP_S is more than calls.end_silence_s, so each file is a call."""
    from edge.pipeline import LinePipeline, run_source
    from edge.scoring.rubric import load_rubric
    from edge.sinks import CollectingSink

    def produce(sink: MqttSink, cfg: Config, line: str) -> tuple[int, int]:
        made = CollectingSink()
        sources = LineSources(cfg.audio.sample_rate, block_s, gap_s)
        pipeline = LinePipeline(line, cfg, load_rubric(cfg.rubric.path), [made, sink], rate=sources.rate)
        run_source(pipeline, sources.file(LineConfig(name=line, source="replay", path=folder, realtime=False)))
        return len(made.scores), len(made.alerts)
    return produce


@dataclass(frozen=True)
class ReceiptRunResult:
    receipts: bool
    sent: int
    committed: int  # of them, committed by the store
    deleted: int  # of them, deleted from the box's outbox
    wall_s: float  # the sink taking the first message to the store committing the last
    messages_per_s: float  # committed over wall_s
    commit_delay_ms: dict[str, float]  # the sink taking a message to the store committing it
    delete_delay_ms: dict[str, float]  # ... to the box deleting it (on its receipt; receipts off: on PUBACK)

    @property
    def ok(self) -> bool:
        return self.committed == self.deleted == self.sent


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


class DeliveryWatch:
    """Looks, every POLL_S, at the store's database and the box's outbox (both SQLite, read-only
    beside their writers): the time a message first shows as committed, or as gone from the
    outbox, is taken as when that happened, to within POLL_S. A message is known in the outbox
    by its number in the box's count, which the store records with its msg_id (table sequence)."""

    def __init__(self, store_db: Path, outbox: Path, box: BoxId):
        self.box = box
        self._paths = store_db, outbox
        self.committed: dict[str, tuple[float, float]] = {}  # msg_id -> (created, committed)
        self.numbers: dict[int, str] = {}  # the box's count -> msg_id
        self.deleted: dict[int, float] = {}  # the box's count -> deleted
        self._last_rowid = {"calls": 0, "alerts": 0, "sequence": 0}
        self._last_number = 0
        self._in_outbox: set[int] = set()
        self._stop = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="delivery-watch", daemon=True)

    def start(self) -> "DeliveryWatch":
        self._thread.start()
        return self

    @property
    def watching(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._failed is not None:
            raise RuntimeError(f"the bench's delivery watch failed: {self._failed}") from self._failed

    def _new_rows(self, store: sqlite3.Connection, table: str, columns: str) -> list[tuple]:
        rows = store.execute(f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? AND box = ? ORDER BY rowid",
                                   (self._last_rowid[table], self.box.id)).fetchall()
        if rows:
            self._last_rowid[table] = rows[-1][0]
        return [r[1:] for r in rows]

    def _poll(self, store: sqlite3.Connection, outbox: sqlite3.Connection) -> None:
        now = time.time()
        for table in ("calls", "alerts"):
            for msg_id, created in self._new_rows(store, table, "msg_id, created_utc"):
                self.committed[msg_id] = (parse_iso(created).timestamp(), now)
        self.numbers.update(self._new_rows(store, "sequence", "n, msg_id"))
        # One read transaction: the numbers given out and the messages still there, as of one moment.
        outbox.execute("BEGIN")
        last = outbox.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        present = {n for (n,) in outbox.execute("SELECT seq FROM outbox")}
        outbox.execute("COMMIT")
        if last:
            self._in_outbox.update(range(self._last_number + 1, last[0] + 1))
            self._last_number = last[0]
        for n in self._in_outbox - present:
            self.deleted[n] = now
        self._in_outbox &= present

    def _run(self) -> None:
        store, outbox = (_read_only(p) for p in self._paths)  # a connection belongs to its thread
        try:
            while not self._stop.wait(POLL_S):
                self._poll(store, outbox)
        except BaseException as e:  # noqa: BLE001 - handed to stop(), which raises it in the bench's thread
            self._failed = e
        finally:
            store.close()
            outbox.close()


def receipt_run(broker_url: str, store_db: Path, workdir: Path, lines: int, receipts: bool,
                produce: Callable[[MqttSink, Config, str], tuple[int, int]], timeout_s: float = 120.0
                ) -> ReceiptRunResult:
    """Run `produce` on every line of one box (mqtt.receipts = `receipts`) into a store process
    already consuming site 'bench' into `store_db`; wait until the store has committed every
    message and the box has deleted every one."""
    cfg = _box_config(broker_url, workdir, [f"line{i + 1}" for i in range(lines)], receipts=receipts)
    sink = MqttSink(cfg).start()
    if not sink.client.wait_connected(10):
        raise RuntimeError(f"bench box could not connect to {broker_url}")
    watch = DeliveryWatch(store_db, cfg.outbox.path, BoxId(cfg.box.site, cfg.box.group, cfg.box.id)).start()
    try:
        sent = sum(_produce_on_lines(sink, cfg, produce))
        deadline = time.monotonic() + timeout_s
        while (len(watch.committed) < sent or len(watch.deleted) < sent) and watch.watching \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watch.stop()
        sink.close()

    first = min((created for created, _ in watch.committed.values()), default=0.0)
    last = max((done for _, done in watch.committed.values()), default=first)
    created = {msg_id: c for msg_id, (c, _) in watch.committed.items()}
    return ReceiptRunResult(
        receipts=receipts, sent=sent, committed=len(watch.committed), deleted=len(watch.deleted),
        wall_s=round(last - first, 3), messages_per_s=round(len(watch.committed) / max(last - first, 1e-9), 1),
        commit_delay_ms=_percentiles([done - c for c, done in watch.committed.values()]),
        delete_delay_ms=_percentiles([t - created[watch.numbers[n]] for n, t in watch.deleted.items()
                                      if watch.numbers.get(n) in created]),
    )


def receipt_runs(broker_url: str, workdir: Path, lines: int, burst_calls: int, paced_calls: int
                 ) -> dict[bool, tuple[ReceiptRunResult, ReceiptRunResult]]:
    """Receipts off, then on: (burst, paced) runs each, into one store process (SQLite)."""
    workdir.mkdir(parents=True, exist_ok=True)
    store_db = workdir / "store.sqlite"
    store = StoreProcess(broker_url, f"sqlite://{store_db}", "bench-store", workdir, sites=("bench",),
                         batch=500).start()  # the store's default --batch
    try:
        return {receipts: (receipt_run(broker_url, store_db, workdir / f"burst-{receipts}", lines, receipts,
                                       synthetic_calls(burst_calls, 1)),
                           receipt_run(broker_url, store_db, workdir / f"paced-{receipts}", lines, receipts,
                                       synthetic_calls(paced_calls, 1, PACED_PAUSE_S)))
                for receipts in (False, True)}
    finally:
        store.stop()


def receipt_measures(runs: dict[bool, tuple[ReceiptRunResult, ReceiptRunResult]], lines: int) -> list[Measure]:
    out = []
    paced_rate = round(2 * lines / PACED_PAUSE_S)
    for receipts, (burst, paced) in runs.items():
        mode = "receipts on" if receipts else "receipts off"
        deletes = "on the store's receipt" if receipts else "on the broker's PUBACK"
        ok = "ok" if burst.ok and paced.ok else "FAILED"
        out += [
            Measure("mqtt", f"{mode}: box -> store, messages per second committed ({ok}: "
                            f"{burst.committed + paced.committed} of {burst.sent + paced.sent} committed, "
                            f"{burst.deleted + paced.deleted} deleted by the box)", burst.messages_per_s, "msg/s",
                    f"burst of {burst.sent} (scores + alerts, {lines} lines), as fast as possible, into "
                    f"`callqa-central store` on SQLite; {burst.wall_s} s"),
            Measure("mqtt", f"{mode}: sink -> store's commit, p50 / p95", paced.commit_delay_ms["p50"], "ms",
                    f"p95 {paced.commit_delay_ms['p95']} ms, max {paced.commit_delay_ms['max']} ms; paced, "
                    f"{paced_rate} msg/s; polled every {POLL_S * 1000:.0f} ms"),
            Measure("mqtt", f"{mode}: sink -> the box deletes it ({deletes}), p50 / p95",
                    paced.delete_delay_ms["p50"], "ms",
                    f"p95 {paced.delete_delay_ms['p95']} ms, max {paced.delete_delay_ms['max']} ms; paced, "
                    f"{paced_rate} msg/s"),
        ]
    return out


def bench_section(ctx: BenchContext) -> list[Measure]:
    """`callqa bench`: 8 lines replay 8 generated calls each through one box into a local
    Mosquitto; losses, order, messages per second and end-to-end delay. Then what receipts
    cost: generated messages into a store process, receipts off and on."""
    if mosquitto_binary() is None:
        return [skipped("mqtt", "mosquitto is not installed (Debian package 'mosquitto')")]
    from callqa_lab.gencall import generate_call  # the bench runs from a checkout (edge/commands/bench.py)

    with tempfile.TemporaryDirectory(prefix="callqa-mqtt-bench-") as tmp:
        work = Path(tmp)
        calls = work / "calls"
        calls.mkdir()
        audio_s = 0.0
        for seed in range(BENCH_CALLS):
            pcm, _ = generate_call("random", ctx.rate, seed=seed)
            wavfile.write(calls / f"call{seed:02d}.wav", ctx.rate, pcm)
            audio_s += len(pcm) / ctx.rate + REPLAY_GAP_S
        with Broker(work / "broker", extra_conf=BROKER_QUEUES) as broker:
            r = mqtt_load_run(broker.url, work / "box", BENCH_LINES, replayed_calls(calls, gap_s=REPLAY_GAP_S))
            receipts = receipt_runs(broker.url, work / "receipts", BENCH_LINES, RECEIPT_BURST_CALLS,
                                    RECEIPT_PACED_CALLS)
    note = f"{BENCH_LINES} lines x {BENCH_CALLS} generated calls, replayed as fast as possible, {ctx.rate} Hz"
    ok = "ok" if r.lost == r.duplicates == r.invalid == r.out_of_order_lines == 0 else "FAILED"
    return [
        Measure("mqtt", f"scores + alerts received of sent ({ok}: lost {r.lost}, duplicated {r.duplicates}, "
                        f"invalid {r.invalid}, lines out of order {r.out_of_order_lines})",
                r.received, f"of {r.scores_sent + r.alerts_sent}", note),
        Measure("mqtt", "messages per second (pipeline-bound: scoring the calls is the work)", r.messages_per_s,
                "msg/s", f"{r.wall_s} s first call in to last message out, for {audio_s:.0f} s of audio per line"),
        Measure("mqtt", "end-to-end delay, score, p50 / p95", r.score_delay_ms["p50"], "ms",
                f"p95 {r.score_delay_ms['p95']} ms, max {r.score_delay_ms['max']} ms"),
        Measure("mqtt", "end-to-end delay, live alert, p50 / p95", r.alert_delay_ms["p50"], "ms",
                f"p95 {r.alert_delay_ms['p95']} ms, max {r.alert_delay_ms['max']} ms"),
        *receipt_measures(receipts, BENCH_LINES),
    ]


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--broker", metavar="URL")
    g.add_argument("--spawn-broker", action="store_true", help="start a local mosquitto for the run")
    p.add_argument("--lines", type=int, default=8)
    p.add_argument("--calls", type=int, default=250, help="calls per line")
    p.add_argument("--alerts", type=int, default=1, help="live alerts per call")
    p.add_argument("--store", action="store_true",
                   help="also what receipts cost: --calls per line (one alert each) into a store process, "
                        "receipts off and on")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callqa-mqtt-bench-") as tmp, contextlib.ExitStack() as stack:
        url = (stack.enter_context(Broker(Path(tmp) / "broker", extra_conf=BROKER_QUEUES)).url
               if args.spawn_broker else args.broker)
        r = mqtt_load_run(url, Path(tmp), args.lines, synthetic_calls(args.calls, args.alerts))
        receipts = (receipt_runs(url, Path(tmp) / "receipts", args.lines, args.calls, RECEIPT_PACED_CALLS)
                    if args.store else {})
    table = Table(title=f"MQTT load: {r.lines} lines through one box, as fast as possible")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in r.to_dict().items():
        table.add_row(k, str(v))
    Console().print(table)
    if receipts:
        costs = Table(title="What receipts cost: one box into a store process")
        for col in ("measure", "value", "unit", "note"):
            costs.add_column(col)
        for m in receipt_measures(receipts, args.lines):
            costs.add_row(m.stage, f"{m.value:.1f}", m.unit, m.note)
        Console().print(costs)
    delivered = all(burst.ok and paced.ok for burst, paced in receipts.values())
    return 0 if r.lost == 0 and r.out_of_order_lines == 0 and r.invalid == 0 and delivered else 1


if __name__ == "__main__":
    raise SystemExit(main())
