"""MQTT load run: N lines' worth of scores and live alerts pushed through one box as fast as
possible, received by a central-QA subscriber; reports losses, order, throughput and delay.

Two loads: `callqa bench` (section `bench_section`) replays generated call WAVs through the
real pipeline, one LinePipeline per line with the replay source running as fast as possible,
into an MqttSink and a Mosquitto it starts on a loopback port; `python3 -m callqa_lab.bench_mqtt`
pushes generated CallScores and Alerts (edge/mqtt/synthetic.py) for a heavier message load.
End-to-end delay is receipt time minus the envelope's `created` (the moment the sink took the
message), both on this machine's clock.

    python3 -m callqa_lab.bench_mqtt --broker mqtt://127.0.0.1:1883   # or --spawn-broker
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
from callqa_contract.topics import Topics

BENCH_LINES = 8
BENCH_CALLS = 8  # generated calls each line replays
BROKER_QUEUES = "max_queued_messages 200000\nmax_inflight_messages 100\n"  # like the shipped site example


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


def _box_config(broker_url: str, workdir: Path, line_names: list[str]):
    return parse_config({
        "box": {"site": "bench", "group": "g1", "id": f"bench-{uuid.uuid4().hex[:6]}", "state_dir": str(workdir)},
        "lines": [{"name": n, "source": "replay", "path": str(workdir)} for n in line_names],
        "mqtt": {"enabled": True, "url": broker_url, "reconnect_min_s": 1, "reconnect_max_s": 2},
    })


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

    sent: dict[str, tuple[int, int]] = {}

    def run_line(line: str) -> None:
        sent[line] = produce(sink, cfg, line)

    t0 = time.time()
    producers = [threading.Thread(target=run_line, args=(n,)) for n in line_names]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    scores_sent = sum(s for s, _ in sent.values())
    alerts_sent = sum(a for _, a in sent.values())
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


def synthetic_calls(calls_per_line: int, alerts_per_call: int):
    """Producer for mqtt_load_run: generated CallScores and Alerts, no audio."""
    def produce(sink: MqttSink, cfg: Config, line: str) -> tuple[int, int]:
        box = BoxId(cfg.box.site, cfg.box.group, cfg.box.id)
        for seq in range(calls_per_line):
            for n in range(alerts_per_call):
                sink.on_alert(synthetic_alert(box, line, seq, n, severity="red" if n % 2 == 0 else "amber"))
            sink.on_score(synthetic_score(box, line, seq, alerts=alerts_per_call))
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


def bench_section(ctx: BenchContext) -> list[Measure]:
    """`callqa bench`: 8 lines replay 8 generated calls each through one box into a local
    Mosquitto; losses, order, messages per second and end-to-end delay."""
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
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callqa-mqtt-bench-") as tmp, contextlib.ExitStack() as stack:
        url = (stack.enter_context(Broker(Path(tmp) / "broker", extra_conf=BROKER_QUEUES)).url
               if args.spawn_broker else args.broker)
        r = mqtt_load_run(url, Path(tmp), args.lines, synthetic_calls(args.calls, args.alerts))
    table = Table(title=f"MQTT load: {r.lines} lines through one box, as fast as possible")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in r.to_dict().items():
        table.add_row(k, str(v))
    Console().print(table)
    return 0 if r.lost == 0 and r.out_of_order_lines == 0 and r.invalid == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
